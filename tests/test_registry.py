"""Nothing the lab starts outlives it unnoticed, nothing is stopped under another user of
it, and messages say exactly what happened. Each test runs in a copy of the checkout
(its own .state, registry and temp dirs) on a free port, and ends by checking what is
left: processes, data directories, records, the port. More cases, slower or harsher,
are in tests/faults/test_leftovers.py (`make test-faults`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pymysql
import pytest

import dbconn
from dbconn import registry, server
from dbconn.server import free_port
from fault_tools import (Checkout, answers, checkout, nothing_left, one_line, private_server_owner,  # noqa: F401
                         server_under_way, wait_for, held_server)

# --------------------------------------------------------------------------- messages say what happened


def test_a_stale_record_whose_pid_was_reused_is_not_stopped(checkout):
    port = free_port()
    bystander = subprocess.Popen(["sleep", "600"])  # the program that now has the recorded pid
    try:
        record = {"key": f"server-{port}", "kind": "server", "pid": bystander.pid, "pid_start": 1, "port": port,
                  "home": str(checkout.path / ".state" / f"mariadb-{port}"), "owner": None, "keep": True,
                  "what": f"the throwaway server on 127.0.0.1:{port}"}
        (checkout.state / "run").mkdir(parents=True)
        (checkout.state / "run" / f"server-{port}.json").write_text(json.dumps(record))
        result = checkout.run("db", "down", MYSQL_PORT=port)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == (f"The throwaway server on 127.0.0.1:{port} (pid {bystander.pid}) "
                                         f"was no longer running.")
        assert bystander.poll() is None  # not signalled
        assert checkout.records() == []
    finally:
        bystander.kill()
        bystander.wait()


def test_down_says_when_nothing_was_stopped(checkout):
    port = free_port()
    result = checkout.run("db", "down", MYSQL_PORT=port)
    assert result.stdout.strip() == f"No server started by this checkout runs on port {port}; nothing stopped."


# --------------------------------------------------------------------------- leftovers


def test_a_corrupted_record_does_not_orphan_the_server(checkout):
    port = free_port()
    started = checkout.run("db", "up", MYSQL_PORT=port)
    assert started.returncode == 0, started.stderr
    [record] = checkout.records()
    record.write_text('{"kind": "serv')  # a disk that filled up, an editor
    result = checkout.run("db", "down", MYSQL_PORT=port)
    assert result.returncode == 0, result.stderr
    assert f"Stopped the throwaway server on port {port} (pid " in result.stdout
    assert "found by its data directory: it had no readable record." in result.stdout
    assert f"Removed the unreadable record {record}." in result.stdout
    nothing_left(checkout, port)
    assert checkout.records() == []


def test_the_private_server_of_a_killed_owner_is_found_and_stopped(checkout):
    owner = private_server_owner(checkout)
    port = int(owner.stdout.readline())
    owner.kill()  # SIGKILL: no clean-up of its own
    owner.wait()
    assert answers(port)  # still running: an orphan
    result = checkout.run("db", "down", MYSQL_PORT=free_port())
    assert result.returncode == 0, result.stderr
    assert (f"Stopped the private server on 127.0.0.1:{port} (pid " in result.stdout
            and f"removed its files: its owner (pid {owner.pid}) had exited." in result.stdout)
    nothing_left(checkout, port)


@pytest.mark.parametrize("phase", ["initialising", "starting"])
def test_an_interrupted_start_leaves_no_data_dir(checkout, tmp_path, phase):
    port = free_port()
    held = held_server(tmp_path / "bin")
    starting = checkout.start("db", "up", MYSQL_PORT=port, **held)
    server_under_way(starting, phase, held)
    os.killpg(starting.pid, signal.SIGINT)  # Ctrl-C, to the whole group
    out, err = starting.communicate(timeout=60)
    assert starting.returncode == 130
    assert one_line(subprocess.CompletedProcess([], 130, out, err)) == "error: interrupted"
    nothing_left(checkout, port)
    assert checkout.records() == []


# --------------------------------------------------------------------------- sharing


def test_two_checkouts_starting_on_one_port_at_the_same_instant(tmp_path):
    first, second = Checkout(tmp_path / "first"), Checkout(tmp_path / "second")
    port = free_port()
    try:
        racing = [first.start("db", "up", MYSQL_PORT=port), second.start("db", "up", MYSQL_PORT=port)]
        results = [(p, *p.communicate(timeout=120)) for p in racing]
        losers = [r for r in results if r[0].returncode != 0]
        assert len(losers) == 1, results
        loser, _, err = losers[0]
        assert loser.returncode == 2
        line = one_line(subprocess.CompletedProcess([], 2, "", err))
        assert line.startswith(f"error: Port {port} is used by the lab server of another checkout (pid ")
        assert "use another port here, e.g. MYSQL_PORT=" in line
        lost, won = (first, second) if loser is racing[0] else (second, first)
        nothing_left(lost)
        assert lost.records() == []
        assert "Stopped the throwaway server" in won.run("db", "down", MYSQL_PORT=port).stdout
        nothing_left(won, port)
    finally:
        first.stop_everything()
        second.stop_everything()


def test_commands_of_one_checkout_share_its_server_by_counting(checkout, tmp_path):
    port = free_port()
    go_first, go_second = tmp_path / "first-may-end", tmp_path / "second-may-end"
    wait_then_check = ("import pathlib, sys, time\nfrom dbconn import server\n"
                       "while not pathlib.Path(sys.argv[1]).exists(): time.sleep(0.02)\n"
                       "print('answers:', server.require(), flush=True)")
    first = checkout.start("db", "run", "--", sys.executable, "-c", wait_then_check, str(go_first), MYSQL_PORT=port)
    wait_for(lambda: answers(port), what="the first command's server")
    second = checkout.start("db", "run", "--", sys.executable, "-c", wait_then_check, str(go_second),
                            MYSQL_PORT=port)
    wait_for(lambda: len(list(checkout.state.glob(f"run/lease-{port}-*.json"))) == 2, what="the second lease")
    go_first.touch()  # the command that started the server ends first
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert out.startswith(f"Started a throwaway server at 127.0.0.1:{port}")
    assert f"Left the throwaway server on 127.0.0.1:{port} running: " in out and "still uses it." in out
    go_second.touch()
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    assert "answers: " in out  # the server was still there for it
    assert f"Stopped the throwaway server on 127.0.0.1:{port} (pid " in out
    nothing_left(checkout, port)
    assert checkout.records() == []


# --------------------------------------------------------------------------- shared machines


def test_the_throwaway_server_has_no_passwordless_root_and_a_private_socket():
    with server.private_server() as private:
        with pytest.raises(pymysql.err.OperationalError) as refused:
            pymysql.connect(host="127.0.0.1", port=private.port, user="root", password="", connect_timeout=5)
        assert refused.value.args[0] in (1045, 1130, 1698)
        with dbconn.connect("admin", port=private.port, database=None) as conn, conn.cursor() as cur:
            cur.execute("SELECT user, host, JSON_VALUE(priv, '$.authentication_string') FROM mysql.global_priv "
                        "WHERE user NOT IN ('app', 'admin', 'limited', 'mariadb.sys')")
            accounts = cur.fetchall()
        # root (and the OS user running the lab) log in through the socket only, by OS identity.
        assert {host for _, host, _ in accounts} == {"localhost"}
        assert all(secret == "invalid" for _, _, secret in accounts), accounts
        assert os.stat(private.local.home).st_mode & 0o777 == 0o700
        if os.geteuid() == 0 and os.path.exists("/usr/bin/python3"):  # another user cannot reach the socket
            probe = subprocess.run(
                ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-I", "-c",
                 f"import socket; socket.socket(socket.AF_UNIX).connect({str(private.local.socket)!r})"],
                capture_output=True, text=True, timeout=30)
            assert "PermissionError" in probe.stderr, probe.stderr


# --------------------------------------------------------------------------- app processes

# An app server in miniature: a master that forks a worker which ignores SIGTERM (as a
# worker busy with a request may); the worker writes its pid into the home it was given.
APP = """import os, signal, sys, time
from pathlib import Path
home = Path(sys.argv[1])
if os.fork() == 0:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    (home / "worker.pid").write_text(str(os.getpid()))
    time.sleep(600)
    sys.exit()
time.sleep(600)
"""


def test_an_app_process_whose_owner_was_killed_is_swept_with_its_workers(checkout):
    """What a notebook starts with registry.start() (gunicorn, Celery workers) is in the
    registry: when the kernel that started it is SIGKILLed, the next sweep (every lab
    start, `make db-stop`, `make clean`) stops it, the worker it forked included."""
    owner = checkout.python(
        "import sys, time\nfrom dbconn import registry\nhome = registry.new_home('app')\n"
        f"app = registry.start('app', [sys.executable, '-c', {APP!r}, str(home)], home=home, what='the test app')\n"
        "print(app.process.pid, home, flush=True)\ntime.sleep(600)\n")
    master, home = owner.stdout.readline().split()
    worker = int(wait_for(lambda: (Path(home) / "worker.pid").exists() and (Path(home) / "worker.pid").read_text(),
                          what="the app's worker"))
    owner.kill()  # SIGKILL: the owner stops nothing
    owner.wait()
    assert registry.proc(int(master)) and registry.proc(worker), "an orphan, still running"
    swept = subprocess.run([sys.executable, "dbconn/registry.py", "sweep"], cwd=checkout.path, capture_output=True,
                           text=True, timeout=120)
    assert swept.returncode == 0, swept.stderr
    assert swept.stdout.strip() == (f"Stopped the test app (pid {master}); removed its files: "
                                    f"its owner (pid {owner.pid}) had exited.")
    assert registry.proc(int(master)) is None and registry.proc(worker) is None
    assert not Path(home).exists() and checkout.records() == []
    nothing_left(checkout)
