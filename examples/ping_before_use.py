"""Check a long-lived connection before using it, and replace it if the server dropped it.

PyMySQL 1.2 changed ping(): it no longer reconnects by default (reconnect=False),
and ping(reconnect=True) is deprecated. mysqlclient 2.2.1 deprecated reconnect too.
Open a new connection yourself, as below.

The connection is in autocommit mode: otherwise its first SELECT opens a
transaction that nothing ends, and the worker reads one frozen snapshot for
hours while holding a lock that makes every ALTER TABLE on those tables wait.
(A unit of work that writes several rows still uses a transaction of its own:
see reconnect_wrapper.run_transaction.) One connection per thread: never share
it between threads.

Run: python examples/ping_before_use.py  (connection settings: MYSQL_* environment variables)
"""

import os
import sys

import pymysql

# From MYSQL_* variables; the defaults are this project's local-only lab server. In your
# own code, take the password from your secrets, never from a default in the source.
DB = dict(
    host=os.environ.get("MYSQL_HOST", "127.0.0.1"),
    port=int(os.environ.get("MYSQL_PORT", "3307")),
    user=os.environ.get("MYSQL_USER", "app"),
    password=os.environ.get("MYSQL_PASSWORD", "app-local-only"),
    database=os.environ.get("MYSQL_DATABASE", "demo"),
)


def connect():
    return pymysql.connect(**DB, autocommit=True)


def alive(conn):
    """`conn` if the server still answers it, else a new connection."""
    try:
        conn.ping()  # one round trip; raises if the connection is dead
        return conn
    except pymysql.err.Error:  # OperationalError 2006/2013, or Error('Already closed')
        conn.close()
        return connect()


def connection_id(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT CONNECTION_ID()")
        return cur.fetchone()[0]


def main():
    conn = connect()
    try:
        first = connection_id(conn)
        with connect() as other, other.cursor() as cur:
            cur.execute("KILL %s", (first,))  # an account may kill its own connections
        conn = alive(conn)  # e.g. at the top of each loop of a long-running worker
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM orders")
            print("orders:", cur.fetchone()[0], "on a new connection:", connection_id(conn) != first)
        assert connection_id(conn) != first and conn.get_autocommit()
    finally:
        conn.close()


if __name__ == "__main__":
    try:
        main()
    except pymysql.err.OperationalError as exc:
        if exc.args[0] == 2003:  # nothing answers at host:port
            sys.exit(f"error: no MySQL server at {DB['host']}:{DB['port']}: start one with `make db`")
        raise
