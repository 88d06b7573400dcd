"""Page through a large table by key, not by OFFSET: every page costs the same.

`LIMIT n OFFSET k` makes the server read and throw away k rows for every page,
so the pages get slower as you go, and a long export becomes the query that
times out or gets killed (2013). Keyset pagination starts each page after the
last key seen, using the primary key index: page 1000 costs what page 1 costs.

Run: python examples/keyset_pagination.py  (connection settings: MYSQL_* environment variables)
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


def keyset_pages(conn, table, page_size=1000, columns=()):
    """Yield lists of rows of `table` in `id` order, page by page: `id` first, then `columns`.
    The key must be unique and indexed (a primary key is both)."""
    # Names cannot be query parameters: pass only names of your own tables and columns.
    select = ", ".join(f"`{name}`" for name in ("id", *columns))
    sql = f"SELECT {select} FROM `{table}` WHERE id > %s ORDER BY id LIMIT %s"
    last_id = 0  # below every id (use the smallest value of your key's type)
    while True:
        with conn.cursor() as cur:
            cur.execute(sql, (last_id, page_size))
            page = cur.fetchall()
        if not page:
            return
        yield page
        last_id = page[-1][0]


def keyset_pages_by(conn, table, sort_key, page_size=1000, columns=()):
    """The same, in the order of a column that is not unique (a date, a name): the pair
    (sort_key, id) is. Index it: CREATE INDEX ... ON table (sort_key, id)."""
    select = ", ".join(f"`{name}`" for name in (sort_key, "id", *columns))
    first = f"SELECT {select} FROM `{table}` ORDER BY `{sort_key}`, id LIMIT %s"
    after = f"SELECT {select} FROM `{table}` WHERE (`{sort_key}`, id) > (%s, %s) ORDER BY `{sort_key}`, id LIMIT %s"
    with conn.cursor() as cur:
        cur.execute(first, (page_size,))
        page = cur.fetchall()
    while page:
        yield page
        with conn.cursor() as cur:
            cur.execute(after, (page[-1][0], page[-1][1], page_size))
            page = cur.fetchall()


def offset_pages(conn, table, page_size=1000, columns=()):
    """For comparison only: the same pages by OFFSET, slower with every page."""
    select = ", ".join(f"`{name}`" for name in ("id", *columns))
    sql = f"SELECT {select} FROM `{table}` ORDER BY id LIMIT %s OFFSET %s"
    offset = 0
    while True:
        with conn.cursor() as cur:
            cur.execute(sql, (page_size, offset))
            page = cur.fetchall()
        if not page:
            return
        yield page
        offset += page_size


def main():
    with pymysql.connect(**DB) as conn:
        pages = list(keyset_pages(conn, "orders", page_size=2, columns=("total",)))
        assert pages == list(offset_pages(conn, "orders", page_size=2, columns=("total",)))  # the same pages
        by_customer = [row for page in keyset_pages_by(conn, "orders", "customer", page_size=2) for row in page]
        with conn.cursor() as cur:
            cur.execute("SELECT customer, id FROM orders ORDER BY customer, id")
            assert tuple(by_customer) == cur.fetchall()  # every row once, in order
    print("pages:", [[row[0] for row in page] for page in pages], "by customer:", by_customer)


if __name__ == "__main__":
    try:
        main()
    except pymysql.err.OperationalError as exc:
        if exc.args[0] == 2003:  # nothing answers at host:port
            sys.exit(f"error: no MySQL server at {DB['host']}:{DB['port']}: start one with `make db`")
        raise
