"""The server lifecycle and every bad-input path, through the commands a reader runs.
Each failure must be one line that says what to do, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from dbconn import server
from dbconn.server import free_port

ROOT = Path(__file__).parent.parent


def run(*args, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, **{k: str(v) for k, v in env.items()}},
    )


def db(action, *rest, **env):
    return run("-m", "dbconn", "db", action, *rest, **env)


def one_line_error(result) -> str:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.fixture
def impostor():
    """Something that is not MySQL listening on a port: it greets like a web server."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    threading.Thread(target=serve, daemon=True).start()
    yield port
    listener.close()


def test_port_taken_by_something_else(impostor):
    line = one_line_error(db("up", MYSQL_PORT=impostor))
    assert f"Port {impostor} on 127.0.0.1 is taken by something that is not a MySQL server" in line
    assert "MYSQL_PORT=" in line


def test_wrong_credentials():
    line = one_line_error(db("up", MYSQL_ADMIN_PASSWORD="wrong"))
    assert "rejects the lab's admin account" in line and "Access denied" in line


def test_docker_asked_for_but_not_usable():
    if server._docker_engine() == "up":
        pytest.skip("a Docker engine answers here")
    line = one_line_error(db("up", MYSQL_PORT=free_port(), DBCONN_SERVER="docker"))
    assert line.startswith("error: DBCONN_SERVER=docker, but ")


def test_no_local_server_for_a_remote_host():
    line = one_line_error(db("up", MYSQL_HOST="127.0.0.2", MYSQL_PORT=free_port()))
    assert "the lab starts servers on 127.0.0.1 only" in line


def test_up_twice_then_down_stops_only_ours():
    port = free_port()
    first = db("up", MYSQL_PORT=port, DBCONN_SERVER="local")
    assert first.returncode == 0 and "Started a throwaway server" in first.stdout, first.stderr
    try:
        again = db("up", MYSQL_PORT=port, DBCONN_SERVER="local")
        assert again.returncode == 0 and "already answers" in again.stdout and "nothing started" in again.stdout
        elsewhere = db("down", MYSQL_PORT=free_port())
        assert "nothing stopped" in elsewhere.stdout
        assert "answers" in db("status", MYSQL_PORT=port).stdout
    finally:
        stopped = db("down", MYSQL_PORT=port)
    assert "Stopped the throwaway server" in stopped.stdout
    assert "No MySQL server answers" in db("status", MYSQL_PORT=port).stdout


def test_down_leaves_a_server_it_did_not_start_alone():
    with server.private_server() as private:
        result = db("down", MYSQL_PORT=private.port)
        assert "nothing stopped" in result.stdout
        assert "answers" in db("status", MYSQL_PORT=private.port).stdout


def test_run_passes_the_exit_status_through_and_stops_what_it_started():
    port = free_port()
    result = db("run", "--", sys.executable, "-c", "raise SystemExit(3)", MYSQL_PORT=port, DBCONN_SERVER="local")
    assert result.returncode == 3
    assert "Started a throwaway server" in result.stdout and "Stopped the throwaway server" in result.stdout


def test_examples_say_make_db_when_no_server_answers():
    port = free_port()
    for example in sorted((ROOT / "examples").glob("*.py")):
        line = one_line_error(run(str(example), MYSQL_PORT=port))
        assert f"127.0.0.1:{port}" in line and "make db" in line, example.name


def test_build_says_make_db_when_no_server_answers(tmp_path):
    port = free_port()
    result = run("-m", "sphinx", "-b", "html", "-q", str(ROOT), str(tmp_path), MYSQL_PORT=port)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"No MySQL server answers at 127.0.0.1:{port}: start one with `make db`" in result.stderr


def test_tests_say_what_to_do_when_no_server_can_be_had():
    if server._docker_engine() == "up":
        pytest.skip("a Docker engine answers here")
    result = run("-m", "pytest", "-p", "no:xdist", "-p", "no:cacheprovider", "tests/test_examples.py",
                 MYSQL_PORT=free_port(), DBCONN_SERVER="docker")
    assert result.returncode != 0 and "Traceback" not in result.stdout + result.stderr
    assert "error: DBCONN_SERVER=docker, but " in result.stdout + result.stderr


def test_notebook_says_make_db_when_no_server_answers(tmp_path, monkeypatch):
    from notebook_runner import run_notebook
    from test_notebook_runner import notebook

    port = free_port()
    monkeypatch.setenv("MYSQL_PORT", str(port))  # the kernel inherits it
    problems = run_notebook(notebook(tmp_path, "import dbconn\ndbconn.require()"))
    assert problems == [
        f"cell 0 raised an undeclared error: ServerError: No MySQL server answers at 127.0.0.1:{port}: "
        f"start one with `make db` (or set MYSQL_HOST/MYSQL_PORT)."
    ]
