"""Signals to `db run` (what `make html`, `make test`, `make notebooks` run under): the
command gets the signal and ends its own way, the server started for it is stopped,
the exit code is the command's. Ctrl-C is typed into a real terminal (a pty)."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import time

import pytest

from dbconn.server import free_port
from fault_tools import Checkout, answers, children_named, wait_for

# The command under `db run`: says it runs, then waits; a signal ends it (Python's default handling).
WAITER = "import time\nprint('running', flush=True)\ntime.sleep(600)"
# One that cleans up on Ctrl-C, taking a moment: a second SIGINT during it would show.
CAREFUL = ("import sys, time\ntry:\n    print('running', flush=True)\n    time.sleep(600)\n"
           "except KeyboardInterrupt:\n    print('command cleans up', flush=True)\n    time.sleep(0.5)\n"
           "    sys.exit(130)")


@pytest.fixture
def checkout(tmp_path):
    copy = Checkout(tmp_path / "checkout")
    yield copy
    copy.stop_everything()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_to_db_run_reaches_its_command_and_the_server_stops(checkout, sig):
    port = free_port()
    running = checkout.start("db", "run", "--", sys.executable, "-c", WAITER, MYSQL_PORT=port)
    wait_for(lambda: children_named(running.pid, ("python3", "python")), what="the command")
    assert running.stdout.readline().startswith(f"Started a throwaway server at 127.0.0.1:{port}")
    assert running.stdout.readline() == "running\n"
    running.send_signal(sig)  # to `db run` alone, as a supervisor or a script sends it
    out, err = running.communicate(timeout=120)
    assert running.returncode == 128 + sig
    assert f"Stopped the throwaway server on 127.0.0.1:{port} (pid " in out
    assert not answers(port) and checkout.processes() == [] and checkout.data_dirs() == []
    assert checkout.records() == []


class Terminal:
    """`db run -- CMD` in a terminal of its own (a pty), as a person runs `make ...`."""

    def __init__(self, checkout, port, *cmd):
        self.master, terminal = pty.openpty()
        self.process = subprocess.Popen(
            checkout.command("db", "run", "--", *cmd), cwd=checkout.path, env=checkout.env(MYSQL_PORT=port),
            stdin=terminal, stdout=terminal, stderr=terminal,
            start_new_session=True, preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        os.close(terminal)
        self.seen = b""

    def read_until(self, text: bytes, timeout: float = 60) -> bool:
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            ready, _, _ = select.select([self.master], [], [], max(0.0, deadline - time.monotonic()))
            assert ready, f"no {text!r} within {timeout} s: {self.seen!r}"
            chunk = os.read(self.master, 4096)
            assert chunk, self.seen
            self.seen += chunk
        return True

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def close(self) -> str:
        self.process.kill()
        self.process.wait()
        os.close(self.master)
        return self.seen.decode(errors="replace")


def test_ctrl_c_in_a_terminal(checkout):
    """^C typed in a terminal: the command gets it once and cleans up, `db run` waits for
    it, then stops the server."""
    port = free_port()
    terminal = Terminal(checkout, port, sys.executable, "-c", CAREFUL)
    try:
        terminal.read_until(b"running")
        terminal.type(b"\x03")  # ^C
        terminal.read_until(b"Stopped the throwaway server")
        assert terminal.process.wait(timeout=120) == 130  # the command's own exit status
    finally:
        text = terminal.close()
    assert text.count("command cleans up") == 1 and "Traceback" not in text, text
    assert not answers(port) and checkout.processes() == [] and checkout.records() == []


def test_the_command_reads_the_terminal(checkout):
    """The command owns the terminal while it runs: it can prompt (JupyterLab asks before it
    shuts down); a command in a background group would be stopped by SIGTTIN instead."""
    port = free_port()
    terminal = Terminal(checkout, port, sys.executable, "-c", "print('ready', flush=True)\nprint('got', input())")
    try:
        terminal.read_until(b"ready")
        terminal.type(b"yes\n")
        terminal.read_until(b"got yes")
        assert terminal.process.wait(timeout=120) == 0
    finally:
        terminal.close()
    assert not answers(port)
