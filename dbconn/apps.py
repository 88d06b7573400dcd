"""Programs the lab runs in the foreground: a command under `db run`, JupyterLab
(`make notebooks`) and the built site's web server (`make serve`), each on
127.0.0.1 and on a port of the user's choice, as root or as a normal user.

Interrupts: Ctrl-C in a terminal reaches the whole foreground process group, so
the child gets it itself and we wait for it to finish its own clean-up; a signal
sent to us alone (SIGTERM, SIGHUP, or SIGINT from a script) is passed on to it.
"""

from __future__ import annotations

import errno
import functools
import http.server
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from . import registry
from .server import free_port_near

NOTEBOOKS = registry.ROOT / "notebooks"


class CannotRun(Exception):
    """A program could not be started: one line that says what to do."""


def run_foreground(command: list[str], kind: str | None = None, port: int | None = None) -> int:
    """Run `command` to its end and return its exit status (128 + N when signal N ended it).
    With `kind`, the child is recorded in the registry while it runs, owned by us."""
    try:
        child = subprocess.Popen(command)
    except OSError as exc:
        raise CannotRun(f"cannot run {command[0]!r}: {exc.strerror}") from None

    def pass_on(number, frame):
        if number == signal.SIGINT and _terminal_foreground():
            return  # the terminal sent it to the child as well
        try:
            child.send_signal(number)
        except ProcessLookupError:
            pass

    record = registry.register(kind, child.pid, port=port) if kind else None
    previous = {sig: signal.signal(sig, pass_on) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        status = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if record:
            registry.unregister(record)
    return 128 - status if status < 0 else status


def _terminal_foreground() -> bool:
    """We (and so our child) are the terminal's foreground process group."""
    try:
        with open("/dev/tty") as tty:
            return os.tcgetpgrp(tty.fileno()) == os.getpgrp()
    except OSError:
        return False


def check_port(port: int, how_to_change: str) -> None:
    """Raise CannotRun, in one line, when 127.0.0.1:port cannot be listened on."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise CannotRun(_port_problem(port, exc, how_to_change)) from None


def _port_problem(port: int, exc: OSError, how_to_change: str) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} on 127.0.0.1 is in use by another program: choose another ({how_to_change}{free_port_near(port)})"
    if exc.errno == errno.EACCES:
        return f"port {port} needs root (ports below 1024 do): choose another ({how_to_change}8000)"
    return f"cannot listen on 127.0.0.1:{port} ({exc.strerror}): choose another port ({how_to_change}...)"


def serve(directory: Path, port: int) -> int:
    """Serve the built site on 127.0.0.1:port until interrupted."""
    if not (directory / "index.html").exists():
        raise CannotRun(f"no site in {directory}: build it first (make html)")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    try:
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as exc:
        raise CannotRun(_port_problem(port, exc, "make serve SERVE_PORT=")) from None
    with httpd:
        print(f"Serving {directory} on http://127.0.0.1:{port}/ (Ctrl-C to stop)", flush=True)
        httpd.serve_forever()
    return 0


def notebooks(port: int) -> int:
    """JupyterLab on 127.0.0.1:port, on the notebooks folder, until it is stopped."""
    check_port(port, "make notebooks JUPYTER_PORT=")
    command = [sys.executable, "-m", "jupyterlab", "--ip=127.0.0.1", f"--port={port}",
               "--ServerApp.port_retries=0",  # the port asked for, or a clear failure: never another one
               f"--notebook-dir={NOTEBOOKS}"]
    if os.geteuid() == 0:
        command.append("--allow-root")  # JupyterLab refuses root without it
    return run_foreground(command, kind="jupyter", port=port)
