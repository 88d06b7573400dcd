"""Choose read timeouts on purpose, and retry a read only when its connection was lost.

Without a read timeout, a client waits for an answer forever. With one, it gives
up after N seconds with 2013 "Lost connection to MySQL server during query
(timed out)", but the server keeps running the query, for nobody. So:

- give the session a server-side statement limit a little shorter than the read
  timeout (MariaDB max_statement_time, MySQL max_execution_time), so that the
  server stops the work itself (1969 or 3024);
- retry a read once when its connection was lost (killed, failed over): running
  a read twice changes nothing;
- never retry a read that timed out, the server's limit or the client's own: it
  would run the same slow query again, on a server that is slow already.

Never retry a write this way (see reconnect_wrapper.py).

Run: python examples/read_timeout.py  (connection settings: MYSQL_* environment variables)
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
READ_TIMEOUT = 30  # seconds: above your slowest legitimate read, below your users' patience
SERVER_MARGIN = 2  # seconds: the server stops a statement this long before read_timeout would fire


def fetch_report(sql, params=(), attempts=2, read_timeout=READ_TIMEOUT):
    """An idempotent read on its own connection, retried once if the connection is lost
    while it runs, never when it timed out."""
    if read_timeout <= SERVER_MARGIN:
        raise ValueError(f"read_timeout must exceed SERVER_MARGIN ({SERVER_MARGIN} s)")
    for attempt in range(1, attempts + 1):
        conn = pymysql.connect(**DB, read_timeout=read_timeout)
        try:
            limit_statements(conn, read_timeout - SERVER_MARGIN)
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall()
        except pymysql.err.OperationalError as exc:
            if not lost_while_running(exc) or attempt == attempts:
                raise
        finally:
            conn.close()


def limit_statements(conn, seconds):
    """Make the server stop this session's statements after `seconds`."""
    with conn.cursor() as cur:
        if "MariaDB" in conn.get_server_info():
            cur.execute("SET SESSION max_statement_time = %s", (seconds,))  # seconds; error 1969
        else:  # MySQL: milliseconds, read-only SELECTs only; error 3024
            cur.execute("SET SESSION max_execution_time = %s", (int(seconds * 1000),))


def lost_while_running(exc):
    """2013, and not because PyMySQL's own read_timeout expired: that 2013 is raised while
    handling a socket timeout, and its message ends in "(timed out)"."""
    return exc.args[0] == 2013 and not isinstance(exc.__context__, TimeoutError)


def main():
    rows = fetch_report("SELECT customer, COUNT(*) FROM orders GROUP BY customer ORDER BY customer")
    print("orders per customer:", rows)
    assert sum(count for _, count in rows) > 0
    # A report slower than its limit: the server stops it and says so; nothing retries it.
    try:
        fetch_report("SELECT id, SLEEP(1) FROM orders", read_timeout=3)  # 1 s per row; stopped after 1 s
    except pymysql.err.OperationalError as exc:
        print("a slow report with read_timeout=3:", exc.args)
        assert exc.args[0] in (1969, 3024), exc.args  # MariaDB's or MySQL's statement limit
    else:
        raise AssertionError("the server ran a statement past its limit")


if __name__ == "__main__":
    try:
        main()
    except pymysql.err.OperationalError as exc:
        if exc.args[0] == 2003:  # nothing answers at host:port
            sys.exit(f"error: no MySQL server at {DB['host']}:{DB['port']}: start one with `make db`")
        raise
