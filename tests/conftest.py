"""The test session brings its own server: it starts one if none answers, stops it
afterwards if it started it (and nothing else uses it), and fails if the server ends
with more connections than it started with. Under pytest-xdist this happens once,
in the controller.

The site is built as `make html` builds it (`python -m dbconn.pipeline`), executing
every notebook once; the tests read that build. Under pytest-xdist, the second worker
to ask waits for the first one's build and finds nothing left to do."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dbconn import introspect, server

ROOT = Path(__file__).parent.parent

# Tests signal the commands they start as a terminal does (Ctrl-C, a hang-up). A test run
# started by a script in the background (`cmd &`) inherits SIGINT ignored, under nohup
# SIGHUP, and so would every command it starts. An ignored signal stays ignored across
# exec, a handled one is reset to its default: so the run keeps ignoring them (a handler
# that does nothing) and its commands get a terminal's defaults.
for _sig in (signal.SIGINT, signal.SIGHUP):
    if signal.getsignal(_sig) == signal.SIG_IGN:
        signal.signal(_sig, lambda number, frame: None)
FAULTS = Path(__file__).parent / "faults"


@pytest.fixture(scope="session")
def build() -> subprocess.CompletedProcess:
    """The site build that the site and notebook tests read (not asserted here: the
    notebook tests report each notebook's problems even when the build failed)."""
    return subprocess.run([sys.executable, "-m", "dbconn.pipeline", "-W", "--keep-going", "-n", "-q"],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)


def pytest_ignore_collect(collection_path, config):
    """tests/faults (`make test-faults`: slow, harsh) runs only when named on the command line."""
    if collection_path == FAULTS:
        named = (config.invocation_params.dir / arg.split("::")[0] for arg in config.args)
        return not any(path.resolve().is_relative_to(FAULTS) for path in named)
    return None


def _is_worker(config) -> bool:
    return hasattr(config, "workerinput")


def pytest_sessionstart(session):
    if _is_worker(session.config):
        return
    try:
        lease = server.acquire()
    except server.ServerError as exc:
        pytest.exit(f"error: {exc}", returncode=1)
    session.config.stash[LEASE] = lease
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
    said = session.config.stash[LEASE].release()
    if said:
        reporter.write_line(said)


LEASE = pytest.StashKey[server.Lease]()
BASELINE = pytest.StashKey[int]()
