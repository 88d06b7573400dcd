"""Programs the lab runs in the foreground: a command under `db run`, JupyterLab
(`make notebooks`) and the built site's web server (`make serve`), each on
127.0.0.1 and on a port of the user's choice, as root or as a normal user.

Interrupts: the child gets each signal once, and we wait for it to finish its own
clean-up (see run_foreground).
"""

from __future__ import annotations

import email.utils
import errno
import functools
import gzip
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
    With `kind`, the child is recorded in the registry while it runs, owned by us.

    The child runs in a process group of its own, which a shell's job control would give
    it: a signal sent to our group (a script's `kill -INT -PGID`) is passed on to it once,
    never twice. In a terminal, its group is made the foreground one, so ^C goes to it
    alone and it can prompt (JupyterLab's "Shutdown this Jupyter server?")."""
    terminal = _terminal_if_foreground()

    def own_group():  # in the child, before exec
        os.setpgid(0, 0)
        if terminal is not None:
            _hand_terminal(terminal, os.getpgrp())

    try:
        child = subprocess.Popen(command, preexec_fn=own_group)
    except OSError as exc:
        raise CannotRun(f"cannot run {command[0]!r}: {exc.strerror}") from None

    def pass_on(number, frame):
        try:
            os.killpg(child.pid, number)
        except ProcessLookupError:
            pass

    record = registry.register(kind, child.pid, port=port) if kind else None
    previous = {sig: signal.signal(sig, pass_on) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        status = child.wait()
    finally:
        if terminal is not None:
            _hand_terminal(terminal, os.getpgrp())
            os.close(terminal)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if record:
            registry.unregister(record)
    return 128 - status if status < 0 else status


def _terminal_if_foreground() -> int | None:
    """A descriptor of our controlling terminal when our process group is its foreground one."""
    try:
        terminal = os.open("/dev/tty", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if os.tcgetpgrp(terminal) == os.getpgrp():
            return terminal
    except OSError:
        pass
    os.close(terminal)
    return None


def _hand_terminal(terminal: int, group: int) -> None:
    """Make `group` the terminal's foreground group (as a shell does; SIGTTOU would stop a caller in the background)."""
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.tcsetpgrp(terminal, group)
    except OSError:
        pass
    finally:
        signal.signal(signal.SIGTTOU, previous)


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


class SiteHandler(http.server.SimpleHTTPRequestHandler):
    """Static files as any web host sends them: text compressed with gzip for a browser
    that accepts it (what the site weighs is what it transfers). Pagefind's own files are
    compressed already and go as they are."""

    COMPRESSED_TYPES = (".html", ".css", ".js", ".json", ".svg", ".txt", ".xml", ".md", ".map")
    _cache: dict[tuple[str, float], bytes] = {}

    def do_GET(self):
        path = self.translate_path(self.path)
        if os.path.isdir(path) and self.path.split("?", 1)[0].endswith("/"):
            path = os.path.join(path, "index.html")
        if not (path.endswith(self.COMPRESSED_TYPES) and os.path.isfile(path)
                and "gzip" in self.headers.get("Accept-Encoding", "")):
            return super().do_GET()
        modified = os.path.getmtime(path)
        body = self._cache.get((path, modified))
        if body is None:
            with open(path, "rb") as source:
                body = self._cache[(path, modified)] = gzip.compress(source.read(), mtime=0)
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Vary", "Accept-Encoding")
        self.send_header("Last-Modified", email.utils.formatdate(modified, usegmt=True))
        self.end_headers()
        self.wfile.write(body)


class SiteServer(http.server.ThreadingHTTPServer):
    """A browser that leaves a page mid-download (a search typed on, a tab closed) is not
    the server's problem: no traceback for it."""

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


def serve(directory: Path, port: int) -> int:
    """Serve the built site on 127.0.0.1:port until interrupted."""
    if not os.access(directory / "index.html", os.R_OK):
        raise CannotRun(f"no site to read in {directory}: build it first (make html), or check its permissions")
    handler = functools.partial(SiteHandler, directory=str(directory))
    try:
        httpd = SiteServer(("127.0.0.1", port), handler)
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
