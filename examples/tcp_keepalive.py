"""TCP keepalive probes on an idle PyMySQL connection, every few seconds.

PyMySQL turns SO_KEEPALIVE on, but the operating system sends the first probe
after net.ipv4.tcp_keepalive_time: 7200 s on Linux by default, long after a NAT
gateway (350 s) has forgotten the connection. Set the timings on the socket.

What it can do: keep an idle connection known to devices that track packets (NAT
gateways, network load balancers, stateful firewalls: AWS documents that keepalive
packets reset their idle timers), and notice a peer that is gone while idle.
What it cannot do: keep a connection through a proxy that ends TCP itself
(ProxySQL, RDS Proxy, HAProxy): its own kernel answers the probes, and it counts
only MySQL traffic; nor end a query stuck on a dropped connection (that is
read_timeout's job); nor stop the server's wait_timeout. Prefer pool_recycle
below the smallest idle timeout (network_engine.py); add keepalive for
connections that must stay open and idle.

Run: python examples/tcp_keepalive.py  (connection settings: MYSQL_* environment variables)
"""

import os
import socket
import sys

import pymysql

DB = dict(
    host=os.environ.get("MYSQL_HOST", "127.0.0.1"),
    port=int(os.environ.get("MYSQL_PORT", "3307")),
    user=os.environ.get("MYSQL_USER", "app"),
    password=os.environ.get("MYSQL_PASSWORD", "app-local-only"),
    database=os.environ.get("MYSQL_DATABASE", "demo"),
    connect_timeout=10,
)
# Linux names the idle time TCP_KEEPIDLE; macOS names it TCP_KEEPALIVE.
KEEPIDLE = getattr(socket, "TCP_KEEPIDLE", getattr(socket, "TCP_KEEPALIVE", None))


def keepalive_socket(host, port, idle=60, interval=10, count=3, timeout=10):
    """A TCP connection that sends a probe after `idle` seconds of silence, then every
    `interval` seconds, and gives up after `count` unanswered probes."""
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, KEEPIDLE, idle)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, interval)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, count)
    return sock


def connect_with_keepalive(idle=60, interval=10, count=3, **db):
    """pymysql.connect() over a socket with keepalive timings (SQLAlchemy: creator=)."""
    try:
        sock = keepalive_socket(db["host"], db["port"], idle, interval, count, db["connect_timeout"])
    except OSError as exc:  # the error pymysql.connect() raises for the same failure
        raise pymysql.err.OperationalError(2003, f"Can't connect to MySQL server on {db['host']!r} ({exc})") from exc
    conn = pymysql.connect(**db, defer_connect=True)
    conn.connect(sock)
    return conn


def main():
    with connect_with_keepalive(idle=30, interval=5, count=3, **DB) as conn:
        sock = conn._sock  # only to show the settings: your code never needs it
        assert sock.getsockopt(socket.IPPROTO_TCP, KEEPIDLE) == 30
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
        print("keepalive: first probe after", sock.getsockopt(socket.IPPROTO_TCP, KEEPIDLE), "s idle, then every",
              sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL), "s")


if __name__ == "__main__":
    try:
        main()
    except pymysql.err.OperationalError as exc:
        if exc.args[0] == 2003:  # nothing answers at host:port
            sys.exit(f"error: no MySQL server at {DB['host']}:{DB['port']}: start one with `make db`")
        raise
