"""The driver matrix (dbconn.matrix): every scenario through every driver, directly and
through SQLAlchemy, against the real server; the fixes per driver; the page it makes."""

from __future__ import annotations

import pytest

from dbconn import drivers, example, matrix
from dbconn.matrix import Outcome, Result
from test_server import free_port, one_line_error, run

SCENARIO = {s.key: s for s in matrix.SCENARIOS}
DISCONNECTS = [s for s in matrix.SCENARIOS if s.family == "disconnect"]


@pytest.fixture(scope="module")
def report():
    return matrix.run()


def results(report, **where):
    found = [r for r in report.results if all(getattr(r, k) == v for k, v in where.items())]
    assert found, where
    return found


def fix_results(report, key):
    return [fr for fr in report.fixes if fr.fix.key == key]


ALL_DRIVERS = drivers.DRIVERS + drivers.ASYNC_DRIVERS


def test_every_scenario_ran_through_every_driver_both_ways(report):
    assert len(report.results) == len(matrix.SCENARIOS) * len(ALL_DRIVERS) * 2
    # This machine has a local server binary; only a connect() argument a driver lacks skips a run.
    skipped = {(r.scenario.key, r.driver.name) for r in report.results if r.skipped}
    # aiomysql has no read_timeout: the client timeout, and the silent drop it ends, cannot run through it.
    assert skipped == {("read_timeout", "aiomysql"), ("network_drop", "aiomysql")}, skipped


@pytest.mark.parametrize("scenario", matrix.SCENARIOS, ids=lambda s: s.key)
def test_each_scenario_raises_its_family_in_each_driver(report, scenario):
    for r in results(report, scenario=scenario):
        assert r.as_expected or r.skipped, f"{r.driver.name} via {r.via}: {r.error}"


@pytest.mark.parametrize("scenario", DISCONNECTS, ids=lambda s: s.key)
def test_the_reconnect_wrapper_recognises_every_disconnect_and_what_follows(report, scenario):
    for r in results(report, scenario=scenario, via="driver"):
        if r.error.worked or r.skipped:
            continue
        assert r.error.disconnect or r.error.code in scenario.also, (r.driver.name, r.error)
        if r.driver.is_async:
            # The wrapper is written for the DB-API drivers. aiomysql's "already dead" error is
            # InterfaceError("(0, 'Not connected')"), a message that only looks like a code
            # (aiomysql/connection.py); asyncmy, after a result cut by net_write_timeout, reads the
            # rest of it as the next answer (Packet sequence number wrong). Each next call fails.
            assert not r.next_call.worked, (r.driver.name, r.next_call)
            continue
        # The code after the failure gets the driver's "already dead" error: a disconnect too.
        assert r.next_call.disconnect, (r.driver.name, r.next_call)


def test_the_codes_that_differ_between_drivers(report):
    """The reasons this page exists, as measured: if a driver changes, this says which."""
    by_driver = {r.driver.name: r.error for r in results(report, scenario=SCENARIO["read_timeout"], via="driver")}
    assert by_driver["PyMySQL"].code == by_driver["mysqlclient"].code == 2013
    assert by_driver["mysql-connector-python"].code == 3024
    slow = {r.driver.name: r.error.code for r in results(report, scenario=SCENARIO["net_write_timeout"], via="driver")}
    assert slow["mysql-connector-python"] == 2055


def test_mysql8_idle_disconnect_replayed_to_each_driver(report):
    """MySQL 8's ERR 4031 numbered 0, replayed: what each driver makes of it, and whether
    SQLAlchemy's pool throws the connection away (the 4031 page states exactly this)."""
    direct = {r.driver.name: r.error for r in results(report, scenario=SCENARIO["mysql8_idle"], via="driver")}
    assert (direct["PyMySQL"].code, direct["PyMySQL"].message) == (2013, "Lost connection to MySQL server during query")
    assert direct["mysqlclient"].code == 4031 and "because of inactivity" in direct["mysqlclient"].message
    assert (direct["mysql-connector-python"].code, direct["mysql-connector-python"].message) == (
        -1, "MySQL Connection not available")
    pooled = {r.driver.name: r.error.invalidated
              for r in results(report, scenario=SCENARIO["mysql8_idle"], via="SQLAlchemy")}
    assert pooled == {"PyMySQL": True, "mysqlclient": True, "mysql-connector-python": False,
                      "aiomysql": True, "asyncmy": True}


def test_network_faults_through_each_driver(report):
    reset = {r.driver.name: r.error for r in results(report, scenario=SCENARIO["network_reset"], via="driver")}
    assert "Connection reset by peer" in reset["PyMySQL"].message
    drop = {r.driver.name: r.error for r in results(report, scenario=SCENARIO["network_drop"], via="driver")}
    assert drop["PyMySQL"].message.endswith("(timed out)")
    cut = {r.driver.name: r.error.code for r in results(report, scenario=SCENARIO["network_cut"], via="driver")}
    assert cut["PyMySQL"] == cut["mysqlclient"] == 2013

def test_the_connectors_3024_is_its_own_read_timeout_and_no_operational_error(report):
    """3024 is also MySQL's statement limit; from mysql-connector it is the client's timeout,
    the connection is closed, and `except OperationalError` (driver's or SQLAlchemy's) misses it."""
    import mysql.connector

    assert not issubclass(mysql.connector.errors.ReadTimeoutError, mysql.connector.errors.OperationalError)
    for r in results(report, scenario=SCENARIO["read_timeout"], driver=drivers.CONNECTOR):
        assert r.error.code == 3024 and "ReadTimeoutError" in r.error.exception, r.error
        assert not r.next_call.worked, r.next_call  # the connector closed the connection
    (wrapped,) = results(report, scenario=SCENARIO["read_timeout"], driver=drivers.CONNECTOR, via="SQLAlchemy")
    assert wrapped.error.exception.startswith("sqlalchemy.exc.DBAPIError ")


def test_limits_and_killed_queries_are_not_disconnects(report):
    for key in ("max_user_connections", "kill_query"):
        for r in report.results:
            if r.scenario.key == key:
                assert not r.error.disconnect, r
                assert r.next_call.worked, r  # the connection (or the ones already open) still works


@pytest.mark.parametrize("fix", matrix.FIXES, ids=lambda f: f.key)
def test_each_fix_with_each_driver(report, fix):
    found = fix_results(report, fix.key)
    assert {fr.driver.name for fr in found} == {d.name for d in ALL_DRIVERS if matrix.applies(fix, d)}
    for fr in found:
        assert fr.as_expected, (fr.driver.name, fr.outcome)


def test_the_control_fails_so_the_fixes_are_tested_on_dead_connections(report):
    for fr in fix_results(report, "no_fix"):
        assert not fr.outcome.worked and fr.outcome.disconnect, fr


def test_reconnecting_pings_and_their_deprecations(report):
    warned = {fr.driver.name: fr.outcome.warning for fr in fix_results(report, "reconnecting_ping")}
    assert "deprecated" in warned["PyMySQL"]
    assert "deprecated" in warned["mysqlclient"]
    assert warned["mysql-connector-python"] == ""


def test_threads_sharing_a_connection(report):
    """What each driver does when a second thread (an asyncio task) uses the connection."""
    waiting = {r.driver.name: r for r in results(report, scenario=SCENARIO["threads_waiting"], via="driver")}
    assert waiting["mysqlclient"].error.code == 2014
    assert waiting["mysql-connector-python"].error.message == "Unread result found"
    for name in ("PyMySQL", "aiomysql", "asyncmy"):  # no error: the first one's result silently cut short
        assert waiting[name].error.worked and "of its 100,000 rows" in waiting[name].error.note, waiting[name]
    reading = {r.driver.name: r for r in results(report, scenario=SCENARIO["threads_reading"], via="driver")}
    assert not reading["PyMySQL"].error.worked
    assert reading["PyMySQL"].next_call.code == 0  # InterfaceError(0, ''): the connection is closed
    assert not reading["aiomysql"].error.worked and not reading["asyncmy"].error.worked


def test_the_async_drivers_raise_what_the_asyncio_page_says(report):
    idle = {r.driver.name: r for r in results(report, scenario=SCENARIO["wait_timeout"], via="driver")}
    assert idle["aiomysql"].error.exception == "pymysql.err.OperationalError"  # PyMySQL's classes
    assert idle["asyncmy"].error.exception == "asyncmy.errors.OperationalError"
    for name in ("aiomysql", "asyncmy"):
        assert idle[name].error.disconnect, idle[name]
    # aiomysql's "already dead": a message that looks like a code, and is not one.
    assert idle["aiomysql"].next_call.code is None and "(0, 'Not connected')" in idle["aiomysql"].next_call.message
    (timed_out,) = results(report, scenario=SCENARIO["read_timeout"], driver=drivers.ASYNCMY, via="driver")
    assert timed_out.error.code == 2013 and "read timeout" in timed_out.error.message
    for key in ("pre_ping", "recycle"):
        assert {fr.driver.name for fr in fix_results(report, key) if fr.outcome.worked} >= {"aiomysql", "asyncmy"}


def test_a_second_task_that_never_returns_is_an_outcome_not_a_hang():
    """aiomysql's second task on a shared connection once waited for ever: the matrix waits
    SECOND_CALL_WAIT seconds for it, then cancels it."""
    import asyncio

    from sqlalchemy.util import await_

    from dbconn import aio

    cancelled = []

    def never_returns():
        try:
            await_(asyncio.Event().wait())
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    def first_task():
        second = aio.Beside(never_returns, in_loop=True)
        second.start()
        return second.join(timeout=0.2)

    assert aio.run(first_task) is False
    assert cancelled == [True]


def test_unexpected_results_are_reported():
    """The check that fails the build is itself able to fail."""
    limit = SCENARIO["max_user_connections"]
    wrong = Result(limit, drivers.PYMYSQL, "driver", Outcome("pymysql.err.OperationalError", 2006, "gone",
                   printed="pymysql.err.OperationalError: (2006, 'gone')"), Outcome(), 0.1)
    report = matrix.Report("test", {}, [wrong], [], 0.1)
    assert matrix.unexpected(report) == [
        "max_user_connections via PyMySQL (driver): `pymysql.err.OperationalError: (2006, 'gone')`"]
    no_error = Result(DISCONNECTS[0], drivers.PYMYSQL, "driver", Outcome(), Outcome(), 0.1)
    assert not no_error.as_expected


def test_no_cell_calls_a_dead_connection_usable(report):
    """The SQLAlchemy column is read from what the next call did (a dead connection was
    once shown as "still usable" because only the first error was looked at)."""
    for r in results(report, via="SQLAlchemy"):
        cell = matrix._disconnect_seen(r)
        if r.error.worked or r.scenario.family == "limit" or r.error.invalidated:
            continue
        assert ("next call on it worked" in cell) == r.next_call.worked, (r.scenario.key, r.driver.name, cell)
    packet = SCENARIO["max_allowed_packet"]
    dead = Result(packet, drivers.PYMYSQL, "SQLAlchemy", Outcome("sqlalchemy.exc.OperationalError", 1153, "bigger",
                  invalidated=False), Outcome("sqlalchemy.exc.OperationalError", 2006, "gone away"), 0.1)
    assert matrix._disconnect_seen(dead) == "**no**, and the next call on it failed too"


def test_the_pool_discards_the_connection_a_too_large_statement_broke(report):
    """1153 is no disconnect to SQLAlchemy, yet the next request works: the rollback at the end
    of the `with` block fails, and that failure is seen as one."""
    for fr in fix_results(report, "after_packet"):
        assert fr.outcome.worked and not fr.outcome.note, (fr.driver.name, fr.outcome)


def test_is_disconnect_on_codes_alone():
    wrapper = example("reconnect_wrapper")
    for code in (1927, 2006, 2013, 2014, 2055, 4031):
        assert wrapper.is_disconnect(Exception(code, "lost"))
    assert not wrapper.is_disconnect(Exception(1317, "Query execution was interrupted"))
    assert not wrapper.is_disconnect(Exception(1226, "exceeded"))
    assert not wrapper.is_disconnect(Exception(-1, "a ProgrammingError-like -1"))  # only the two DB-API classes


def test_the_page_says_where_it_ran(report):
    page = matrix.render_markdown(report)
    assert report.server in page
    for name, version in report.versions.items():
        assert f"{name} {version}" in page
    for scenario in matrix.SCENARIOS:
        assert f"(matrix-{scenario.key})=" in page


def test_the_command_prints_the_tables(report, monkeypatch, capsys):
    # The measured report, not a third run of the matrix (the site build runs the command itself).
    from dbconn.__main__ import main

    monkeypatch.setattr(matrix, "run", lambda: report)
    assert main(["matrix"]) == 0
    assert "## At a glance" in capsys.readouterr().out


def test_the_command_without_a_server_says_so_in_one_line():
    line = one_line_error(run("-m", "dbconn", "matrix", MYSQL_PORT=free_port()))
    assert line.startswith("error: ") and "make db" in line, line


def test_the_tables_show_each_error_as_its_traceback_prints_it(report):
    import pymysql

    exc = pymysql.err.OperationalError(2006, "MySQL server has gone away")
    assert matrix.printed_line(exc) == "pymysql.err.OperationalError: (2006, 'MySQL server has gone away')"
    (sa_killed,) = results(report, scenario=SCENARIO["killed_query_running"], driver=drivers.PYMYSQL, via="SQLAlchemy")
    assert sa_killed.error.printed == ("sqlalchemy.exc.OperationalError: (pymysql.err.OperationalError) "
                                       "(2013, 'Lost connection to MySQL server during query')")
    (timeout,) = results(report, scenario=SCENARIO["read_timeout"], driver=drivers.CONNECTOR, via="driver")
    assert timeout.error.printed.startswith(
        "mysql.connector.errors.ReadTimeoutError: 3024: The Read Operation timed out.")
