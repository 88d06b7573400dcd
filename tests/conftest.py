"""The test session brings its own server: it starts one if none answers, stops it
afterwards if it started it, and fails if the server ends with more connections
than it started with. Under pytest-xdist this happens once, in the controller."""

from __future__ import annotations

import pytest

from dbconn import introspect, server


def _is_worker(config) -> bool:
    return hasattr(config, "workerinput")


def pytest_sessionstart(session):
    if _is_worker(session.config):
        return
    try:
        message, started = server.up()
    except server.ServerError as exc:
        pytest.exit(f"error: {exc}", returncode=1)
    session.config.stash[STARTED] = started
    session.config.stash[BASELINE] = introspect.connection_count()


def pytest_sessionfinish(session, exitstatus):
    if _is_worker(session.config) or BASELINE not in session.config.stash:
        return
    baseline = session.config.stash[BASELINE]
    count = introspect.wait_for_count(None, baseline)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if count > baseline:
        columns, rows = introspect.processlist()
        reporter.write_line(f"LEAK: the server has {count} connections, {baseline} before the tests: {rows}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if session.config.stash[STARTED]:
        reporter.write_line(server.down())


STARTED = pytest.StashKey[bool]()
BASELINE = pytest.StashKey[int]()
