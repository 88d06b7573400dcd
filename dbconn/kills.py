"""Kills staged for certain: what an administrator, a watchdog or a failover does to a
statement while it runs, landed mid-statement however busy the machine.

A killer that polls for a short statement can miss it on a loaded machine (seen: a
0.5 s and a 1 s statement both ran to their end unkilled). So the statement sleeps 60 s
until it is killed, and only a run after the kill is short:

    with dbconn.kills.on_first_run(user) as first:
        rows = fetch(f"SELECT {first.sleep}, COUNT(*) FROM orders", first.params)
    first.session  # the session that was killed
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from dataclasses import dataclass

from . import introspect
from .connection import connect


@dataclass
class FirstRun:
    sleep: str  # a SQL expression for the statement: 60 s until the kill, 0.1 s after it
    params: tuple  # its parameters
    session: int | None = None  # the session killed, once it is


@contextlib.contextmanager
def on_first_run(user: str, what: str = "CONNECTION", timeout: float = 30.0):
    """Yields a FirstRun. The first session of `user` that runs a statement holding
    `first.sleep` is killed (`KILL CONNECTION`, or `KILL QUERY`) once the server shows it
    sleeping; the killer then holds the named lock that the expression asks about, so the
    statement run again sleeps 0.1 s. Raises, on exit, what went wrong in the killer
    (TimeoutError: no such statement ran within `timeout` seconds)."""
    if what not in ("CONNECTION", "QUERY"):
        raise ValueError(f"KILL CONNECTION or KILL QUERY, not {what!r}")
    lock = f"dbconn-first-run-{uuid.uuid4().hex[:12]}"
    first = FirstRun("SLEEP(IF(IS_FREE_LOCK(%s), 60, 0.1))", (lock,))
    finished, failed = threading.Event(), []

    def kill():
        try:
            with connect("admin", database=None) as admin, admin.cursor() as cur:
                session = introspect.wait_for_statement_of(user, lock, timeout)
                # Running is not enough for KILL QUERY: one that lands before the statement
                # executes is forgotten.
                introspect.wait_for_session(session, "running", doing="User sleep", timeout=timeout)
                cur.execute("SELECT GET_LOCK(%s, 0)", (lock,))
                cur.execute(f"KILL {what} %s", (session,))
                first.session = session
                finished.wait()  # the lock is held until the statement has run again
        except Exception as exc:  # raised in the caller's thread, on exit
            failed.append(exc)

    killer = threading.Thread(target=kill, name="dbconn-kill-first-run")
    killer.start()
    try:
        yield first
    finally:
        finished.set()
        killer.join()
    if failed:
        raise failed[0]
