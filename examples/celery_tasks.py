"""Celery tasks on MySQL in prefork workers, through SQLAlchemy and through Django.

A prefork worker forks its pool processes from the main process: whatever connection
the main process opened, every child inherits, socket and all. And a worker process
lives for many tasks, with no request cycle: a connection idle between tasks (or
during one) outlives the server's wait_timeout ("MySQL server has gone away").

- SQLAlchemy: forget the inherited pool in each child (worker_process_init ->
  engine.dispose(close=False)); end each task's session (task_postrun -> remove()).
- Django: close_old_connections() before and after each task (task_prerun,
  task_postrun). Celery's own Django fixup, installed when DJANGO_SETTINGS_MODULE is
  set, closes every connection around each task instead (celery/fixups/django.py);
  a project configured otherwise (settings.configure()) needs these lines.

Worker: CELERY_BROKER_URL=redis://127.0.0.1:6379/0 celery --workdir examples -A celery_tasks worker
Run: python examples/celery_tasks.py  (runs each task once in this process; MYSQL_* environment variables)
"""

import os
import sys
import time

import django
import sqlalchemy as sa
from celery import Celery, signals
from django.conf import settings
from sqlalchemy.orm import scoped_session, sessionmaker

BROKER = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
app = Celery("orders", broker=BROKER, backend=BROKER)

# --- SQLAlchemy -----------------------------------------------------------------------

URL = sa.URL.create(
    "mysql+pymysql",
    host=os.environ.get("MYSQL_HOST", "127.0.0.1"),
    port=int(os.environ.get("MYSQL_PORT", "3307")),
    username=os.environ.get("MYSQL_USER", "app"),
    password=os.environ.get("MYSQL_PASSWORD", "app-local-only"),
    database=os.environ.get("MYSQL_DATABASE", "demo"),
)
engine = sa.create_engine(URL, pool_recycle=280, pool_pre_ping=True)
Session = scoped_session(sessionmaker(engine))


@signals.worker_process_init.connect
def forget_inherited_connections(**_):
    engine.dispose(close=False)  # the pool's connections stay the main process's; this child opens its own


@signals.task_postrun.connect
def end_session(**_):
    Session.remove()  # rolls back what the task left open, gives the connection back


@app.task
def where_am_i(pause_before=0.0, hold=0.0):
    """(this process, its database session): which server session the task ran on."""
    time.sleep(pause_before)
    session = Session.execute(sa.text("SELECT CONNECTION_ID()")).scalar_one()
    time.sleep(hold)  # stays busy, so that the worker hands the next task to another process
    return os.getpid(), session


# --- Django ---------------------------------------------------------------------------

settings.configure(DATABASES={"default": {
    "ENGINE": "django.db.backends.mysql",  # mysqlclient, the driver Django supports
    "HOST": URL.host, "PORT": URL.port, "USER": URL.username, "PASSWORD": URL.password, "NAME": URL.database,
    "CONN_MAX_AGE": 60,  # keep a connection between tasks, below the server's wait_timeout
    "CONN_HEALTH_CHECKS": True,  # and check it when close_old_connections() starts a task
}})
django.setup()
from django.db import close_old_connections, connection  # noqa: E402


@signals.task_prerun.connect
def close_before_task(**_):
    close_old_connections()  # what a Django request does when it starts


@signals.task_postrun.connect
def close_after_task(**_):
    close_old_connections()  # and when it ends


@app.task
def django_session(hold=0.0):
    """(this process, Django's database session)."""
    with connection.cursor() as cur:
        cur.execute("SELECT CONNECTION_ID()")
        (session,) = cur.fetchone()
    time.sleep(hold)
    return os.getpid(), session


@app.task
def django_report(steps=2, pause=0.0):
    """A long task: a query, slow work without the database (an API call), the next query.
    The hooks above run between tasks only: inside one, do what they do between steps."""
    sessions = []
    for step in range(steps):
        if step:
            time.sleep(pause)
            close_old_connections()  # the connection may have idled out during the pause
        with connection.cursor() as cur:
            cur.execute("SELECT CONNECTION_ID()")
            sessions.append(cur.fetchone()[0])
    return sessions


def main():
    # apply(): each task once, here, through Celery's task machinery and signals; no broker needed.
    pid, session = where_am_i.apply().get()
    django_pid, django_sess = django_session.apply().get()
    sessions = django_report.apply(kwargs={"steps": 2}).get()
    assert engine.pool.checkedout() == 0, "task_postrun ended the task's session"
    print(f"SQLAlchemy: process {pid}, session {session}; Django: session {django_sess}; report: {sessions}")
    connection.close()
    engine.dispose()


if __name__ == "__main__":
    try:
        main()
    except (sa.exc.OperationalError, django.db.utils.OperationalError) as exc:
        code = exc.orig.args[0] if hasattr(exc, "orig") else exc.args[0]
        if code == 2003:  # nothing answers at host:port
            sys.exit(f"error: no MySQL server at {URL.host}:{URL.port}: start one with `make db`")
        raise
