"""A long-running Django job outside the request cycle: a management command, a cron
script, a Celery task, a thread of your own.

Inside a request, Django calls close_old_connections() when the request starts and
ends. A job that runs for hours has no requests, so nothing does that for it: a
connection left idle longer than the server's wait_timeout fails with 2006 "MySQL
server has gone away". Do what a request would do, before each unit of work.

Django's MySQL backend runs on mysqlclient (`pip install mysqlclient`), the driver
Django supports and documents ("Requires mysqlclient", django/db/backends/mysql/base.py).
PyMySQL's install_as_MySQLdb() passes Django's version check only because PyMySQL
reports a mysqlclient version it is not (pymysql/__init__.py: "Django checks
mysqlclient version"): don't rely on it in production.

Run: python examples/django_batch_job.py  (connection settings: MYSQL_* environment variables)
"""

import os
import sys
import time

import django
from django.conf import settings

# From MYSQL_* variables; the defaults are this project's local-only lab server. In your
# own code, take the password from your secrets, never from a default in the source.
DATABASE = {
    "ENGINE": "django.db.backends.mysql",
    "HOST": os.environ.get("MYSQL_HOST", "127.0.0.1"),
    "PORT": int(os.environ.get("MYSQL_PORT", "3307")),
    "USER": os.environ.get("MYSQL_USER", "app"),
    "PASSWORD": os.environ.get("MYSQL_PASSWORD", "app-local-only"),
    "NAME": os.environ.get("MYSQL_DATABASE", "demo"),
    "CONN_MAX_AGE": 60,  # keep a connection between units of work, below the server's wait_timeout
    "CONN_HEALTH_CHECKS": True,  # and check it when close_old_connections() starts a new unit
}


def process_batches(batches, pause, alias="default"):
    from django.db import close_old_connections, connections

    for batch in range(batches):
        if batch:
            pause()  # a slow API call, a queue that is empty for a while, ...
        close_old_connections()  # what every request does; outside requests, your job.
        # Between units of work only, never inside transaction.atomic(): there Django
        # closes the connection mid-transaction, and the block fails.
        with connections[alias].cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM orders")
            cur.fetchone()


def process_batches_closing(batches, pause, alias="default"):
    from django.db import connections

    for batch in range(batches):
        if batch:
            pause()
        try:
            with connections[alias].cursor() as cur:
                cur.execute("SELECT COUNT(*) FROM orders")
                cur.fetchone()
        finally:
            connections[alias].close()  # the next batch opens a fresh connection


def main():
    from django.db import OperationalError, connections

    # A second alias whose connections the server drops after 1 second idle: the pause
    # between batches outlasts it, as a real job's outlasts wait_timeout.
    short = {**DATABASE, "OPTIONS": {"init_command": "SET SESSION wait_timeout = 1"}}
    settings.configure(DATABASES={"default": DATABASE, "short": short})
    django.setup()
    pause = idle_until_dropped("short")
    process_batches(batches=2, pause=pause, alias="short")
    process_batches_closing(batches=2, pause=pause, alias="short")
    print("4 batches done, each after a pause longer than the session's wait_timeout")
    connections.close_all()
    try:  # the same job without either: its second batch finds the connection gone
        for batch in range(2):
            if batch:
                pause()
            with connections["short"].cursor() as cur:
                cur.execute("SELECT COUNT(*) FROM orders")
    except OperationalError as exc:
        print("without close_old_connections():", exc.args)
        assert exc.args[0] in (2006, 2013, 4031)
    else:
        raise AssertionError("the connection outlived wait_timeout")
    finally:
        connections.close_all()


def idle_until_dropped(alias):
    """A pause that outlasts wait_timeout, seen from the server's side (not a sleep that
    hopes so): until the processlist, where an account sees its own sessions, no longer
    shows the session the alias kept between batches."""
    from django.db import connections

    def pause():
        if connections[alias].connection is None:
            return  # nothing was kept open
        session = connections[alias].connection.thread_id()
        with connections["default"].cursor() as cur:
            while True:
                cur.execute("SELECT COUNT(*) FROM information_schema.processlist WHERE id = %s", [session])
                if cur.fetchone()[0] == 0:
                    return
                time.sleep(0.05)
    return pause


if __name__ == "__main__":
    try:
        main()
    except django.db.utils.OperationalError as exc:
        if exc.args[0] in (2002, 2003):  # nothing answers at host:port (libmariadb says 2002)
            sys.exit(f"error: no MySQL server at {DATABASE['HOST']}:{DATABASE['PORT']}: start one with `make db`")
        raise
