"""Nothing the lab starts outlives it unnoticed, nothing is stopped under another user of
it, and messages say exactly what happened. Each test runs in a copy of the checkout
(its own .state, registry and temp dirs) on a free port, and ends by checking what is
left: processes, data directories, records, the port."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pymysql
import pytest

import dbconn
from dbconn import server
from dbconn.server import free_port
from fault_tools import Checkout, answers, children_named, one_line, wait_for


@pytest.fixture
def checkout(tmp_path):
    copy = Checkout(tmp_path / "checkout")
    yield copy
    copy.stop_everything()


def nothing_left(copy: Checkout, port: int | None = None) -> None:
    assert copy.processes() == []
    assert copy.data_dirs() == [] and copy.temp_dirs() == []
    if port is not None:
        assert not answers(port)


def private_server_owner(copy: Checkout) -> subprocess.Popen:
    """A process of the copy that starts a private server, prints its port, and waits."""
    return copy.python("import time\nfrom dbconn import server\nwith server.private_server() as private:\n"
                       "    print(private.port, flush=True)\n    time.sleep(600)")


# --------------------------------------------------------------------------- lies


def test_a_stale_record_whose_pid_was_reused_is_not_stopped(checkout):
    port = free_port()
    bystander = subprocess.Popen(["sleep", "600"])  # the program that now has the recorded pid
    try:
        record = {"key": f"server-{port}", "kind": "server", "pid": bystander.pid, "pid_start": 1, "port": port,
                  "home": str(checkout.path / ".state" / f"mariadb-{port}"), "owner": None, "keep": True,
                  "what": f"the throwaway server on 127.0.0.1:{port}"}
        (checkout.state / "run").mkdir(parents=True)
        (checkout.state / "run" / f"server-{port}.json").write_text(json.dumps(record))
        result = checkout.run("db", "down", MYSQL_PORT=port)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"The throwaway server on 127.0.0.1:{port} (pid {bystander.pid}) was no longer running."
        assert bystander.poll() is None  # not signalled
        assert checkout.records() == []
    finally:
        bystander.kill()
        bystander.wait()


def test_down_says_when_nothing_was_stopped(checkout):
    port = free_port()
    result = checkout.run("db", "down", MYSQL_PORT=port)
    assert result.stdout.strip() == f"No server started by this checkout runs on port {port}; nothing stopped."


# --------------------------------------------------------------------------- leftovers


@pytest.mark.parametrize("how", ["db-stop", "clean"])
def test_a_corrupted_record_does_not_orphan_the_server(checkout, how):
    port = free_port()
    started = checkout.run("db", "up", MYSQL_PORT=port)
    assert started.returncode == 0, started.stderr
    [record] = checkout.records()
    record.write_text('{"kind": "serv')  # a disk that filled up, an editor
    if how == "db-stop":
        result = checkout.run("db", "down", MYSQL_PORT=port)
        assert f"Stopped the throwaway server on port {port} (pid " in result.stdout
        assert "found by its data directory: it had no readable record." in result.stdout
        assert f"Removed the unreadable record {record}." in result.stdout
    else:
        result = subprocess.run([sys.executable, "dbconn/registry.py", "clean"], cwd=checkout.path,
                                capture_output=True, text=True, timeout=120)
        assert "found by its command line (it had no record)" in result.stdout
        assert not checkout.state.exists()
    assert result.returncode == 0, result.stderr
    nothing_left(checkout, port)
    assert checkout.records() == []


@pytest.mark.parametrize("how", [("db", "down"), ("db", "up"), "clean"])
def test_the_private_server_of_a_killed_owner_is_found_and_stopped(checkout, how):
    owner = private_server_owner(checkout)
    port = int(owner.stdout.readline())
    assert answers(port)
    owner.kill()  # SIGKILL: no clean-up of its own
    owner.wait()
    assert answers(port)  # still running: an orphan
    lab_port = free_port()
    if how == "clean":
        result = subprocess.run([sys.executable, "dbconn/registry.py", "clean"], cwd=checkout.path,
                                capture_output=True, text=True, timeout=120)
        expected = f"Stopped the private server on 127.0.0.1:{port} (pid "
    else:
        result = checkout.run(*how, MYSQL_PORT=lab_port)
        expected = (f"Stopped the private server on 127.0.0.1:{port} (pid ")
        assert f"removed its files: its owner (pid {owner.pid}) had exited." in result.stdout
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout
    if how == ("db", "up"):
        checkout.run("db", "down", MYSQL_PORT=lab_port)
    nothing_left(checkout, port)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_an_interrupted_start_leaves_no_data_dir(checkout, sig):
    port = free_port()
    starting = checkout.start("db", "up", MYSQL_PORT=port)
    # Interrupted while the data directory is being made (mariadb-install-db runs), as Ctrl-C does: the group.
    wait_for(lambda: children_named(starting.pid, ("mariadb-install-db", "mysql_install_db", "mariadbd")),
             what="the start to be under way")
    os.killpg(starting.pid, sig)
    out, err = starting.communicate(timeout=60)
    if sig == signal.SIGINT:
        assert starting.returncode == 130
        assert one_line(subprocess.CompletedProcess([], 130, out, err)) == "error: interrupted"
    else:  # killed: nothing could clean up; the next command does
        after = checkout.run("db", "down", MYSQL_PORT=port)
        assert after.returncode == 0, after.stderr
    nothing_left(checkout, port)
    assert checkout.records() == []


def test_an_interrupted_private_server_start_leaves_no_data_dir(checkout):
    owner = checkout.python("from dbconn import server\nwith server.private_server():\n    pass")
    wait_for(lambda: children_named(owner.pid, ("mariadb-install-db", "mysql_install_db", "mariadbd")),
             what="the private server's start to be under way")
    os.killpg(owner.pid, signal.SIGINT)
    _, err = owner.communicate(timeout=60)
    assert "KeyboardInterrupt" in err
    nothing_left(checkout)
    assert checkout.records() == []


def test_clean_never_deletes_state_under_a_running_server(checkout):
    port = free_port()
    starting = checkout.start("db", "up", MYSQL_PORT=port)
    wait_for(lambda: children_named(starting.pid, ("mariadb-install-db", "mysql_install_db", "mariadbd")),
             what="the start to be under way")
    cleaning = subprocess.run([sys.executable, "dbconn/registry.py", "clean"], cwd=checkout.path,
                              capture_output=True, text=True, timeout=120)
    starting.communicate(timeout=60)
    assert cleaning.returncode == 0, cleaning.stderr
    # clean waited for the start to finish, then stopped what it started.
    assert starting.returncode == 0
    assert f"Stopped the throwaway server on 127.0.0.1:{port} (pid " in cleaning.stdout
    nothing_left(checkout, port)
    assert not checkout.state.exists()


# --------------------------------------------------------------------------- sharing


def test_two_checkouts_starting_on_one_port_at_the_same_instant(tmp_path):
    first, second = Checkout(tmp_path / "first"), Checkout(tmp_path / "second")
    port = free_port()
    try:
        racing = [first.start("db", "up", MYSQL_PORT=port), second.start("db", "up", MYSQL_PORT=port)]
        results = [(p, *p.communicate(timeout=120)) for p in racing]
        winners = [r for r in results if r[0].returncode == 0]
        losers = [r for r in results if r[0].returncode != 0]
        assert len(winners) == 1 and len(losers) == 1, results
        loser, _, err = losers[0]
        assert loser.returncode == 2
        line = one_line(subprocess.CompletedProcess([], 2, "", err))
        assert line.startswith(f"error: Port {port} is used by the lab server of another checkout (pid ")
        assert "use another port here, e.g. MYSQL_PORT=" in line
        lost = first if loser is racing[0] else second
        nothing_left(lost)
        assert lost.records() == []
        won = second if lost is first else first
        assert "Stopped the throwaway server" in won.run("db", "down", MYSQL_PORT=port).stdout
        nothing_left(won, port)
    finally:
        first.stop_everything()
        second.stop_everything()


def test_a_second_checkout_is_refused_and_cannot_stop_the_first_ones_server(tmp_path):
    first, second = Checkout(tmp_path / "first"), Checkout(tmp_path / "second")
    port = free_port()
    try:
        assert first.run("db", "up", MYSQL_PORT=port).returncode == 0
        result = second.run("db", "run", "--", "true", MYSQL_PORT=port)
        assert result.returncode == 2 and "MYSQL_PORT=" in one_line(result)
        down = second.run("db", "down", MYSQL_PORT=port)
        assert "nothing stopped" in down.stdout
        assert "answers" in first.run("db", "status", MYSQL_PORT=port).stdout
    finally:
        first.stop_everything()
        second.stop_everything()


def test_commands_of_one_checkout_share_its_server_by_counting(checkout, tmp_path):
    port = free_port()
    go_first, go_second = tmp_path / "first-may-end", tmp_path / "second-may-end"
    wait_then_check = ("import pathlib, sys, time\nfrom dbconn import server\n"
                       "while not pathlib.Path(sys.argv[1]).exists(): time.sleep(0.02)\n"
                       "print('answers:', server.require(), flush=True)")
    first = checkout.start("db", "run", "--", sys.executable, "-c", wait_then_check, str(go_first), MYSQL_PORT=port)
    wait_for(lambda: answers(port), what="the first command's server")
    second = checkout.start("db", "run", "--", sys.executable, "-c", wait_then_check, str(go_second),
                            MYSQL_PORT=port)
    wait_for(lambda: len(list(checkout.state.glob(f"run/lease-{port}-*.json"))) == 2, what="the second lease")
    go_first.touch()  # the command that started the server ends first
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert out.startswith(f"Started a throwaway server at 127.0.0.1:{port}")
    assert f"Left the throwaway server on 127.0.0.1:{port} running: " in out and "still uses it." in out
    go_second.touch()
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    assert "answers: 10." in out or "answers: 8." in out  # the server was still there for it
    assert f"Stopped the throwaway server on 127.0.0.1:{port} (pid " in out
    nothing_left(checkout, port)
    assert checkout.records() == []


def test_db_stop_does_not_stop_a_server_in_use(checkout, tmp_path):
    port = free_port()
    go = tmp_path / "may-end"
    user = checkout.start("db", "run", "--", sys.executable, "-c",
                          f"import pathlib, time\nwhile not pathlib.Path({str(go)!r}).exists(): time.sleep(0.02)",
                          MYSQL_PORT=port)
    wait_for(lambda: len(list(checkout.state.glob(f"run/lease-{port}-*.json"))) == 1, what="the lease")
    wait_for(lambda: answers(port), what="the server")
    down = checkout.run("db", "down", MYSQL_PORT=port)
    assert down.stdout.startswith(f"The throwaway server on 127.0.0.1:{port} is in use by ")
    assert "it stops when that ends." in down.stdout and answers(port)
    go.touch()
    out, _ = user.communicate(timeout=120)
    assert f"Stopped the throwaway server on 127.0.0.1:{port}" in out
    nothing_left(checkout, port)


def test_a_server_left_by_a_killed_command_is_stopped_by_the_next_one(checkout):
    port = free_port()
    user = checkout.start("db", "run", "--", "sleep", "600", MYSQL_PORT=port)
    wait_for(lambda: children_named(user.pid, ("sleep",)), what="the command to run")
    os.killpg(user.pid, signal.SIGKILL)
    user.wait()
    assert answers(port)
    result = checkout.run("db", "status", MYSQL_PORT=port)  # status only looks
    assert "in use by nothing" in result.stdout
    result = checkout.run("db", "down", MYSQL_PORT=free_port())
    assert f"Stopped the throwaway server on 127.0.0.1:{port} (pid " in result.stdout
    assert "the command it was started for had exited." in result.stdout
    nothing_left(checkout, port)


# --------------------------------------------------------------------------- shared machines


def test_the_throwaway_server_has_no_passwordless_root_and_a_private_socket():
    with server.private_server() as private:
        with pytest.raises(pymysql.err.OperationalError) as refused:
            pymysql.connect(host="127.0.0.1", port=private.port, user="root", password="", connect_timeout=5)
        assert refused.value.args[0] in (1045, 1130, 1698)
        with dbconn.connect("admin", port=private.port, database=None) as conn, conn.cursor() as cur:
            cur.execute("SELECT user, host, JSON_VALUE(priv, '$.authentication_string') FROM mysql.global_priv "
                        "WHERE user NOT IN ('app', 'admin', 'limited', 'mariadb.sys')")
            accounts = cur.fetchall()
        # root (and the OS user running the lab) log in through the socket only, by OS identity.
        assert {host for _, host, _ in accounts} == {"localhost"}
        assert all(secret == "invalid" for _, _, secret in accounts), accounts
        home = private.local.home
        assert os.stat(home).st_mode & 0o777 == 0o700
        if os.geteuid() == 0:  # another user cannot reach the socket
            probe = subprocess.run(
                ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c",
                 f"import socket; socket.socket(socket.AF_UNIX).connect({str(private.local.socket)!r})"],
                capture_output=True, text=True, timeout=30)
            assert "PermissionError" in probe.stderr

