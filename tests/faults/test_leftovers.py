"""More of what tests/test_registry.py checks, slower or harsher: `make clean` after a
crash, starts killed with SIGKILL, a clean during a start, a second checkout, a command
killed while it used the server."""

from __future__ import annotations

import os
import signal
import sys

from dbconn.server import free_port
from fault_tools import (Checkout, answers, checkout, children_named, clean, nothing_left, one_line,  # noqa: F401
                         private_server_owner, start_under_way, wait_for, held_server)


def test_clean_after_a_corrupted_record_stops_the_server(checkout):
    port = free_port()
    assert checkout.run("db", "up", MYSQL_PORT=port).returncode == 0
    [record] = checkout.records()
    record.write_text("{")
    result = clean(checkout)
    assert result.returncode == 0, result.stderr
    assert "found by its command line (it had no record)" in result.stdout
    assert f"Removed the unreadable record {record}." in result.stdout
    assert not checkout.state.exists()
    nothing_left(checkout, port)


def test_clean_and_the_next_start_stop_a_killed_owners_private_server(checkout):
    for how in ("clean", "db up"):
        owner = private_server_owner(checkout)
        port = int(owner.stdout.readline())
        owner.kill()
        owner.wait()
        if how == "clean":
            result = clean(checkout)
        else:
            lab_port = free_port()
            result = checkout.run("db", "up", MYSQL_PORT=lab_port)
            assert checkout.run("db", "down", MYSQL_PORT=lab_port).returncode == 0
        assert result.returncode == 0, result.stderr
        assert f"Stopped the private server on 127.0.0.1:{port} (pid " in result.stdout, how
        nothing_left(checkout, port)


def test_a_start_killed_with_sigkill_is_cleaned_by_the_next_command(checkout):
    port = free_port()
    starting = checkout.start("db", "up", MYSQL_PORT=port)
    start_under_way(starting)
    os.killpg(starting.pid, signal.SIGKILL)
    starting.wait()
    after = checkout.run("db", "down", MYSQL_PORT=port)
    assert after.returncode == 0, after.stderr
    nothing_left(checkout, port)
    assert checkout.records() == []


def test_an_interrupted_private_server_start_leaves_no_data_dir(checkout, tmp_path):
    owner = checkout.python("from dbconn import server\nwith server.private_server():\n    pass",
                            **held_server(tmp_path / "bin"))
    start_under_way(owner)
    os.killpg(owner.pid, signal.SIGINT)
    _, err = owner.communicate(timeout=60)
    assert "KeyboardInterrupt" in err  # the owner's own report: it was interrupted
    nothing_left(checkout)
    assert checkout.records() == []


def test_clean_waits_for_a_start_and_never_deletes_state_under_a_server(checkout):
    port = free_port()
    starting = checkout.start("db", "up", MYSQL_PORT=port)
    start_under_way(starting)
    cleaning = clean(checkout)
    starting.communicate(timeout=60)
    assert cleaning.returncode == 0, cleaning.stderr
    assert starting.returncode == 0  # the start finished; then clean stopped what it started
    assert f"Stopped the throwaway server on 127.0.0.1:{port} (pid " in cleaning.stdout
    nothing_left(checkout, port)
    assert not checkout.state.exists()


def test_a_second_checkout_is_refused_and_cannot_stop_the_first_ones_server(tmp_path):
    first, second = Checkout(tmp_path / "first"), Checkout(tmp_path / "second")
    port = free_port()
    try:
        assert first.run("db", "up", MYSQL_PORT=port).returncode == 0
        result = second.run("db", "run", "--", "true", MYSQL_PORT=port)
        assert result.returncode == 2 and "MYSQL_PORT=" in one_line(result)
        assert "nothing stopped" in second.run("db", "down", MYSQL_PORT=port).stdout
        assert clean(second).returncode == 0
        assert "answers" in first.run("db", "status", MYSQL_PORT=port).stdout
    finally:
        first.stop_everything()
        second.stop_everything()


def test_db_stop_does_not_stop_a_server_in_use(checkout, tmp_path):
    port = free_port()
    go = tmp_path / "may-end"
    user = checkout.start("db", "run", "--", sys.executable, "-c",
                          f"import pathlib, time\nwhile not pathlib.Path({str(go)!r}).exists(): time.sleep(0.02)",
                          MYSQL_PORT=port)
    wait_for(lambda: answers(port) and list(checkout.state.glob(f"run/lease-{port}-*.json")), what="the lease")
    down = checkout.run("db", "down", MYSQL_PORT=port)
    assert down.stdout.startswith(f"The throwaway server on 127.0.0.1:{port} is in use by ")
    assert "it stops when that ends." in down.stdout and answers(port)
    go.touch()
    out, _ = user.communicate(timeout=120)
    assert f"Stopped the throwaway server on 127.0.0.1:{port}" in out
    nothing_left(checkout, port)


def test_a_server_left_by_a_killed_command_is_stopped_by_the_next_one(checkout):
    port = free_port()
    user = checkout.start("db", "run", "--", "sleep", "600", MYSQL_PORT=port)
    sleeper = wait_for(lambda: children_named(user.pid, ("sleep",)), what="the command to run")
    os.kill(user.pid, signal.SIGKILL)  # `db run` only: its command is in a group of its own
    user.wait()
    os.kill(sleeper[0], signal.SIGKILL)
    assert answers(port)
    assert "in use by nothing" in checkout.run("db", "status", MYSQL_PORT=port).stdout  # status only looks
    result = checkout.run("db", "down", MYSQL_PORT=free_port())
    assert f"Stopped the throwaway server on 127.0.0.1:{port} (pid " in result.stdout
    assert "the command it was started for had exited." in result.stdout
    nothing_left(checkout, port)
