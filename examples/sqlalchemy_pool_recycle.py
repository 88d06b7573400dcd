"""A SQLAlchemy engine whose pool replaces idle connections before wait_timeout closes
them, and tests each connection at checkout.

- pool_recycle: replace a connection older than this many seconds at checkout.
  Keep it below the smallest idle timeout on the path: the server's wait_timeout
  (a common hosting setup: 300 s -> 280), and any NAT gateway, firewall, load
  balancer or proxy in between (often a few minutes).
- pool_pre_ping: test each connection at checkout (one round trip) and replace a
  dead one: covers a server restart, a KILL, a failover, which recycle cannot.
  A connection can still die between the ping and the query: retry whole
  transactions (reconnect_wrapper.run_transaction).

Neither helps a connection you hold across a long pause: keep sessions short.

Run: python examples/sqlalchemy_pool_recycle.py  (connection settings: MYSQL_* environment variables)
"""

import os
import sys

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

engine = sa.create_engine(URL, pool_recycle=280, pool_pre_ping=True)


def order_count():
    with engine.connect() as conn:  # checkout: recycled or pinged here; returned on exit
        return conn.execute(sa.text("SELECT COUNT(*) FROM orders")).scalar_one()


def session_id():
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT CONNECTION_ID()")).scalar_one()


def main():
    try:
        print("orders:", order_count())
        first = session_id()  # now idle in the pool
        admin = sa.create_engine(URL, poolclass=sa.pool.NullPool)  # a connection outside the pool
        with admin.connect() as other:
            other.execute(sa.text(f"KILL {int(first)}"))  # an account may kill its own connections
        admin.dispose()
        print("after KILL of the pooled connection, orders:", order_count(), "- on a new session:",
              session_id() != first)
        assert session_id() != first  # pool_pre_ping found it dead at checkout and replaced it
    finally:
        engine.dispose()


if __name__ == "__main__":
    try:
        main()
    except sa.exc.OperationalError as exc:
        if exc.orig.args[0] == 2003:  # nothing answers at host:port
            sys.exit(f"error: no MySQL server at {URL.host}:{URL.port}: start one with `make db`")
        raise
