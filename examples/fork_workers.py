"""A SQLAlchemy engine in processes that fork: multiprocessing, Celery prefork,
gunicorn --preload, uwsgi without lazy-apps.

A forked child inherits the parent's pool, sockets and all: parent and child then
talk to the server over ONE connection, and when either closes it, the other's
next query fails (2013 or 2006). In the child, forget the inherited connections
without closing them, so that it opens its own.

Run: python examples/fork_workers.py  (connection settings: MYSQL_* environment variables)
"""

import multiprocessing
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

engine = sa.create_engine(URL)


def forget_inherited_connections():
    # close=False: the parent's connections stay open, for the parent.
    engine.dispose(close=False)


def connection_id(_=None):
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT CONNECTION_ID()")).scalar_one()


def main():
    parent = connection_id()
    fork = multiprocessing.get_context("fork")  # the default on Linux before Python 3.14
    with fork.Pool(2, initializer=forget_inherited_connections) as workers:
        children = set(workers.map(connection_id, range(4)))
    print(f"parent: {parent}, children: {sorted(children)}, parent again: {connection_id()}")
    assert parent not in children
    engine.dispose()


if __name__ == "__main__":
    try:
        main()
    except sa.exc.OperationalError as exc:
        if exc.orig.args[0] == 2003:  # nothing answers at host:port
            sys.exit(f"error: no MySQL server at {URL.host}:{URL.port}: start one with `make db`")
        raise
