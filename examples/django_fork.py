"""Django in processes that fork: gunicorn --preload, Celery's prefork pool, uwsgi
without lazy-apps, multiprocessing.

A forked child inherits the parent's database connection, socket and all. If the
child closes it (connections.close_all(), as tidy code does), it sends the server a
"quit" down the socket the parent shares, and the parent's next query fails (2013 or
2006). Close the parent's connections before forking: there is then nothing to
inherit, and each child opens, and may close, its own.

Run: python examples/django_fork.py  (connection settings: MYSQL_* environment variables)
"""

import multiprocessing
import os
import sys

import django
from django.conf import settings

# From MYSQL_* variables; the defaults are this project's local-only lab server. In your
# own code, take the password from your secrets, never from a default in the source.
DATABASE = {
    "ENGINE": "django.db.backends.mysql",  # on mysqlclient
    "HOST": os.environ.get("MYSQL_HOST", "127.0.0.1"),
    "PORT": int(os.environ.get("MYSQL_PORT", "3307")),
    "USER": os.environ.get("MYSQL_USER", "app"),
    "PASSWORD": os.environ.get("MYSQL_PASSWORD", "app-local-only"),
    "NAME": os.environ.get("MYSQL_DATABASE", "demo"),
}


def fork_workers(target, processes=2):
    from django.db import connections

    connections.close_all()  # before forking: nothing for the children to inherit
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        return pool.map(target, range(processes))


def session_of_a_tidy_worker(_):
    from django.db import connections

    session = session_id()
    connections.close_all()  # safe: this connection is the child's own
    return session


def session_id():
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT CONNECTION_ID()")
        return cur.fetchone()[0]


def main():
    from django.db import OperationalError, connections

    settings.configure(DATABASES={"default": DATABASE})
    django.setup()
    fork = multiprocessing.get_context("fork")

    parent = session_id()
    with fork.Pool(1) as pool:  # forked without closing first: the child inherits the connection
        child = pool.apply(session_of_a_tidy_worker, (0,))
    try:
        session_id()
    except OperationalError as exc:
        print(f"forked with the connection open: the child used session {child} (the parent's is {parent}), "
              f"and the parent's next query raised {type(exc).__name__} {exc.args}")
        assert child == parent and exc.args[0] in (2006, 2013)
    else:
        raise AssertionError("the parent's connection survived the child closing it")
    connections.close_all()  # the dead one

    parent = session_id()
    children = fork_workers(session_of_a_tidy_worker)
    print(f"closed before forking: the children used sessions {children}, the parent {session_id()}")
    assert parent not in children


if __name__ == "__main__":
    try:
        main()
    except django.db.utils.OperationalError as exc:
        if exc.args[0] in (2002, 2003):  # nothing answers at host:port (libmariadb says 2002)
            sys.exit(f"error: no MySQL server at {DATABASE['HOST']}:{DATABASE['PORT']}: start one with `make db`")
        raise
