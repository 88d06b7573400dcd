"""The async drivers (aiomysql, asyncmy) in the driver matrix, whose scenarios are
written as plain calls. Each scenario runs on an event loop of its own, inside a
greenlet (SQLAlchemy's ``greenlet_spawn``), where every driver coroutine is awaited
with ``sqlalchemy.util.await_``: the same bridge SQLAlchemy's asyncio engine uses
for its own dialects. So the calls are the drivers' own, the exceptions are the
drivers' own, and "through SQLAlchemy" is ``create_async_engine()``'s engine.

``Beside`` runs a second piece of work next to the scenario: a thread for the
synchronous drivers, a task on the same loop for the async ones.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable

from sqlalchemy.util import await_, greenlet_spawn


def _awaited(value):
    """A driver call's result: awaited when the driver returned an awaitable."""
    return await_(value) if inspect.isawaitable(value) else value


class AwaitedCursor:
    """A DB-API cursor's calls on an async driver's cursor."""

    def __init__(self, cursor):
        self._cursor = cursor

    @property
    def description(self):
        return self._cursor.description

    def execute(self, sql, params=None):
        return _awaited(self._cursor.execute(sql, params))

    def fetchone(self):
        return _awaited(self._cursor.fetchone())

    def fetchall(self):
        return _awaited(self._cursor.fetchall())

    def close(self):
        return _awaited(self._cursor.close())


class AwaitedConnection:
    """A DB-API connection's calls on an async driver's connection."""

    def __init__(self, connection):
        self._connection = connection

    def cursor(self, cursor_class=None):
        cursor = self._connection.cursor(cursor_class) if cursor_class else self._connection.cursor()
        return AwaitedCursor(_awaited(cursor))

    def commit(self):
        return _awaited(self._connection.commit())

    def rollback(self):
        return _awaited(self._connection.rollback())

    def close(self):
        return _awaited(self._connection.close())


def connect(connect: Callable, **arguments) -> AwaitedConnection:
    """Call an async driver's connect() and wait for it, from inside run()."""
    return AwaitedConnection(_awaited(connect(**arguments)))


def run(function: Callable, *args):
    """function(*args) on a new event loop, inside a greenlet where driver coroutines
    can be awaited with plain calls; its result, or what it raised."""
    return asyncio.run(greenlet_spawn(function, *args))


class Beside:
    """Work run beside the current code: a thread, or (in_loop) a task on the running
    event loop, which runs whenever the current code awaits."""

    def __init__(self, work: Callable[[], object], in_loop: bool):
        self._work = work
        self._in_loop = in_loop
        self._running = None

    def start(self) -> None:
        if self._in_loop:
            self._running = asyncio.get_running_loop().create_task(greenlet_spawn(self._work))
        else:
            self._running = threading.Thread(target=self._work)
            self._running.start()

    @property
    def started(self) -> bool:
        return self._running is not None

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the work is done, and say whether it is. A task still running after
        `timeout` seconds is cancelled (its own outcome is its own business); a thread
        cannot be, and is waited for."""
        if not self._in_loop:
            self._running.join()
            return True
        done, _ = await_(asyncio.wait({self._running}, timeout=timeout))
        if not done:
            self._running.cancel()
            await_(asyncio.wait({self._running}))
        return bool(done)
