"""mysql-connector-python's own pool never waits: when all pool_size connections are
out, get_connection() raises PoolError("Failed getting connection; pool exhausted")
at once. Give every connection back (close() returns it to the pool), and bound the
callers to pool_size with a semaphore so that a busy moment waits instead of failing.

Run: python examples/connector_pool.py  (connection settings: MYSQL_* environment variables)
"""

import contextlib
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import mysql.connector
from mysql.connector import pooling

DB = dict(
    host=os.environ.get("MYSQL_HOST", "127.0.0.1"),
    port=int(os.environ.get("MYSQL_PORT", "3307")),
    user=os.environ.get("MYSQL_USER", "app"),
    password=os.environ.get("MYSQL_PASSWORD", "app-local-only"),
    database=os.environ.get("MYSQL_DATABASE", "demo"),
    use_pure=True,  # the C extension needs OpenSSL 3.2; say which implementation runs
)


class WaitingPool:
    """A connector pool whose callers wait up to `timeout` seconds for a free connection."""

    def __init__(self, pool_size, timeout, **connect_args):
        self._pool = pooling.MySQLConnectionPool(pool_size=pool_size, **connect_args)
        self._free = threading.BoundedSemaphore(pool_size)
        self._timeout = timeout

    @contextlib.contextmanager
    def connection(self):
        if not self._free.acquire(timeout=self._timeout):
            raise TimeoutError(f"no free connection within {self._timeout} s")
        try:
            conn = self._pool.get_connection()
            try:
                yield conn
            finally:
                conn.close()  # back to the pool (a pooled connection is reset, not closed)
        finally:
            self._free.release()

    def close(self):
        """Close the pool's idle connections (the connector has no public call for it:
        this private one is what its own tests use)."""
        return self._pool._remove_connections()


def order_total(pool, order_id):
    with pool.connection() as conn:
        cur = conn.cursor()
        cur.execute("SELECT total FROM orders WHERE id = %s", (order_id,))
        (total,) = cur.fetchone()
        cur.close()
        return total


def main():
    pool = WaitingPool(pool_size=2, timeout=30, **DB)
    try:
        with ThreadPoolExecutor(max_workers=8) as threads:  # 8 threads, 2 connections: they wait their turn
            totals = list(threads.map(lambda order_id: order_total(pool, order_id), [1, 2, 3] * 8))
    finally:
        closed = pool.close()
    assert len(totals) == 24 and closed == 2, "every connection came back to the pool"
    print(f"{len(totals)} totals on 8 threads through a pool of 2, none refused")


if __name__ == "__main__":
    try:
        main()
    except mysql.connector.Error as exc:
        if exc.errno == 2003:  # nothing answers at host:port
            sys.exit(f"error: no MySQL server at {DB['host']}:{DB['port']}: start one with `make db`")
        raise
