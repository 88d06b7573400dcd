"""The throwaway broker (dbconn.broker): starts on loopback, answers, and leaves nothing
behind; when it cannot start, one line says why."""

from __future__ import annotations

import socket

import psutil
import pytest

from dbconn import broker
from dbconn.server import ServerError


def test_the_broker_answers_on_loopback_and_leaves_nothing_behind():
    with broker.redis_server() as redis:
        assert broker.ping(redis.port)
        assert redis.url == f"redis://127.0.0.1:{redis.port}/0"
        listening = {c.laddr for c in psutil.Process(redis.process.pid).net_connections(kind="tcp")
                     if c.status == psutil.CONN_LISTEN}
        assert listening == {("127.0.0.1", redis.port)}, listening  # loopback only, no unix socket file
        home, pid = redis.home, redis.process.pid
        assert home.is_dir()
    assert not broker.ping(redis.port)
    assert not home.exists()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_a_missing_redis_server_is_one_line(monkeypatch):
    monkeypatch.setattr(broker.shutil, "which", lambda *args, **kwargs: None)
    with pytest.raises(ServerError) as caught:
        with broker.redis_server():
            pass
    assert "redis-server is not installed" in str(caught.value) and "\n" not in str(caught.value)


def test_a_broker_that_exits_at_start_is_one_line(monkeypatch):
    """The port it was given is taken by the time it starts: its own log says why."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    monkeypatch.setattr(broker, "free_port", lambda: taken.getsockname()[1])
    try:
        with pytest.raises(ServerError) as caught:
            with broker.redis_server():
                pass
    finally:
        taken.close()
    message = str(caught.value)
    assert message.startswith("redis-server exited at start") and "\n" not in message, message


def test_a_broker_whose_owner_was_killed_is_found_and_stopped():
    """The broker is in the lab's registry: when the process that started it dies (even by
    SIGKILL), the next sweep (every start, `make db-stop`, `make clean`) stops it."""
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from dbconn import registry

    owner = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom dbconn import broker\nwith broker.redis_server() as redis:\n"
         "    print(redis.port, redis.home, flush=True)\n    time.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        port, home = owner.stdout.readline().split()
        assert broker.ping(int(port))
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
    assert broker.ping(int(port)), "SIGKILL gave the owner no chance to stop its broker"
    said = registry.sweep()
    assert any(f"127.0.0.1:{port}" in line for line in said), said
    assert not broker.ping(int(port))
    assert not Path(home).exists()
