"""A SQLAlchemy engine for a database behind NAT gateways, load balancers, firewalls
or proxies: each may drop a connection that carries nothing for a while, most of
them long before the server's wait_timeout (8 hours by default).

- pool_recycle below the SMALLEST idle timeout on the path, not below wait_timeout:
  an AWS NAT gateway or Network Load Balancer forgets an idle flow after 350 s, an
  Azure Load Balancer after 4 minutes by default.
- pool_pre_ping: a ping at checkout, for what recycling cannot foresee (a reset, a
  failover). It needs a read timeout: a ping down a silently dropped connection
  waits as long as a query does.
- read_timeout / write_timeout: a dropped connection never answers, and never
  refuses. Without them a query waits for the operating system to give up
  (about 15 minutes on Linux). Keep read_timeout above your slowest legitimate query.

Run: python examples/network_engine.py  (connection settings: MYSQL_* environment variables)
"""

import os
import sys

import sqlalchemy as sa

URL = sa.URL.create(
    "mysql+pymysql",
    host=os.environ.get("MYSQL_HOST", "127.0.0.1"),
    port=int(os.environ.get("MYSQL_PORT", "3307")),
    username=os.environ.get("MYSQL_USER", "app"),
    password=os.environ.get("MYSQL_PASSWORD", "app-local-only"),
    database=os.environ.get("MYSQL_DATABASE", "demo"),
)


def pool_recycle_for(idle_timeouts):
    """80 % of the smallest idle timeout on the path: `idle_timeouts` maps each device
    (and the server's wait_timeout) to its idle timeout in seconds."""
    return min(idle_timeouts.values()) * 0.8


def engine_for_path(url, idle_timeouts, read_timeout=60, write_timeout=60):
    """An engine whose connections are replaced before the first device on the path drops them."""
    return sa.create_engine(
        url,
        pool_recycle=pool_recycle_for(idle_timeouts),
        pool_pre_ping=True,
        connect_args={"read_timeout": read_timeout, "write_timeout": write_timeout},  # PyMySQL, mysqlclient
    )


def server_wait_timeout(url):
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT @@session.wait_timeout")).scalar_one()
    finally:
        engine.dispose()


def main():
    path = {"server wait_timeout": server_wait_timeout(URL), "AWS NAT gateway": 350}
    assert pool_recycle_for(path) == 280  # below the NAT gateway's 350 s, not the server's 8 hours
    engine = engine_for_path(URL, path)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        print("idle timeouts on the path:", path, "-> pool_recycle =", pool_recycle_for(path))
    finally:
        engine.dispose()


if __name__ == "__main__":
    try:
        main()
    except sa.exc.OperationalError as exc:
        if exc.orig.args[0] == 2003:  # nothing answers at host:port
            sys.exit(f"error: no MySQL server at {URL.host}:{URL.port}: start one with `make db`")
        raise
