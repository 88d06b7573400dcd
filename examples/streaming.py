"""Read a large result without holding it all in memory, and without losing the connection.

- stream_rows(): an unbuffered (server-side) cursor yields rows as they arrive.
  While you hold it, the server waits to send the rest, for at most
  net_write_timeout seconds (60 by default): a consumer slower than that gets
  2013 "Lost connection to MySQL server during query". Keep up, or raise
  net_write_timeout for that session.
- stream_with_sqlalchemy(): the same through SQLAlchemy (stream_results, yield_per).

Run: python examples/streaming.py  (connection settings: MYSQL_* environment variables)
"""

import os
import sys

import pymysql
import sqlalchemy as sa

# From MYSQL_* variables; the defaults are this project's local-only lab server. In your
# own code, take the password from your secrets, never from a default in the source.
DB = dict(
    host=os.environ.get("MYSQL_HOST", "127.0.0.1"),
    port=int(os.environ.get("MYSQL_PORT", "3307")),
    user=os.environ.get("MYSQL_USER", "app"),
    password=os.environ.get("MYSQL_PASSWORD", "app-local-only"),
    database=os.environ.get("MYSQL_DATABASE", "demo"),
)


def stream_rows(conn, sql, params=None, net_write_timeout=None):
    """Yield the rows of `sql` one at a time from an unbuffered cursor.

    While the stream is open, the connection can run nothing else (PyMySQL would first
    read and throw away the rest of the result, mysqlclient says 2014 "Commands out of
    sync"): use another connection for other queries. Stopping early reads the rest
    too: the server sends the whole result, whoever reads it."""
    previous = None
    if net_write_timeout is not None:  # for a consumer that is slow on purpose
        with conn.cursor() as cur:
            cur.execute("SELECT @@SESSION.net_write_timeout")
            (previous,) = cur.fetchone()
            cur.execute("SET SESSION net_write_timeout = %s", (net_write_timeout,))
    cur = conn.cursor(pymysql.cursors.SSCursor)
    try:
        cur.execute(sql, params)
        yield from cur
    finally:
        if conn.open:
            cur.close()  # reads and discards whatever is left of the result
            if previous is not None:  # give a pooled connection back as it came
                with conn.cursor() as restore:
                    restore.execute("SET SESSION net_write_timeout = %s", (previous,))
        else:
            # PyMySQL 1.2 bug: once the connection is lost, SSCursor.close() and the
            # result's __del__ still try to read the rest of the result from the closed
            # socket: close() raises AttributeError, which would hide the 2013 (hence no
            # `with conn.cursor(SSCursor)`), and the garbage collector prints it later.
            # Mark the result finished and detach the cursor, so that neither happens.
            if cur._result is not None:
                cur._result.unbuffered_active = False
            cur.connection = None


def stream_with_sqlalchemy(engine, sql, params=None, batch=1000):
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=batch).execute(sa.text(sql), params or {})
        yield from result


def net_write_timeout(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT @@SESSION.net_write_timeout")
        return cur.fetchone()[0]


def main():
    with pymysql.connect(**DB) as conn:
        before = net_write_timeout(conn)
        totals = [row[1] for row in stream_rows(conn, "SELECT id, total FROM orders ORDER BY id",
                                                net_write_timeout=before + 60)]
        assert net_write_timeout(conn) == before  # the session's setting is back
        rows = stream_rows(conn, "SELECT id FROM orders ORDER BY id")
        first = next(rows)
        rows.close()  # stop early: the rest is read and thrown away, and the connection is free again
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM orders")
            count = cur.fetchone()[0]
    print("streamed totals:", totals, "- stopped after", first, "then counted", count, "orders")
    assert len(totals) == count
    url = sa.URL.create("mysql+pymysql", username=DB["user"], password=DB["password"],
                        host=DB["host"], port=DB["port"], database=DB["database"])
    engine = sa.create_engine(url)
    try:
        streamed = len(list(stream_with_sqlalchemy(engine, "SELECT id FROM orders")))
        print("streamed with SQLAlchemy:", streamed, "rows")
        assert streamed == count
    finally:
        engine.dispose()


if __name__ == "__main__":
    try:
        main()
    except pymysql.err.OperationalError as exc:
        if exc.args[0] == 2003:  # nothing answers at host:port
            sys.exit(f"error: no MySQL server at {DB['host']}:{DB['port']}: start one with `make db`")
        raise
