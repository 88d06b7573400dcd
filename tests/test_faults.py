"""The fault proxy (dbconn.faults): each fault does what it claims, seen from both ends:
what the client gets (its exception, or the bytes on its socket) and what the server's
processlist shows. No fixed sleeps: every wait is on the proxy's or the server's state."""

from __future__ import annotations

import errno
import os
import socket
import struct
import subprocess
import sys
import textwrap
import time

import MySQLdb
import pymysql
import pytest

import dbconn
from dbconn import settings
from dbconn.faults import FaultProxy, FaultProxyError
from dbconn.mysql8 import INACTIVITY_MESSAGE, MYSQL8_INACTIVITY, err_packet


@pytest.fixture
def net():
    with FaultProxy(max_seconds=60) as proxy:
        yield proxy


def connect(net, **options):
    return pymysql.connect(**settings.pymysql_args(port=net.port, **options))


def select_1(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
        return cur.fetchone()[0]


def read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_passes_traffic_and_knows_each_connection_on_the_server(net):
    conn = connect(net)
    try:
        flow = net.flows[-1]
        assert select_1(conn) == 1
        assert flow.connection_id == conn.thread_id()  # read from the server's greeting as it passed
        session = flow.server_session()
        assert session is not None and session["command"] == "Sleep"
        assert flow.sent["client"] > 0 and flow.sent["server"] > 0
    finally:
        conn.close()
    assert flow.wait_server_session(present=False) is None  # COM_QUIT went through
    assert flow.wait_closed()


def test_latency_delays_each_way(net):
    conn = connect(net)
    try:
        net.set_latency(0.2)
        started = time.monotonic()
        select_1(conn)
        # A round trip crosses the proxy twice: at least 0.4 s, however fast the machine.
        assert time.monotonic() - started >= 0.4
    finally:
        conn.close()


def test_reset_reaches_both_ends(net):
    conn = connect(net)
    flow = net.flows[-1]
    assert flow.server_session() is not None
    flow.reset()
    with pytest.raises(pymysql.err.OperationalError) as caught:
        select_1(conn)
    assert caught.value.args[0] in (2006, 2013)
    assert "Connection reset by peer" in caught.value.args[1]
    assert flow.wait_server_session(present=False) is None  # the server's end was reset too
    conn.close()


def test_drop_silences_a_connection_and_neither_end_is_told(net):
    conn = connect(net, read_timeout=1)
    flow = net.flows[-1]
    flow.drop()
    with pytest.raises(pymysql.err.OperationalError) as caught:
        with conn.cursor() as cur:
            cur.execute("SELECT 'this never arrives'")
    assert caught.value.args == (2013, "Lost connection to MySQL server during query (timed out)")
    # The server never saw the query and was never told: its session waits, idle.
    session = flow.server_session()
    assert session is not None and session["command"] == "Sleep" and session["info"] is None
    net.close()
    assert flow.wait_server_session(present=False) is None


def test_drop_blocks_a_large_write_until_the_write_timeout(net):
    """The dropped client's bytes are never read: once the buffers are full, its
    sendall() blocks, and only write_timeout ends it."""
    conn = connect(net, write_timeout=1)
    flow = net.flows[-1]
    flow.drop()
    with pytest.raises(pymysql.err.OperationalError) as caught:
        with conn.cursor() as cur:
            cur.execute("SELECT LENGTH(%s)", ("x" * (32 * 1024 * 1024),))
    assert caught.value.args == (2006, "MySQL server has gone away (TimeoutError('timed out'))")
    assert flow.server_session()["info"] is None

def test_cut_after_delivers_exactly_that_many_bytes_then_resets(net):
    conn = connect(net)
    flow = net.flows[-1]
    flow.cut_after(10_000)
    with pytest.raises(pymysql.err.OperationalError) as caught:
        with conn.cursor() as cur:
            cur.execute("SELECT REPEAT('x', 1000) FROM information_schema.collations")
            cur.fetchall()
    assert caught.value.args[0] == 2013
    assert flow.wait_closed()
    assert flow.sent_since_cut == 10_000
    assert flow.wait_server_session(present=False) is None
    conn.close()


def test_idle_forget_answers_the_next_packet_with_a_reset_while_the_server_still_waits(net):
    conn = connect(net)
    flow = net.flows[-1]
    net.idle_timeout(0.5, "forget")
    assert net.wait(lambda: flow.state == "forgotten")
    with pytest.raises(pymysql.err.OperationalError) as caught:
        select_1(conn)
    assert caught.value.args[0] in (2006, 2013) and "Connection reset by peer" in caught.value.args[1]
    # The server was not told: its session lingers (until wait_timeout, or here the proxy's close).
    assert flow.server_session() is not None
    net.close()
    assert flow.wait_server_session(present=False) is None
    conn.close()


def test_idle_reset_resets_both_ends_at_the_timeout(net):
    conn = connect(net)
    flow = net.flows[-1]
    net.idle_timeout(0.5, "reset")
    assert flow.wait_closed()
    assert flow.wait_server_session(present=False) is None
    with pytest.raises(pymysql.err.OperationalError):
        select_1(conn)
    conn.close()


def test_err_packet_is_laid_out_as_the_protocol_documents():
    packet = err_packet(4031, "HY000", "bye", sequence=0)
    # 3-byte payload length, sequence number 0, 0xFF, code 4031 = 0x0FBF little-endian, '#', SQLSTATE.
    assert packet == b"\x0c\x00\x00\x00" + b"\xff\xbf\x0f" + b"#HY000" + b"bye"
    length, sequence = struct.unpack("<I", MYSQL8_INACTIVITY[:3] + b"\0")[0], MYSQL8_INACTIVITY[3]
    assert sequence == 0 and length == len(MYSQL8_INACTIVITY) - 4
    assert MYSQL8_INACTIVITY.endswith(INACTIVITY_MESSAGE.encode())


def test_mysql8_idle_sends_the_err_packet_then_closes(net):
    """A raw client: after the server's greeting it says nothing, so the server waits
    for it, and MySQL 8's wait_timeout runs. It receives the greeting, then exactly
    MySQL 8's ERR packet, then the end of the stream."""
    net.idle_timeout(0.5, "mysql8")
    with socket.create_connection(("127.0.0.1", net.port), timeout=10) as raw:
        received = read_until_closed(raw)
    flow = net.flows[-1]
    greeting_length = struct.unpack("<I", received[:3] + b"\0")[0] + 4
    assert received[4] == 10  # the server's greeting: protocol version 10
    assert received[greeting_length:] == MYSQL8_INACTIVITY
    assert flow.wait_server_session(present=False) is None


def test_mysql8_idle_is_parsed_by_a_real_client_library(net):
    """libmariadb (under mysqlclient) reads the replayed packet as the error it is."""
    net.idle_timeout(0.5, "mysql8")
    conn = MySQLdb.connect(**settings.pymysql_args(port=net.port))
    try:
        assert net.flows[-1].wait_closed()
        with pytest.raises(MySQLdb.OperationalError) as caught:
            conn.cursor().execute("SELECT 1")
        assert caught.value.args == (4031, INACTIVITY_MESSAGE)
    finally:
        conn.close()


def test_mysql8_idle_clock_waits_while_the_server_works(net):
    """MySQL's wait_timeout runs only while the server waits for a command: a query
    that takes longer than the timeout is not cut."""
    conn = connect(net)
    try:
        net.idle_timeout(0.5, "mysql8")
        with conn.cursor() as cur:
            cur.execute("SELECT SLEEP(1)")
            assert cur.fetchone()[0] == 0
    finally:
        conn.close()


def test_refuse_then_accept(net):
    count = len(net.flows)
    net.refuse()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", net.port), timeout=2)
    assert len(net.flows) == count  # nothing reached the proxy, nor the server
    net.accept()
    conn = connect(net)
    assert select_1(conn) == 1
    conn.close()


def test_new_connection_modes_in_any_order(net):
    """Each change lands in the state it names, whatever came before it."""
    for mode in ("refuse", "refuse", "blackhole", "refuse", "blackhole", "blackhole", "stall", "refuse", "cut",
                 "accept"):
        getattr(net, mode)()
        assert net.new_connections == mode
        if mode == "refuse":
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", net.port), timeout=2)
        elif mode == "blackhole":
            with pytest.raises(TimeoutError):
                socket.create_connection(("127.0.0.1", net.port), timeout=0.3)
    conn = connect(net)
    assert select_1(conn) == 1
    conn.close()

def test_blackhole_leaves_a_connect_unanswered_until_its_timeout(net):
    net.blackhole()
    with pytest.raises(TimeoutError):
        socket.create_connection(("127.0.0.1", net.port), timeout=0.5)
    assert net.flows == []
    net.accept()
    conn = connect(net)
    assert select_1(conn) == 1
    conn.close()


def test_stall_accepts_but_the_greeting_never_comes(net):
    net.stall()
    with socket.create_connection(("127.0.0.1", net.port), timeout=2) as raw:
        raw.settimeout(0.5)
        with pytest.raises(TimeoutError):
            raw.recv(1)
    flow = net.flows[-1]
    assert flow.server_port is None  # the server was never contacted
    assert flow.wait_closed()


def test_cut_closes_before_the_greeting(net):
    net.cut()
    with socket.create_connection(("127.0.0.1", net.port), timeout=2) as raw:
        assert read_until_closed(raw) == b""
    assert net.flows[-1].server_port is None


def test_a_server_that_does_not_answer_closes_the_client():
    from dbconn.server import free_port

    with FaultProxy(upstream_port=free_port()) as net:
        with socket.create_connection(("127.0.0.1", net.port), timeout=2) as raw:
            assert read_until_closed(raw) == b""
        assert "the server does not answer" in net.log()[-1]


def test_the_proxy_closes_itself_after_max_seconds():
    with FaultProxy(max_seconds=0.5) as net:
        conn = connect(net)
        flow = net.flows[-1]
        assert flow.wait_closed()
        assert flow.wait_server_session(present=False) is None
        assert any("closing itself after max_seconds" in line for line in net.log())
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", net.port), timeout=2)
        conn.close()


def test_close_ends_every_connection_and_the_port(net):
    conns = [connect(net) for _ in range(3)]
    flows = list(net.flows)
    net.close()
    for flow in flows:
        assert flow.state == "closed"
        assert flow.wait_server_session(present=False) is None
    with pytest.raises(OSError) as caught:
        socket.create_connection(("127.0.0.1", net.port), timeout=2)
    assert caught.value.errno == errno.ECONNREFUSED
    for conn in conns:
        conn.close()


def test_bad_requests_say_what_to_do(net):
    with pytest.raises(FaultProxyError, match="unknown idle action 'sleep': use one of drop, "):
        net.idle_timeout(1, "sleep")
    conn = connect(net)
    with pytest.raises(FaultProxyError, match="how must be 'rst' or 'fin'"):
        net.flows[-1].cut_after(10, "boom")
    conn.close()
    net.close()
    with pytest.raises(FaultProxyError, match="this proxy is closed: start a new one"):
        net.refuse()


# --- MySQL 8's caching_sha2_password, replayed in front of the lab's server ------------------

@pytest.fixture
def replay(net):
    """The replay stands in for MySQL 8 in front of MariaDB; in front of a real MySQL 8 it steps aside."""
    if "MariaDB" not in dbconn.require():
        pytest.skip("the server is MySQL: it does caching_sha2_password itself")
    return net


def current_user(conn) -> str:
    cur = conn.cursor()
    cur.execute("SELECT CURRENT_USER()")
    user = cur.fetchone()[0]
    cur.close()
    return user


@pytest.mark.parametrize("cached", [True, False], ids=["fast", "full"])
def test_caching_sha2_lets_pymysql_and_libmariadb_through_to_the_real_server(replay, cached):
    replay.caching_sha2(cached=cached)
    for connect_with in (pymysql.connect, MySQLdb.connect):
        conn = connect_with(**settings.pymysql_args(port=replay.port))
        try:
            assert current_user(conn).startswith(settings.APP.user + "@")
        finally:
            conn.close()
    exchanged = "\n".join(replay.log())
    if cached:
        assert "fast_auth_success" in exchanged and "public key" not in exchanged
    else:
        assert exchanged.count("client: request the server's public key") == 2
        assert exchanged.count("client: its password, encrypted with the server's public key") == 2


def test_caching_sha2_full_authentication_checks_the_password(replay):
    replay.caching_sha2(cached=False)
    with pytest.raises(pymysql.err.OperationalError) as caught:
        pymysql.connect(**settings.pymysql_args(port=replay.port, password="wrong"))
    assert caught.value.args == (1045, "Access denied for user 'app'@'127.0.0.1' (using password: YES)")
    assert replay.flows[-1].wait_server_session(present=False) is None  # closed before the real server let it in


def run_child(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **env})


def test_pymysql_without_cryptography_cannot_do_full_authentication(replay):
    replay.caching_sha2(cached=False)
    child = run_child(f"""
        import sys
        sys.modules["cryptography"] = None  # `import cryptography` fails, as when it is not installed
        import pymysql
        pymysql.connect(host="127.0.0.1", port={replay.port}, user="app", password="app-local-only")
    """)
    assert child.stderr.strip().splitlines()[-1] == (
        "RuntimeError: 'cryptography' package is required for sha256_password or caching_sha2_password auth methods")


def test_libmariadb_without_its_plugin_cannot_switch_to_caching_sha2(replay, tmp_path):
    replay.caching_sha2(cached=False)
    child = run_child(f"""
        import MySQLdb
        MySQLdb.connect(host="127.0.0.1", port={replay.port}, user="app", password="app-local-only")
    """, MARIADB_PLUGIN_DIR=str(tmp_path))
    assert child.stderr.strip().splitlines()[-1].startswith(
        "MySQLdb.OperationalError: (1045, 'Plugin caching_sha2_password could not be loaded: ")
