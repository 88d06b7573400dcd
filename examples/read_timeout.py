"""Choose read timeouts on purpose, and retry only reads.

Without a read timeout, a client waits for an answer forever. With one, it gives
up after N seconds with 2013 "Lost connection to MySQL server during query
(timed out)", but the server keeps running the query: pair it with a server-side
statement timeout a little shorter (MariaDB max_statement_time, MySQL
max_execution_time), so the server stops the work the client gave up on.

Retry a read that lost its connection (killed, failed over) once: running it
twice changes nothing. Never retry a write this way (see reconnect_wrapper.py).

Run: python examples/read_timeout.py  (connection settings: MYSQL_* environment variables)
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
READ_TIMEOUT = 30  # seconds: above your slowest legitimate read, below your users' patience


def fetch_report(sql, params=(), attempts=2, read_timeout=READ_TIMEOUT):
    """An idempotent read on its own connection, retried once if the connection is lost."""
    for attempt in range(1, attempts + 1):
        conn = pymysql.connect(**DB, read_timeout=read_timeout)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall()
        except pymysql.err.OperationalError as exc:
            if exc.args[0] != 2013 or attempt == attempts:
                raise
        finally:
            conn.close()


def main():
    print("orders per customer:", fetch_report("SELECT customer, COUNT(*) FROM orders GROUP BY customer"))


if __name__ == "__main__":
    try:
        main()
    except pymysql.err.OperationalError as exc:
        if exc.args[0] == 2003:  # nothing answers at host:port
            sys.exit(f"error: no MySQL server at {DB['host']}:{DB['port']}: start one with `make db`")
        raise
