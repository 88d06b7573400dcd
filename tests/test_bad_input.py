"""Bad input, endpoints that are not MySQL servers, and interrupts: every command answers
with one line that says what to do, a documented exit code, within a bounded time, and
without a traceback. The bound is a subprocess timeout: a hang fails the test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request

import pytest

from dbconn.server import free_port
from fault_tools import FAKE_GREETING, ROOT, SSH_BANNER, answers, listener, one_line, wait_for

BOUND = 60  # seconds: the doctor's handshake timeout is 5 s per step; generous for a loaded machine


def dbconn(*args, bound=BOUND, **env):
    return subprocess.run([sys.executable, "-m", "dbconn", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=bound, env={**os.environ, **{k: str(v) for k, v in env.items()}})


def url(port, password="pw"):
    return f"mysql+pymysql://someone:{password}@127.0.0.1:{port}/db"


# --------------------------------------------------------------------------- doctor


def test_doctor_on_a_port_that_never_greets():
    with listener() as (port, accepted):
        result = dbconn("doctor", "--url", url(port))
        assert accepted.is_set()
    assert result.returncode == 2
    assert one_line(result) == (
        f"error: cannot connect to 127.0.0.1:{port}: it accepted the connection but no complete MySQL greeting "
        f"came within 5 s: is it a MySQL server? check the host and port")


@pytest.mark.parametrize("timeout, line", [("1", "no complete MySQL greeting came within 1 s"),
                                           ("0", "argument --timeout: '0' is not a whole number of 1 or more")])
def test_doctor_handshake_timeout_is_the_readers_choice(timeout, line):
    with listener() as (port, _):
        result = dbconn("doctor", "--url", url(port), "--timeout", timeout)
    assert result.returncode == 2
    assert line in one_line(result)


def test_doctor_on_a_port_that_sends_another_banner():
    with listener(SSH_BANNER) as (port, _):
        result = dbconn("doctor", "--url", url(port))
    assert result.returncode == 2
    line = one_line(result)
    assert "what it sent is not a MySQL greeting (Packet sequence number wrong" in line and "MySQL server?" in line


def test_doctor_on_a_fake_greeting():
    with listener(FAKE_GREETING) as (port, _):
        result = dbconn("doctor", "--url", url(port))
    assert result.returncode == 2 and "no complete MySQL greeting came within 5 s" in one_line(result)


@pytest.mark.parametrize("bad_url, expected", [
    ("not-a-url", "--url is not a URL: use mysql+pymysql://user:password@host:port/db"),
    ("[::1", "--url is not a URL: use mysql+pymysql://"),
    ("mysql+pymysql://app:s3cret@127.0.0.1:abc/demo", "--url cannot be read (invalid literal for int()"),
    ("mysql+pymysql://app:s3cret@[::1/demo", "--url cannot be read ("),
    ("mysql+pymysql://app:s3cret@127.0.0.1:99999/demo", "--url's port 99999 is not a TCP port (1-65535)"),
    ("postgresql://app:s3cret@127.0.0.1/demo", "postgresql:// is not a MySQL URL"),
])
def test_doctor_malformed_url(bad_url, expected):
    result = dbconn("doctor", "--url", bad_url)
    assert result.returncode == 2
    line = one_line(result)
    assert line.startswith(f"error: {expected}"), line
    assert "s3cret" not in line  # never repeat a password


# --------------------------------------------------------------------------- usage and settings


@pytest.mark.parametrize("args, expected", [
    (("doctor", "--processes", "abc"), "error: argument --processes: 'abc' is not a whole number of 1 or more"),
    (("doctor", "--threads", "0"), "error: argument --threads: '0' is not a whole number of 1 or more"),
    (("db", "start"), "error: argument action: invalid choice: 'start'"),
    (("db", "up", "now"), "error: `db up` takes no arguments"),
    (("db", "run"), "error: `db run` needs a command: python -m dbconn db run -- pytest"),
    (("serve", "--port", "http"), "error: argument --port: 'http' is not a TCP port (1-65535)"),
    ((), "error: the following arguments are required: command"),
])
def test_usage_errors(args, expected):
    result = dbconn(*args)
    assert result.returncode == 2 and one_line(result).startswith(expected)


@pytest.mark.parametrize("args", [("db", "up"), ("db", "down"), ("db", "status"), ("db", "run", "--", "true"),
                                  ("doctor",), ("matrix",)])
def test_a_port_that_is_not_a_number(args):
    result = dbconn(*args, MYSQL_PORT="33o7")
    assert result.returncode == 2
    assert one_line(result) == ("error: MYSQL_PORT='33o7' is not a TCP port (1-65535): set a free port, "
                                "e.g. MYSQL_PORT=3308, or unset it.")


def test_an_unknown_server_choice_is_an_error_not_local():
    result = dbconn("db", "up", MYSQL_PORT=free_port(), DBCONN_SERVER="dokcer")
    assert result.returncode == 2
    assert one_line(result) == ("error: DBCONN_SERVER='dokcer' is not one of docker, local: fix it, "
                                "or unset it to let the lab choose.")


def test_docker_asked_for_where_there_is_no_docker(tmp_path):
    # A PATH without any `docker`: the message says exactly that.
    result = dbconn("db", "up", MYSQL_PORT=free_port(), DBCONN_SERVER="docker", PATH=str(tmp_path))
    assert result.returncode == 2
    assert one_line(result) == ("error: DBCONN_SERVER=docker, but no `docker` command is installed: start Docker, "
                                "or unset DBCONN_SERVER to use a local server.")


@pytest.mark.parametrize("sends", [b"", SSH_BANNER, FAKE_GREETING], ids=["silent", "banner", "fake-greeting"])
def test_db_up_on_a_port_held_by_something_else(sends):
    # Not the admin account's fault: the port's.
    with listener(sends) as (port, _):
        result = dbconn("db", "up", MYSQL_PORT=port, DBCONN_SERVER="local")
    line = one_line(result)
    assert result.returncode == 2
    assert line.startswith(f"error: Port {port} on 127.0.0.1 is taken by something that is not a MySQL server (")
    assert "MYSQL_PORT=" in line and "admin account" not in line


def test_help_documents_every_exit_code():
    helps = [dbconn(*args, "--help").stdout for args in ((), ("db",), ("doctor",))]
    readme = (ROOT / "README.md").read_text()
    for text in helps:
        for code in ("0 ", "1 ", "2 ", "127 ", "130 "):
            assert f"\n  {code}" in text, (code, text)
    for code in ("`0`", "`1`", "`2`", "`127`", "`130`", "`143`"):
        assert code in readme


# --------------------------------------------------------------------------- interrupts


@pytest.mark.parametrize("sig, code, line", [(signal.SIGINT, 130, "error: interrupted"),
                                             (signal.SIGTERM, 143, "error: terminated")])
def test_doctor_interrupted_during_the_handshake(sig, code, line):
    with listener() as (port, accepted):
        # A handshake timeout longer than BOUND: the signal, not the timeout, ends it, however late it lands.
        doctor = subprocess.Popen([sys.executable, "-m", "dbconn", "doctor", "--url", url(port), "--timeout",
                                   str(BOUND * 2)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for(accepted.is_set, what="the doctor to connect")
        doctor.send_signal(sig)
        out, err = doctor.communicate(timeout=BOUND)
    assert doctor.returncode == code
    assert one_line(subprocess.CompletedProcess([], code, out, err)) == line


# --------------------------------------------------------------------------- serve and notebooks


def test_serve_says_when_its_port_is_taken(tmp_path):
    (tmp_path / "index.html").write_text("<p>site</p>")
    with listener() as (port, _):
        result = dbconn("serve", "--port", port, "--directory", tmp_path)
    assert result.returncode == 2
    assert one_line(result).startswith(f"error: port {port} on 127.0.0.1 is in use by another program: "
                                       f"choose another (make serve SERVE_PORT=")


def test_notebooks_says_when_its_port_is_taken():
    with listener() as (port, _):
        result = dbconn("notebooks", "--port", port)
    assert result.returncode == 2
    assert one_line(result).startswith(f"error: port {port} on 127.0.0.1 is in use by another program: "
                                       f"choose another (make notebooks JUPYTER_PORT=")


def test_serve_on_a_chosen_port_then_ctrl_c(tmp_path):
    (tmp_path / "index.html").write_text("<p>the site</p>")
    port = free_port()
    serving = subprocess.Popen([sys.executable, "-m", "dbconn", "serve", "--port", str(port), "--directory",
                                str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert serving.stdout.readline() == f"Serving {tmp_path} on http://127.0.0.1:{port}/ (Ctrl-C to stop)\n"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:
            assert page.read() == b"<p>the site</p>"
    finally:
        serving.send_signal(signal.SIGINT)
        try:
            out, err = serving.communicate(timeout=BOUND)
        except subprocess.TimeoutExpired:
            serving.kill()  # the test fails; the server must not outlive it
            raise
    assert serving.returncode == 130 and err.strip().splitlines()[-1] == "error: interrupted"
    assert "Traceback" not in err and not answers(port)
