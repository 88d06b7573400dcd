"""What the robustness tests need: endpoints that are not MySQL servers, copies of the
checkout (a checkout of its own: its own .state, registry and temp dirs), commands
run with a time bound, and looks at what a command left behind."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dbconn import registry

ROOT = Path(__file__).resolve().parent.parent
# A banner another service sends first: PyMySQL reads "SSH-" as a packet header.
SSH_BANNER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"
# Five bytes that look like the start of a MySQL handshake (protocol 10), then silence.
FAKE_GREETING = b"\x4a\x00\x00\x00\x0a5.5.5-"


@contextlib.contextmanager
def listener(sends: bytes = b""):
    """A TCP port on 127.0.0.1 that accepts, sends `sends` (nothing: a silent one) and
    holds each connection open. Yields (port, accepted): `accepted` is set on a connect."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted = threading.Event()
    held = []

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)
            if sends:
                conn.sendall(sends)
            accepted.set()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield server.getsockname()[1], accepted
    finally:
        server.close()
        for conn in held:
            conn.close()


def one_line(result) -> str:
    """The one line a failing command printed (stderr), after checking there is exactly one."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr + result.stdout, result.stderr
    return lines[0]


class Checkout:
    """A copy of the package, the bootstrap SQL and the compose file in a directory of
    its own: another checkout of the project, as a second clone on the machine is."""

    def __init__(self, path: Path):
        self.path = path = path.resolve()
        path.mkdir(parents=True)
        path.chmod(0o755)
        for name in ("dbconn", "db"):
            shutil.copytree(ROOT / name, path / name, ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(ROOT / "docker-compose.yml", path)
        self.state = path / ".state"

    def env(self, **extra) -> dict:
        # DBCONN_SERVER=local: no time spent asking a Docker engine, there or not.
        return {**os.environ, "PYTHONPATH": str(self.path), "DBCONN_SERVER": "local",
                **{k: str(v) for k, v in extra.items()}}

    def command(self, *args) -> list[str]:
        return [sys.executable, "-m", "dbconn", *args]

    def run(self, *args, bound: float = 120, **env) -> subprocess.CompletedProcess:
        """`python -m dbconn ARGS` in this checkout; a hang past `bound` seconds fails the test."""
        return subprocess.run(self.command(*args), cwd=self.path, env=self.env(**env), capture_output=True,
                              text=True, timeout=bound)

    def start(self, *args, **env) -> subprocess.Popen:
        """The same, in the background, in a process group of its own (as a terminal runs it)."""
        return subprocess.Popen(self.command(*args), cwd=self.path, env=self.env(**env), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)

    def python(self, code: str, **env) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", code], cwd=self.path, env=self.env(**env),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)

    @property
    def prefix(self) -> str:
        """How this checkout's temp dirs start (registry.temp_prefix() of the copy)."""
        import hashlib

        return os.path.join("/tmp", f"dbconn-{hashlib.sha1(str(self.path).encode()).hexdigest()[:10]}-")

    def processes(self) -> list[tuple[int, str]]:
        """Every process, but the tests' own Python commands, that names this checkout's
        files in its command line: servers, their installers."""
        markers = (f"{self.path}/", self.prefix)
        found = []
        for entry in os.listdir("/proc"):
            words = registry.cmdline(int(entry)) if entry.isdigit() else []
            if words and not Path(words[0]).name.startswith("python"):
                text = " ".join(words)
                if any(marker in text for marker in markers):
                    found.append((int(entry), text))
        return found

    def temp_dirs(self) -> list[Path]:
        """This checkout's temp dirs, but the template every new data directory is copied
        from (dbconn/server.py keeps it, as it keeps .state/templates, until `make clean`)."""
        return sorted(p for p in Path("/tmp").glob(Path(self.prefix).name + "*") if not p.name.endswith("templates"))

    def data_dirs(self) -> list[Path]:
        """Server data directories of this checkout, in .state or in the temp dir (a complete
        template is none: a half-made one is)."""
        made = {p for p in self.path.glob(".state/templates/*/data") if not p.parent.name.endswith(".partial")}
        return sorted({*self.path.glob(".state/**/data"), *(p for d in self.temp_dirs() for p in d.glob("data"))}
                      - made)

    def records(self) -> list[Path]:
        return sorted(self.state.glob("run/*.json"))

    def stop_everything(self) -> None:
        """The test's own clean-up: whatever a failed test left of this checkout."""
        clean(self)
        for pid, _ in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for path in self.temp_dirs():
            shutil.rmtree(path, ignore_errors=True)


def answers(port: int) -> bool:
    """Something accepts TCP connections on 127.0.0.1:port."""
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_for(predicate, timeout: float = 60, what: str = "a condition"):
    """Poll a state until it holds (a process appears, a file exists): never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def children_named(pid: int, names: tuple[str, ...]) -> list[int]:
    """Descendants of `pid` (in any session) whose program is one of `names`."""
    parents = {}
    for entry in os.listdir("/proc"):
        info = registry.proc(int(entry)) if entry.isdigit() else None
        if info:
            parents[info.pid] = info.ppid
    found = []
    for child in parents:
        words = registry.cmdline(child)
        if not words or not ({Path(words[0]).name, Path(words[1]).name if len(words) > 1 else ""} & set(names)):
            continue
        ancestor = parents.get(child)
        while ancestor and ancestor != pid:
            ancestor = parents.get(ancestor)
        if ancestor == pid:
            found.append(child)
    return found


@pytest.fixture
def checkout(tmp_path):
    """A copy of the checkout; whatever a test leaves of it is stopped and removed."""
    copy = Checkout(tmp_path / "checkout")
    yield copy
    copy.stop_everything()


def nothing_left(copy: Checkout, port: int | None = None) -> None:
    """No server or installer of the copy runs, no data or temp dir of it is left, the port is free."""
    assert copy.processes() == []
    assert copy.data_dirs() == [] and copy.temp_dirs() == []
    if port is not None:
        assert not answers(port)


def clean(copy: Checkout) -> subprocess.CompletedProcess:
    """`make clean`'s first half, in the copy."""
    return subprocess.run([sys.executable, "dbconn/registry.py", "clean"], cwd=copy.path, capture_output=True,
                          text=True, timeout=120)


def private_server_owner(copy: Checkout) -> subprocess.Popen:
    """A process of the copy that starts a private server, prints its port, and waits."""
    return copy.python("import time\nfrom dbconn import server\nwith server.private_server() as private:\n"
                       "    print(private.port, flush=True)\n    time.sleep(600)")


def held_server(where: Path) -> dict:
    """Environment for a command whose server never finishes starting: a `mariadbd` first
    in PATH that never answers. Interrupting a start "while it is under way" is then
    certain, however busy the machine (a start from a template takes a fraction of a
    second, and could end before the test's signal)."""
    where.mkdir(parents=True, exist_ok=True)
    stand_in = where / "mariadbd"
    stand_in.write_text("#!/bin/sh\nwhile :; do sleep 1; done\n")
    stand_in.chmod(0o755)
    return {"PATH": f"{where}{os.pathsep}{os.environ.get('PATH', '')}"}


def start_under_way(process: subprocess.Popen) -> list[int]:
    """Wait until `process` is making a data directory or starting a server."""
    return wait_for(lambda: children_named(process.pid, ("mariadb-install-db", "mysql_install_db", "mariadbd")),
                    what="the start to be under way")


def server_under_way(process: subprocess.Popen, phase: str, held: dict) -> list[int]:
    """Wait until `process`, run with held_server()'s environment `held`, is at `phase`:
    "initialising" (the installer's own bootstrap server runs: the real mariadbd) or
    "starting" (the stand-in that never answers runs)."""
    stand_in = held["PATH"].split(os.pathsep)[0] + "/mariadbd"

    def at_phase() -> list[int]:
        servers = children_named(process.pid, ("mariadbd",))
        return [pid for pid in servers if (stand_in in registry.cmdline(pid)) == (phase == "starting")]

    return wait_for(at_phase, what=f"the server to be {phase}")
