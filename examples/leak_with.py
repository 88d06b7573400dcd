"""Close every connection you open with `with`: PyMySQL's connection closes itself on exit.

Run: python examples/leak_with.py  (connection settings: MYSQL_* environment variables)
"""

import contextlib
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
    # PyMySQL >= 1.0: leaving the block closes the connection (it does not commit).
    with pymysql.connect(**DB) as conn, conn.cursor() as cur:
        cur.execute("SELECT total FROM orders WHERE id = %s", (order_id,))
        row = cur.fetchone()
    if row is None:
        raise LookupError(f"no order {order_id}")
    return row[0]


def order_total_any_driver(order_id):
    # contextlib.closing works with every DB-API driver, whatever its own `with` does
    # (sqlite3's `with conn` commits and leaves the connection open).
    with contextlib.closing(pymysql.connect(**DB)) as conn, conn.cursor() as cur:
        cur.execute("SELECT total FROM orders WHERE id = %s", (order_id,))
        row = cur.fetchone()
    if row is None:
        raise LookupError(f"no order {order_id}")
    return row[0]


def main():
    print("order 1:", order_total(1))
    print("order 2:", order_total_any_driver(2))
    try:
        order_total(404)
    except LookupError as exc:
        print("order 404:", exc)

if __name__ == "__main__":
    try:
        main()
    except pymysql.err.OperationalError as exc:
        if exc.args[0] == 2003:  # nothing answers at host:port
            sys.exit(f"error: no MySQL server at {DB['host']}:{DB['port']}: start one with `make db`")
        raise
