"""Reconnect after "MySQL server has gone away", and retry only what is safe to retry.

- ReconnectingConnection.read(): reconnects and runs the query again. Safe for a
  read that is not part of a transaction: running it twice changes nothing.
- run_transaction(): on a lost connection, runs the WHOLE transaction again on a
  new connection. Retrying only the failed statement would silently drop the
  statements before it: the server rolled them back when the connection died.

Run: python examples/reconnect_wrapper.py  (connection settings: MYSQL_* environment variables)
"""

import os
import sys

import pymysql

DB = dict(
    host=os.environ.get("MYSQL_HOST", "127.0.0.1"),
    port=int(os.environ.get("MYSQL_PORT", "3307")),
    user=os.environ.get("MYSQL_USER", "app"),
    password=os.environ.get("MYSQL_PASSWORD", "app-local-only"),
    database=os.environ.get("MYSQL_DATABASE", "demo"),
)

# 2006 gone away, 2013 lost during query, 4031 closed for inactivity (MySQL 8.0.24+).
DISCONNECTED = {2006, 2013, 4031}


def is_disconnect(exc):
    if isinstance(exc, pymysql.err.InterfaceError):
        return True  # PyMySQL's InterfaceError(0, '') on a connection already found dead
    return isinstance(exc, pymysql.err.OperationalError) and exc.args[0] in DISCONNECTED


class ReconnectingConnection:
    """A connection that reconnects once when the server has dropped it. For reads only."""

    def __init__(self, **connect_args):
        self._args = connect_args
        self._conn = pymysql.connect(**connect_args)

    def read(self, sql, params=None):
        try:
            return self._fetch(sql, params)
        except (pymysql.err.OperationalError, pymysql.err.InterfaceError) as exc:
            if not is_disconnect(exc):
                raise
            self._conn.close()
            self._conn = pymysql.connect(**self._args)
            return self._fetch(sql, params)

    def _fetch(self, sql, params):
        with self._conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    def close(self):
        self._conn.close()


def run_transaction(work, attempts=2, **connect_args):
    """Run work(cursor) and commit, on a fresh connection; if the connection is lost,
    run all of it again. If it was lost during COMMIT itself, the commit may have
    happened: make the work safe to repeat (a unique key, INSERT ... ON DUPLICATE KEY)."""
    for attempt in range(1, attempts + 1):
        conn = pymysql.connect(**connect_args)
        try:
            with conn.cursor() as cur:
                result = work(cur)
            conn.commit()
            return result
        except (pymysql.err.OperationalError, pymysql.err.InterfaceError) as exc:
            if not is_disconnect(exc) or attempt == attempts:
                raise
        finally:
            conn.close()


def add_order(cur):
    cur.execute("INSERT INTO orders (id, customer, total) VALUES (%s, %s, %s)", (99, "example", 1))
    cur.execute("SELECT COUNT(*) FROM orders")
    count = cur.fetchone()[0]
    cur.execute("DELETE FROM orders WHERE id = %s", (99,))  # leave the demo table as it was
    return count


def main():
    conn = ReconnectingConnection(**DB)
    try:
        print("orders:", conn.read("SELECT COUNT(*) FROM orders"))
    finally:
        conn.close()
    print("orders inside the transaction:", run_transaction(add_order, **DB))


if __name__ == "__main__":
    try:
        main()
    except pymysql.err.OperationalError as exc:
        if exc.args[0] == 2003:  # nothing answers at host:port
            sys.exit(f"error: no MySQL server at {DB['host']}:{DB['port']}: start one with `make db`")
        raise
