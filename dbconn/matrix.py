"""The driver matrix: every error scenario of the site, run through every driver and
through SQLAlchemy's dialect for each, recording what the failing call raises and
what the next call on the same connection raises. Then, per driver, the fixes,
each checked on a connection the server has really dropped.

The site's driver page is generated from run() at build time; tests/test_matrix.py
asserts its results. Everything a scenario creates (accounts, a table, private
servers, connections) is its own and is removed before run() returns.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import re
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from . import accounts, aio, example, server, tables
from .connection import connect
from .drivers import ASYNC_DRIVERS, DRIVERS, Driver, NotSupported
from .faults import FaultProxy
from .introspect import wait_for_session

# Timing-dependent scenarios wait for the server's own view (the query runs, the session
# is gone), never for a fixed time: under load, a timer fires before the query is sent.
# A query that is to be killed sleeps far longer than any delay of its killer (16 threads
# share one interpreter here): it ends when it is killed, never on its own first.
KILLED_SLEEP = 60
TABLE_ROWS = 100_000  # rows of the run's large table


@dataclass(frozen=True)
class Outcome:
    """What one call did: worked (exception None), or raised."""

    exception: str | None = None
    code: int | str | None = None
    message: str = ""
    disconnect: bool = False  # does examples/reconnect_wrapper.py's is_disconnect() say so?
    invalidated: bool | None = None  # SQLAlchemy only: did it see a disconnect?
    warning: str = ""  # a DeprecationWarning the call gave, if any
    note: str = ""  # why a scenario could not happen this way
    printed: str = ""  # the traceback's last line as Python prints it (whitespace collapsed)

    @property
    def worked(self) -> bool:
        return self.exception is None

    @classmethod
    def of(cls, call: Callable[[], object]) -> Outcome:
        try:
            call()
        except Exception as exc:  # noqa: BLE001 - recording what each driver raises is the point
            return cls.from_exception(exc)
        return cls()

    @classmethod
    def from_exception(cls, exc: BaseException) -> Outcome:
        driver_exc = getattr(exc, "orig", None) or exc
        code = _reconnect_wrapper().error_code(driver_exc)
        message = " ".join(str(driver_exc.args[1] if len(driver_exc.args) > 1 else driver_exc).split())
        name = _qualified(type(exc))
        if driver_exc is not exc:
            name += f" (orig: {_qualified(type(driver_exc))})"
        return cls(
            exception=name,
            code=code,
            message=message[:120],
            disconnect=_reconnect_wrapper().is_disconnect(driver_exc),
            invalidated=getattr(exc, "connection_invalidated", None),
            printed=printed_line(exc),
        )


def printed_line(exc: BaseException) -> str:
    """The line a traceback ends with, as readers paste it: without SQLAlchemy's [SQL: ...]
    and "Background on this error" lines, whitespace (mysql-connector's indented message) collapsed."""
    text = "".join(traceback.format_exception_only(type(exc), exc))
    text = re.split(r"\n\[SQL: |\n\(Background on this error", text)[0]
    return " ".join(text.split())


def _qualified(cls: type) -> str:
    """The name to write in an `except` clause: pymysql.err.OperationalError, MySQLdb.OperationalError."""
    module = "MySQLdb" if cls.__module__.startswith("MySQLdb") else cls.__module__
    return f"{module}.{cls.__qualname__}"


@dataclass(frozen=True)
class Result:
    scenario: Scenario
    driver: Driver
    via: str  # "driver" or "SQLAlchemy"
    error: Outcome
    next_call: Outcome
    seconds: float
    skipped: str = ""  # why it could not run here (e.g. no local server binary for a restart)

    @property
    def as_expected(self) -> bool:
        return not self.skipped and self.scenario.expects(self.error)


# --- sessions: one connection, through the driver or through SQLAlchemy ---------------


class DriverSession:
    via = "driver"

    def __init__(self, driver: Driver, **options):
        self.driver = driver
        self.conn = driver.connect(**options)

    def query(self, sql: str, params: tuple | None = None) -> list:
        return _query(self.conn, sql, params)

    def stream(self, sql: str, pause: Callable[[], object]) -> int:
        """Read rows one at a time, calling pause() after the first: a slow consumer."""
        cur = self.driver.streaming_cursor(self.conn)
        cur.execute(sql)
        count = 0
        while cur.fetchone() is not None:
            count += 1
            if count == 1:
                pause()
        return count

    def close(self) -> None:
        _close(self.conn)


class SQLAlchemySession:
    via = "SQLAlchemy"

    def __init__(self, driver: Driver, **options):
        from sqlalchemy.pool import NullPool

        self.engine = driver.engine(poolclass=NullPool, **options)
        self.conn = self.engine.connect()

    def query(self, sql: str, params: tuple | None = None) -> list:
        result = self.conn.exec_driver_sql(sql, params) if params else self.conn.exec_driver_sql(sql)
        return list(result.fetchall()) if result.returns_rows else []

    def stream(self, sql: str, pause: Callable[[], object]) -> int:
        result = self.conn.execution_options(stream_results=True).exec_driver_sql(sql)
        count = 0
        for _ in result:
            count += 1
            if count == 1:
                pause()
        return count

    def close(self) -> None:
        # invalidate(): close the driver's connection as it is. close() would first roll
        # back, down a connection the scenario may have broken, and log that failure.
        with contextlib.suppress(Exception):
            self.conn.invalidate()
        with contextlib.suppress(Exception):
            self.conn.close()
        self.engine.dispose()


SESSIONS = {"driver": DriverSession, "SQLAlchemy": SQLAlchemySession}


@dataclass
class Lab:
    """What a scenario runs with: one driver, one way in, the run's shared table."""

    driver: Driver
    via: str
    table: str
    port: int | None = None

    @contextlib.contextmanager
    def session(self, **options):
        session = SESSIONS[self.via](self.driver, port=self.port, **options)
        try:
            yield session
        finally:
            session.close()

    def kill(self, connection_id: int, what: str = "CONNECTION") -> None:
        """KILL a connection (or only its query) now, as the lab's admin; after KILL CONNECTION,
        return once the server has ended the session (it closes the socket a moment later)."""
        with connect("admin", database=None, **({"port": self.port} if self.port else {})) as admin:
            with admin.cursor() as cur:
                cur.execute(f"KILL {what} %s", (connection_id,))
        if what == "CONNECTION":
            self.wait_for(connection_id, "gone")

    def wait_for(self, connection_id: int, *states: str, doing: str | None = None) -> str:
        return wait_for_session(connection_id, *states, doing=doing, port=self.port)

    def kill_when_sleeping(self, session, what: str = "CONNECTION") -> Future:
        """KILL the session's connection (or only its query) as soon as the server shows it
        inside SELECT SLEEP(): call this, then send the statement. .result() waits for the
        KILL and raises if it failed."""
        connection_id = session_id(session)

        def kill():
            self.wait_for(connection_id, "running", doing="User sleep")
            self.kill(connection_id, what)

        pool = ThreadPoolExecutor(1)
        future = pool.submit(kill)
        pool.shutdown(wait=False)  # the thread ends when kill() does
        return future


def _select_1(session) -> Callable[[], object]:
    return lambda: session.query("SELECT 1")


def session_id(session) -> int:
    return session.query("SELECT CONNECTION_ID()")[0][0]


# --- the scenarios: each returns (what the trigger raised, what the next call raised) ----


def too_many_connections(lab: Lab):
    account = accounts.create("matrix", max_user_connections=2)
    try:
        with lab.session(role=account) as first, lab.session(role=account):
            def third():
                with lab.session(role=account):
                    pass
            return Outcome.of(third), Outcome.of(_select_1(first))
    finally:
        accounts.drop(account)


def idle_past_wait_timeout(lab: Lab):
    with lab.session() as s:
        # Its id first: a second later, on a busy machine, the server may already have dropped it.
        connection_id = session_id(s)
        s.query("SET SESSION wait_timeout = 1")
        lab.wait_for(connection_id, "gone")  # idle until the server drops it
        return Outcome.of(_select_1(s)), Outcome.of(_select_1(s))


def killed_while_idle(lab: Lab):
    with lab.session() as s:
        lab.kill(session_id(s))
        return Outcome.of(_select_1(s)), Outcome.of(_select_1(s))


def packet_too_large(lab: Lab):
    with lab.session() as s:
        limit = s.query("SELECT @@max_allowed_packet")[0][0]
        big = "x" * (limit + 1024)
        return Outcome.of(lambda: s.query("SELECT LENGTH(%s)", (big,))), Outcome.of(_select_1(s))


def server_restarted(lab: Lab):
    with server.private_server() as private:
        restarted = Lab(lab.driver, lab.via, lab.table, port=private.port)
        with restarted.session() as s:
            s.query("SELECT 1")
            private.restart()
            return Outcome.of(_select_1(s)), Outcome.of(_select_1(s))


def killed_during_query(lab: Lab):
    with lab.session() as s:
        kill = lab.kill_when_sleeping(s)
        error = Outcome.of(lambda: s.query(f"SELECT SLEEP({KILLED_SLEEP})"))
        kill.result()
        return error, Outcome.of(_select_1(s))


def query_killed(lab: Lab):
    with lab.session() as s:
        kill = lab.kill_when_sleeping(s, "QUERY")
        error = Outcome.of(lambda: s.query(f"SELECT SLEEP({KILLED_SLEEP})"))
        kill.result()
        return error, Outcome.of(_select_1(s))


def read_timeout(lab: Lab):
    with lab.session(read_timeout=1) as s:
        # The server keeps running the query after the client gives up: 2 s, not 20.
        return Outcome.of(lambda: s.query("SELECT SLEEP(2)")), Outcome.of(_select_1(s))


def slow_reader(lab: Lab):
    with lab.session() as s:
        s.query("SET SESSION net_write_timeout = 1")
        connection_id = session_id(s)
        # The reader pauses on the first row until the server stops sending: it gives up on
        # the reader ("gone"), or it had already sent everything ("idle": nothing was streamed).
        error = Outcome.of(lambda: s.stream(f"SELECT id, payload FROM `{lab.table}`",
                                            pause=lambda: lab.wait_for(connection_id, "gone", "idle")))
        if error.worked and lab.via == "SQLAlchemy" and not s.engine.dialect.supports_server_side_cursors:
            error = replace(error, note="this dialect cannot stream: every row was read before the first was "
                                        "returned (in memory), so the pause never reached the server")
        return error, Outcome.of(_select_1(s))


# --- one connection, two threads: thread 1 reads a large result, thread 2 sends a query ----


def _stream_rows(session, sql: str):
    """A large result's rows, read from the socket as they are fetched."""
    if session.via == "driver":
        cur = session.driver.streaming_cursor(session.conn)
        cur.execute(sql)
        return iter(cur.fetchone, None)
    return iter(session.conn.execution_options(stream_results=True).exec_driver_sql(sql))


SECOND_CALL_WAIT = 15  # seconds: the second task's SELECT 1 answers in milliseconds, or never


def _shared_by_two_threads(lab: Lab, pause: bool):
    """Thread 1 reads a large result; once its first row is in, thread 2 sends a query on
    the same connection (with an asyncio driver: task 1 and task 2). pause: thread 1 waits
    until thread 2's call returns (the order is then certain); else it keeps reading
    meanwhile. Returns (thread 2's call, or thread 1's read if that is what failed; the
    next call on the connection once both are done)."""
    with lab.session() as s:
        second: dict[str, Outcome] = {}
        other = aio.Beside(lambda: second.update(outcome=Outcome.of(_select_1(s))), in_loop=lab.driver.is_async)
        counted = [0]

        def wait_for_the_second():
            # aiomysql's second task, its connection closed under it by the first, was seen
            # waiting for ever (once in a soak of 20 make test runs): an outcome too, not a hang.
            if not other.join(timeout=SECOND_CALL_WAIT):
                second["outcome"] = Outcome(exception="no answer", message=f"task 2's query never returned: "
                                                                          f"cancelled after {SECOND_CALL_WAIT} s")

        def read_all():
            for _ in _stream_rows(s, f"SELECT id, payload FROM `{lab.table}`"):
                counted[0] += 1
                if counted[0] == 1:
                    other.start()
                    if pause:
                        wait_for_the_second()

        reading = Outcome.of(read_all)
        if other.started and "outcome" not in second:
            wait_for_the_second()
        outcome = second.get("outcome", reading)
        if outcome.worked and not reading.worked:
            outcome = reading
        elif outcome.worked and counted[0] < TABLE_ROWS:
            first = "task 1" if lab.driver.is_async else "thread 1"
            outcome = replace(outcome, note=f"no error, but {first} got {counted[0]:,} of its {TABLE_ROWS:,} rows")
        elif outcome.worked and lab.via == "SQLAlchemy" and not s.engine.dialect.supports_server_side_cursors:
            outcome = replace(outcome, note="this dialect cannot stream: the first one's whole result was "
                                            "read before the second query ran")
        return outcome, Outcome.of(_select_1(s))


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str  # the trigger, as a reader would describe it
    page: str  # the help page's code
    family: str  # "limit", "disconnect", "killed query", "timeout"
    run: Callable[[Lab], tuple[Outcome, Outcome]] = field(repr=False)
    also: frozenset = frozenset()  # codes accepted besides the family

    def expects(self, outcome: Outcome) -> bool:
        if outcome.worked and outcome.note:  # the trigger cannot happen this way (said in the note)
            return True
        if outcome.code in self.also:
            return True
        if self.family == "shared":  # whatever the driver raises: there is no code for it
            return not outcome.worked
        if self.family == "disconnect":
            return outcome.disconnect
        return outcome.code in FAMILIES[self.family]


FAMILIES = {"limit": {1226}, "killed query": {1317}, "timeout": {2013, 3024}}

SCENARIOS = (
    Scenario("max_user_connections", "3rd connection of an account WITH MAX_USER_CONNECTIONS 2", "1226",
             "limit", too_many_connections),
    Scenario("wait_timeout", "idle past wait_timeout, then a query", "2006", "disconnect", idle_past_wait_timeout),
    Scenario("killed_idle", "idle connection KILLed, then a query", "2006", "disconnect", killed_while_idle),
    Scenario("max_allowed_packet", "a statement bigger than max_allowed_packet", "2006", "disconnect",
             packet_too_large, also=frozenset({1153})),
    Scenario("restart", "server restarted, then a query", "2006", "disconnect", server_restarted),
    Scenario("killed_query_running", f"KILL CONNECTION during SELECT SLEEP({KILLED_SLEEP})", "2013", "disconnect",
             killed_during_query),
    Scenario("kill_query", f"KILL QUERY during SELECT SLEEP({KILLED_SLEEP})", "2013", "killed query", query_killed),
    Scenario("read_timeout", "read_timeout=1 and SELECT SLEEP(2)", "2013", "timeout", read_timeout),
    Scenario("net_write_timeout", "net_write_timeout=1 and a reader that pauses longer", "2013", "disconnect",
             slow_reader),
    Scenario("threads_reading", "two threads (asyncio: tasks), one connection: a query sent while the other "
             "reads a result", "2014", "shared", functools.partial(_shared_by_two_threads, pause=False)),
    Scenario("threads_waiting", "two threads (asyncio: tasks), one connection: a query sent while the other's "
             "result waits to be read", "2014", "shared", functools.partial(_shared_by_two_threads, pause=True)),
)


# --- the network between client and server, and MySQL 8's idle disconnect replayed ---------
# Each runs through a fault proxy of its own (dbconn.faults) in front of the lab's server.


@contextlib.contextmanager
def _through_proxy(lab: Lab, **session_options):
    """A session through a fault proxy of its own, and that connection as the proxy sees it."""
    with FaultProxy(max_seconds=60) as net, replace(lab, port=net.port).session(**session_options) as s:
        s.query("SELECT 1")
        yield net, net.flows[-1], s


def mysql8_idle(lab: Lab):
    with _through_proxy(lab) as (net, flow, s):
        net.idle_timeout(1, "mysql8")  # MySQL 8's wait_timeout, replayed: ERR 4031 numbered 0, then close
        flow.wait_closed()
        return Outcome.of(_select_1(s)), Outcome.of(_select_1(s))


def network_reset(lab: Lab):
    with _through_proxy(lab) as (net, flow, s):
        flow.reset()
        return Outcome.of(_select_1(s)), Outcome.of(_select_1(s))


def network_drop(lab: Lab):
    with _through_proxy(lab, read_timeout=1) as (net, flow, s):
        flow.drop()
        return Outcome.of(_select_1(s)), Outcome.of(_select_1(s))


def network_cut_mid_result(lab: Lab):
    with _through_proxy(lab) as (net, flow, s):
        flow.cut_after(256 * 1024)
        return Outcome.of(lambda: s.query(f"SELECT id, payload FROM `{lab.table}`")), Outcome.of(_select_1(s))


SCENARIOS += (
    Scenario("mysql8_idle", "MySQL 8.0.24+ idle past wait_timeout, replayed: ERR 4031 numbered 0, then close",
             "4031", "disconnect", mysql8_idle),
    Scenario("network_reset", "the network resets an idle connection (RST), then a query", "network", "disconnect",
             network_reset),
    # mysql-connector's cursor() pings first (is_connected()), and reports the ping's timeout as -1.
    Scenario("network_drop", "the network drops a connection silently, read_timeout=1, then a query", "network",
             "timeout", network_drop, also=frozenset({-1})),
    Scenario("network_cut", "the network cuts a result after 256 KiB", "network", "disconnect",
             network_cut_mid_result),
)


@functools.cache
def _reconnect_wrapper():
    return example("reconnect_wrapper")


def _as_driver_needs(driver: Driver, function: Callable, *args):
    """function(*args), on an event loop of its own for an asyncio driver (dbconn/aio.py)."""
    return aio.run(function, *args) if driver.is_async else function(*args)


def run_one(scenario: Scenario, driver: Driver, via: str, table: str) -> Result:
    start = time.monotonic()
    try:
        error, next_call = _as_driver_needs(driver, scenario.run, Lab(driver, via, table))
    except (server.ServerError, NotSupported) as exc:
        return Result(scenario, driver, via, Outcome(), Outcome(), 0.0, skipped=str(exc))
    return Result(scenario, driver, via, error, next_call, time.monotonic() - start)


# --- the fixes, per driver: each checked on a connection the server has dropped ----------


def _query(conn, sql: str = "SELECT 1", params: tuple | None = None) -> list:
    """Run one statement on a driver's connection; its rows (none for SET)."""
    cur = conn.cursor()
    cur.execute(sql, params)
    rows = list(cur.fetchall()) if cur.description else []
    cur.close()
    return rows


def _close(conn) -> None:
    with contextlib.suppress(Exception):
        conn.close()


def _killed(lab: Lab):
    """A new connection of this driver, already KILLed by the server."""
    conn = lab.driver.connect()
    (connection_id,), = _query(conn, "SELECT CONNECTION_ID()")
    lab.kill(connection_id)
    return conn


def ping_dead(lab: Lab) -> Outcome:
    conn = _killed(lab)
    try:
        return Outcome.of(conn.ping)
    finally:
        _close(conn)


# Each driver's ping that reconnects in place, as written in its docs.
RECONNECTING_PING = {
    "pymysql": ("conn.ping(reconnect=True)", lambda conn: conn.ping(reconnect=True)),
    "MySQLdb": ("conn.ping(True)", lambda conn: conn.ping(True)),
    "mysql.connector": ("conn.ping(reconnect=True, attempts=1, delay=0)",
                        lambda conn: conn.ping(reconnect=True, attempts=1, delay=0)),
}


def reconnecting_ping(lab: Lab) -> Outcome:
    conn = _killed(lab)
    try:
        with warnings.catch_warnings(record=True) as seen:  # process-wide: run in the main thread only
            warnings.simplefilter("always")
            outcome = Outcome.of(lambda: RECONNECTING_PING[lab.driver.module][1](conn))
        if outcome.worked:
            outcome = Outcome.of(lambda: _query(conn))
        deprecations = [str(w.message) for w in seen if issubclass(w.category, DeprecationWarning)]
        return replace(outcome, warning=" ".join(deprecations))
    finally:
        _close(conn)


# The check-then-replace idiom of each driver, from examples/.
ALIVE_EXAMPLE = {"pymysql": "ping_before_use", "MySQLdb": "ping_mysqlclient", "mysql.connector": "ping_mysql_connector"}
# What the tables are made from (conf.py rebuilds the driver page when one changes).
SOURCES = ["dbconn/matrix.py", "dbconn/drivers.py", "dbconn/aio.py", "examples/reconnect_wrapper.py",
           *(f"examples/{name}.py" for name in ALIVE_EXAMPLE.values())]
SOURCES += ["dbconn/faults.py", "dbconn/mysql8.py"]  # the network scenarios' proxy and replays


def alive_example(lab: Lab) -> Outcome:
    conn = _killed(lab)
    try:
        conn = example(ALIVE_EXAMPLE[lab.driver.module]).alive(conn)
        return Outcome.of(lambda: _query(conn))
    finally:
        _close(conn)


def reconnect_wrapper(lab: Lab) -> Outcome:
    reader = _reconnect_wrapper().ReconnectingConnection(lab.driver.connect)
    try:
        (connection_id,), = reader.read("SELECT CONNECTION_ID()")
        lab.kill(connection_id)
        return Outcome.of(lambda: reader.read("SELECT 1"))
    finally:
        reader.close()


def _checkout_and_query(engine) -> Outcome:
    def request():
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1").fetchall()

    return Outcome.of(request)


def _pooled(lab: Lab, **pool_options) -> Outcome:
    """Check out, let the connection idle past wait_timeout in the pool, check out again."""
    engine = lab.driver.engine(pool_size=1, **pool_options)
    try:
        with engine.connect() as conn:
            pooled = conn.exec_driver_sql("SELECT CONNECTION_ID()").scalar_one()
            conn.exec_driver_sql("SET SESSION wait_timeout = 1")
        lab.wait_for(pooled, "gone")  # it idles in the pool until the server drops it
        return _checkout_and_query(engine)
    finally:
        engine.dispose()


def after_too_large(lab: Lab) -> Outcome:
    """A request sends a statement larger than max_allowed_packet (1153, which SQLAlchemy
    does not count as a disconnect; the server closes the connection), as code does it:
    in a `with engine.connect()` block. Then the next request, from the same pool of one."""
    engine = lab.driver.engine(pool_size=1)
    try:
        def too_large():
            with engine.connect() as conn:
                limit = conn.exec_driver_sql("SELECT @@max_allowed_packet").scalar_one()
                conn.exec_driver_sql("SELECT LENGTH(%s)", ("x" * (limit + 1024),))

        first = Outcome.of(too_large)
        if first.worked:
            return replace(first, note="the server accepted the statement: nothing was checked")
        return _checkout_and_query(engine)
    finally:
        engine.dispose()


def rollback_then_retry(lab: Lab) -> Outcome:
    """SQLAlchemy's Connection after a disconnect: roll back, then use it again."""
    engine = lab.driver.engine()
    conn = engine.connect()
    try:
        connection_id = conn.exec_driver_sql("SELECT CONNECTION_ID()").scalar_one()
        conn.exec_driver_sql("SET SESSION wait_timeout = 1")
        lab.wait_for(connection_id, "gone")
        failed = Outcome.of(lambda: conn.exec_driver_sql("SELECT 1"))
        if failed.worked:
            return replace(failed, note="the idle connection was not dropped: nothing was checked")
        rollback = Outcome.of(conn.rollback)
        return rollback if not rollback.worked else Outcome.of(lambda: conn.exec_driver_sql("SELECT 1").fetchall())
    finally:
        _close(conn)
        engine.dispose()


@dataclass(frozen=True)
class Fix:
    key: str
    title: str
    run: Callable[[Lab], Outcome] = field(repr=False)
    works: bool = True  # False: the row shows what fails (the control, a bare ping)
    fails_with: dict = field(default_factory=dict)  # driver module -> why it is known to fail with it
    main_thread: bool = False  # records warnings, which is process-wide state
    asyncio_too: bool = True  # also run with the asyncio drivers (not their pings: the asyncio page has none)

    def describe(self, driver: Driver) -> str:
        if self.key == "reconnecting_ping":
            return f"`{RECONNECTING_PING[driver.module][0]}`"
        if self.key == "alive":
            return f"`alive()` from `examples/{ALIVE_EXAMPLE[driver.module]}.py`"
        return self.title


FIXES = (
    Fix("ping", "`conn.ping()` on a dead connection", ping_dead, works=False, asyncio_too=False),
    Fix("reconnecting_ping", "the driver's reconnecting ping", reconnecting_ping, main_thread=True,
        asyncio_too=False),
    Fix("alive", "check, then replace", alive_example, asyncio_too=False),
    Fix("wrapper", "`ReconnectingConnection.read()` from `examples/reconnect_wrapper.py`", reconnect_wrapper),
    Fix("rollback", "SQLAlchemy: after the error, `conn.rollback()`, then the same `Connection`", rollback_then_retry,
        fails_with={"mysql.connector": "SQLAlchemy's dialect looks for the message \"MySQL Connection not "
                    "available.\" with a full stop; this connector writes none, so the disconnect goes unseen "
                    "and the rollback is sent down the dead connection"}),
    Fix("no_fix", "SQLAlchemy pool with no check (the control)", _pooled, works=False),
    Fix("after_packet", "SQLAlchemy pool with no check: the request after a statement larger than "
        "`max_allowed_packet`", after_too_large),
    Fix("pre_ping", "SQLAlchemy `pool_pre_ping=True`", functools.partial(_pooled, pool_pre_ping=True)),
    Fix("recycle", "SQLAlchemy `pool_recycle=1` (below `wait_timeout`)", functools.partial(_pooled, pool_recycle=1)),
)


@dataclass(frozen=True)
class FixResult:
    fix: Fix
    driver: Driver
    outcome: Outcome

    @property
    def expected_to_work(self) -> bool:
        return self.fix.works and self.driver.module not in self.fix.fails_with

    @property
    def as_expected(self) -> bool:
        return self.outcome.worked == self.expected_to_work and not self.outcome.note


def check_fix(fix: Fix, driver: Driver) -> FixResult:
    return FixResult(fix, driver, _as_driver_needs(driver, fix.run, Lab(driver, "driver", table="")))


def applies(fix: Fix, driver: Driver) -> bool:
    return fix.asyncio_too or not driver.is_async


@contextlib.contextmanager
def _quiet_lost_streams():
    """PyMySQL's unbuffered result raises AttributeError from __del__ once its connection
    is lost (the 2013 page's SSCursor trap), and SQLAlchemy's pool logs "Error closing
    cursor" with the traceback of a cursor on a dead connection. Here connections die on
    purpose: let those finalizers run now, and keep their noise out of the build's and the
    tests' output (a log record kept by a handler would also keep the dead cursor alive)."""
    previous = sys.unraisablehook
    pool_log = logging.getLogger("sqlalchemy.pool")
    pool_level = pool_log.level

    def hook(unraisable):
        if not isinstance(unraisable.exc_value, AttributeError):
            previous(unraisable)

    sys.unraisablehook = hook
    pool_log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        gc.collect()
        pool_log.setLevel(pool_level)
        sys.unraisablehook = previous


@dataclass
class Report:
    server: str
    versions: dict[str, str]
    results: list[Result]
    fixes: list[FixResult]
    seconds: float


def run(scenarios=SCENARIOS, fixes=FIXES, drivers=DRIVERS + ASYNC_DRIVERS, vias=("driver", "SQLAlchemy"),
        workers: int = 16) -> Report:
    """Every scenario x driver x way in, and every fix x driver, side by side (each waits
    on the server, not the CPU); the fixes that record warnings run in this thread."""
    import sqlalchemy

    start = time.monotonic()
    table = tables.numbered_table("matrix", rows=TABLE_ROWS, payload_bytes=200)
    try:
        with _quiet_lost_streams(), ThreadPoolExecutor(workers) as pool:
            try:
                scenario_runs = [pool.submit(run_one, s, d, v, table) for s in scenarios for d in drivers for v in vias]
                fix_runs = {(f.key, d.name): pool.submit(check_fix, f, d)
                            for f in fixes if not f.main_thread for d in drivers if applies(f, d)}
                here = {(f.key, d.name): check_fix(f, d)
                        for f in fixes if f.main_thread for d in drivers if applies(f, d)}
                fix_results = [here.get((f.key, d.name)) or fix_runs[f.key, d.name].result()
                               for f in fixes for d in drivers if applies(f, d)]
                results = [f.result() for f in scenario_runs]
            except KeyboardInterrupt:
                pool.shutdown(cancel_futures=True)  # the running ones finish and clean up; no new ones
                raise
    finally:
        tables.drop_table(table)
    versions = {d.name: d.version() for d in drivers} | {"SQLAlchemy": sqlalchemy.__version__}
    return Report(server.require(), versions, results, fix_results, time.monotonic() - start)


# --- the page: Markdown (MyST) generated from a run ---------------------------------------


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("`", "'")


def _said(outcome: Outcome) -> str:
    """What the call did, as the reader's traceback says it: its last line, unabridged."""
    if outcome.worked:
        return f"works; {outcome.note}" if outcome.note else "works"
    return f"`{_cell(outcome.printed)}`"


def _code_or_class(outcome: Outcome) -> str:
    """The error's code, or its class's name when it has none (PyMySQL's InternalError)."""
    return str(outcome.code) if outcome.code is not None else outcome.exception.split(" ")[0].rsplit(".", 1)[-1]


def _disconnect_seen(result: Result) -> str:
    """Did SQLAlchemy see a disconnect, and what was the connection worth: read from what
    the failing call and the next call on the same connection did, never assumed."""
    if result.via != "SQLAlchemy" or result.error.worked or result.scenario.family == "limit":
        return ""
    if result.error.invalidated:
        return "yes: invalidated"
    if result.next_call.worked:
        return "no, and the next call on it worked"
    return "**no**, and the next call on it failed too"


# Each generated table carries this class: search skips it (conf.py's PAGEFIND), so that
# a code repeated in 54 cells does not outrank the page that explains it.
MEASURED = ":class: measured"


def render_markdown(report: Report) -> str:
    """The driver page's tables (MyST Markdown): a summary, a section per scenario, the fixes."""
    drivers = list(dict.fromkeys(r.driver for r in report.results))
    out = [
        f"Ran against **{report.server}** with "
        + ", ".join(f"{name} {version}" for name, version in report.versions.items())
        + f", in {report.seconds:.0f} s, when this page was built.",
        "",
        "## At a glance: the code each driver raises",
        "",
        f"```{{table}} The error code of the failing call, called directly ({report.server})",
        MEASURED,
        "| scenario | page | " + " | ".join(d.name for d in drivers) + " |",
        "|---|---|" + "---|" * len(drivers),
    ]
    for scenario in dict.fromkeys(r.scenario for r in report.results):
        codes = []
        for driver in drivers:
            (r,) = [r for r in report.results if r.scenario == scenario and r.driver == driver and r.via == "driver"]
            codes.append("not run" if r.skipped else "none" if r.error.worked else f"`{_code_or_class(r.error)}`")
        out.append(f"| {_cell(scenario.title)} | {{doc}}`{scenario.page} </docs/errors/{scenario.page}>` | "
                   + " | ".join(codes) + " |")
    out += ["```", "", "## Scenario by scenario", ""]
    for scenario in dict.fromkeys(r.scenario for r in report.results):
        out += [
            f"(matrix-{scenario.key})=", "",
            f"### {scenario.title}", "",
            f"```{{table}} {_cell(scenario.title)}: what each driver raises, and then the next call "
            f"on the same connection ({report.server})",
            MEASURED,
            "| driver | called | raises | next call on the same connection | SQLAlchemy saw a disconnect |",
            "|---|---|---|---|---|",
        ]
        for r in (r for r in report.results if r.scenario == scenario):
            if r.skipped:
                out.append(f"| {r.driver.name} | {r.via} | not run here: {_cell(r.skipped)} | | |")
                continue
            out.append(f"| {r.driver.name} | {r.via} | {_said(r.error)} | {_said(r.next_call)} | {_disconnect_seen(r)} |")
        out += ["```", ""]
    out += ["## The fixes, driver by driver", ""]
    for driver in drivers:
        out += [
            f"### Fixes with {driver.name}", "",
            f"```{{table}} {driver.name} {report.versions[driver.name]}: each fix on a connection the server "
            f"dropped ({report.server})",
            MEASURED,
            "| fix | result | deprecation warning |",
            "|---|---|---|",
        ]
        for fr in (fr for fr in report.fixes if fr.driver == driver):
            mark = "" if fr.as_expected else " **(unexpected)**"
            if fr.as_expected and driver.module in fr.fix.fails_with:
                mark = f" (known: {_cell(fr.fix.fails_with[driver.module])})"
            out.append(f"| {fr.fix.describe(driver)} | {_said(fr.outcome)}{mark} | {_cell(fr.outcome.warning)} |")
        out += ["```", ""]
    return "\n".join(out)


def unexpected(report: Report) -> list[str]:
    """What did not behave as its scenario or fix says: one line each."""
    lines = [f"{r.scenario.key} via {r.driver.name} ({r.via}): {_said(r.error)}"
             for r in report.results if not r.skipped and not r.as_expected]
    lines += [f"fix {fr.fix.key} with {fr.driver.name}: {_said(fr.outcome)}" for fr in report.fixes if not fr.as_expected]
    return lines
