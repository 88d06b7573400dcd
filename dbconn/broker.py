"""A throwaway message broker for the Celery pages: Debian's ``redis-server`` on
127.0.0.1, on a free port, with its own temporary directory, stopped and removed
when the ``with`` block ends. The same lifecycle as ``server.private_server``: it is
recorded in ``dbconn.registry`` while it runs, so a broker whose owner was killed is
found and stopped by the next lab command, ``make db-stop`` or ``make clean``.

    with redis_server() as broker:
        app = Celery(broker=broker.url)

It keeps nothing on disk (no RDB snapshots, no append-only file): a crash loses
only queued test messages. When it cannot start, ``ServerError`` says why in one line.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from . import registry
from .server import ServerError, free_port

START_TIMEOUT = 10.0  # seconds for the first PONG; Redis usually answers within 50 ms


@dataclass
class Broker:
    port: int
    home: Path
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log(self) -> Path:
        return self.home / "redis.log"


def _binary() -> str:
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/bin", "/usr/sbin"])
    path = shutil.which("redis-server", path=search)
    if path is None:
        raise ServerError("redis-server is not installed: `make venv` installs it (or apt-get install redis-server).")
    return path


def ping(port: int, timeout: float = 1.0) -> bool:
    """Does a Redis answer PING on 127.0.0.1:port?"""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def redis_server():
    """A Redis of our own for one notebook or test. Yields a Broker (.url, .port);
    stops it and removes its files on exit."""
    binary = _binary()
    port = free_port()
    registry.sweep()
    home = registry.new_home("redis")  # named in the command line: found even without its record
    command = [
        binary, "--bind", "127.0.0.1", "--port", str(port), "--protected-mode", "yes",
        "--dir", str(home), "--logfile", str(home / "redis.log"), "--pidfile", str(home / "redis.pid"),
        "--save", "", "--appendonly", "no", "--daemonize", "no", "--unixsocket", "",
    ]
    try:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError as exc:
        shutil.rmtree(home, ignore_errors=True)
        raise ServerError(f"redis-server could not be started: {exc}") from None
    broker = Broker(port, home, process)
    with registry.registered("redis", process.pid, port=port, home=home,
                             what=f"the Redis broker on 127.0.0.1:{port}"):
        _wait_for_pong(broker)
        yield broker


def _wait_for_pong(broker: Broker) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not ping(broker.port, timeout=0.5):
        if broker.process.poll() is not None:
            raise ServerError(f"redis-server exited at start: {_last_log_line(broker)}")
        if time.monotonic() > deadline:
            raise ServerError(f"redis-server did not answer PING within {START_TIMEOUT:.0f} s: {_last_log_line(broker)}")
        time.sleep(0.01)


def _last_log_line(broker: Broker) -> str:
    try:
        lines = [line for line in broker.log.read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        return "no log was written"
    return lines[-1].split(" * ", 1)[-1].split(" # ", 1)[-1] if lines else f"see {broker.log}"

