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
