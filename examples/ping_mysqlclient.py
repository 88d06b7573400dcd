"""Check a long-lived mysqlclient (MySQLdb) connection before using it, and replace it
if the server dropped it.

mysqlclient's ping() raises OperationalError (2006) on a dead connection. ping(True)
would reconnect in place, but mysqlclient 2.2.1 deprecated it (a DeprecationWarning),
and a reconnect in place silently loses the session's state (SET variables,
temporary tables, an open transaction). Open a new connection yourself, as below.
(PyMySQL: ping_before_use.py; mysql-connector-python: ping_mysql_connector.py.)

autocommit=True: a long-lived connection that reads must not keep a transaction
open between units of work (see ping_before_use.py). One connection per thread.

Run: python examples/ping_mysqlclient.py  (connection settings: MYSQL_* environment variables)
"""

import os
import sys

import MySQLdb

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
    return MySQLdb.connect(**DB, autocommit=True)


def alive(conn):
    """`conn` if the server still answers it, else a new connection."""
    try:
        conn.ping()  # one round trip; raises OperationalError if the connection is dead
        return conn
    except MySQLdb.OperationalError:
        conn.close()
        return connect()


def main():
    conn = connect()
    try:
        first = conn.thread_id()
        other = connect()
        other.cursor().execute("KILL %s", (first,))  # an account may kill its own connections
        other.close()
        conn = alive(conn)  # e.g. at the top of each loop of a long-running worker
        cur = conn.cursor()
        cur.execute("SELECT COUNT(*) FROM orders")
        print("orders:", cur.fetchone()[0], "on a new connection:", conn.thread_id() != first)
        cur.close()
        assert conn.thread_id() != first and conn.get_autocommit()
    finally:
        conn.close()


if __name__ == "__main__":
    try:
        main()
    except MySQLdb.OperationalError as exc:
        if exc.args[0] in (2002, 2003):  # nothing answers at host:port (libmariadb says 2002)
            sys.exit(f"error: no MySQL server at {DB['host']}:{DB['port']}: start one with `make db`")
        raise
