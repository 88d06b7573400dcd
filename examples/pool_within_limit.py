"""Size a SQLAlchemy pool so that all your processes together stay under the account's limit.

Every process (gunicorn or uwsgi worker, Celery worker, cron job) has its own pool,
and each pool may open pool_size + max_overflow connections (5 + 10 by default):

    processes x (pool_size + max_overflow) <= the account's max_user_connections

Run: python examples/pool_within_limit.py  (connection settings: MYSQL_* environment variables)
"""

import os
import sys
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa

# From MYSQL_* variables; the defaults are this project's local-only lab server. In your
# own code, take the password from your secrets, never from a default in the source.
URL = sa.URL.create(
    "mysql+pymysql",
    host=os.environ.get("MYSQL_HOST", "127.0.0.1"),
    port=int(os.environ.get("MYSQL_PORT", "3307")),
    username=os.environ.get("MYSQL_USER", "app"),
    password=os.environ.get("MYSQL_PASSWORD", "app-local-only"),
    database=os.environ.get("MYSQL_DATABASE", "demo"),
)


def engine_within_limit(url, account_limit, processes, spare=1, pool_timeout=30, pool_recycle=280):
    """An engine whose pool, times `processes`, never opens more than `account_limit - spare`
    (the spare: for migrations, and for you to look at the server with). A checkout that
    waits longer than pool_timeout raises sqlalchemy.exc.TimeoutError."""
    per_process = (account_limit - spare) // processes
    if per_process < 1:
        raise ValueError(f"{processes} processes cannot share {account_limit - spare} connections")
    return sa.create_engine(
        url,
        pool_size=per_process,
        max_overflow=0,  # no connections beyond pool_size, ever
        pool_timeout=pool_timeout,  # a busy moment waits for a free connection instead of failing
        pool_recycle=pool_recycle,  # below wait_timeout and any idle timeout on the way (see 2006)
        pool_pre_ping=True,
    )


def order_total(engine, order_id):
    with engine.connect() as conn:  # returns the connection to the pool on exit
        return conn.execute(sa.text("SELECT total FROM orders WHERE id = :id"), {"id": order_id}).scalar_one()


def main():
    # e.g. an account limited to 10 connections, shared by 4 worker processes, 2 kept spare
    engine = engine_within_limit(URL, account_limit=10, processes=4, spare=2)
    try:
        with ThreadPoolExecutor(max_workers=8) as threads:  # 8 threads share 2 connections
            totals = list(threads.map(lambda i: order_total(engine, i), [1, 2, 3] * 4))
        print("pool size:", engine.pool.size(), "totals:", totals)
        assert engine.pool.size() == 2 and engine.pool.checkedin() <= 2  # (10 - 2 spare) // 4 processes
    finally:
        engine.dispose()  # close the pooled connections when the process is done


if __name__ == "__main__":
    try:
        main()
    except sa.exc.OperationalError as exc:
        if exc.orig.args[0] == 2003:  # nothing answers at host:port
            sys.exit(f"error: no MySQL server at {URL.host}:{URL.port}: start one with `make db`")
        raise
