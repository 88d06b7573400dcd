"""Close every connection you open with try/finally: it runs on success, on error and on return.

Run: python examples/leak_try_finally.py  (connection settings: MYSQL_* environment variables)
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


def order_total(order_id):
    conn = pymysql.connect(**DB)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT total FROM orders WHERE id = %s", (order_id,))
            row = cur.fetchone()
        if row is None:
            raise LookupError(f"no order {order_id}")
        return row[0]
    finally:
        conn.close()  # on every path out of the function, the error path included


def connection_in(exc):
    """The connection object of the innermost frame of exc's traceback that has one."""
    frame, tb = None, exc.__traceback__
    while tb is not None:
        frame, tb = tb.tb_frame if "conn" in tb.tb_frame.f_locals else frame, tb.tb_next
    return frame.f_locals["conn"]


def main():
    print("order 1:", order_total(1))
    try:
        order_total(404)
    except LookupError as exc:
        kept = exc  # a kept exception keeps its traceback, and the frame that held the connection
    print("order 404:", kept, "- its connection, still referenced by the traceback, is open:",
          connection_in(kept).open)
    assert not connection_in(kept).open  # closed on the error path too

if __name__ == "__main__":
    try:
        main()
    except pymysql.err.OperationalError as exc:
        if exc.args[0] == 2003:  # nothing answers at host:port
            sys.exit(f"error: no MySQL server at {DB['host']}:{DB['port']}: start one with `make db`")
        raise
