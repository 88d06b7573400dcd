"""The lab's database server: find one that answers, or start one, and stop only ours.

``up()`` picks, in order: a server already answering at MYSQL_HOST:MYSQL_PORT;
MySQL 8.4 through docker compose when a Docker engine answers; a throwaway
MariaDB (or MySQL) from the machine's own binary, installed with apt-get when
it is missing and we are root. ``DBCONN_SERVER=docker|local`` forces a choice.

What we started is recorded in ``.state/server-PORT.json``; ``down()`` stops
that and nothing else. Every failure is a ``ServerError`` whose text is one line
that says what to do.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pymysql

from . import settings
from .connection import connect

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".state"
BOOTSTRAP_SQL = ROOT / "db" / "bootstrap.sql"
COMPOSE_FILE = ROOT / "docker-compose.yml"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class ServerError(Exception):
    """A problem with the server, said in one line that tells the reader what to do."""

    def _render_traceback_(self):  # IPython shows this instead of a traceback
        return [f"ServerError: {self}"]


# --------------------------------------------------------------------------- probing


@dataclass
class Probe:
    state: str  # "answers" | "nothing" | "not-mysql" | "rejects"
    detail: str = ""


def probe(timeout: float = 2.0) -> Probe:
    """What is at HOST:PORT: a MySQL server that lets the lab's admin in, or what else."""
    try:
        with socket.create_connection((settings.HOST, settings.PORT), timeout=timeout) as sock:
            sock.settimeout(timeout)
            try:
                greeting = sock.recv(5)
            except OSError:
                greeting = b""
    except OSError:
        return Probe("nothing")
    # A MySQL server speaks first: a packet whose payload starts with protocol
    # version 10 (a handshake) or 0xff (an error such as "too many connections").
    if len(greeting) < 5 or greeting[4] not in (10, 0xFF):
        return Probe("not-mysql")
    try:
        conn = connect("admin", database=None, connect_timeout=timeout)
    except pymysql.err.OperationalError as exc:
        return Probe("rejects", str(exc.args[-1]))
    with conn, conn.cursor() as cur:
        cur.execute("SELECT VERSION()")
        return Probe("answers", cur.fetchone()[0])


def unreachable_message(found: Probe) -> str:
    where = settings.where()
    if found.state == "nothing":
        return f"No MySQL server answers at {where}: start one with `make db` (or set MYSQL_HOST/MYSQL_PORT)."
    if found.state == "not-mysql":
        return (
            f"Port {settings.PORT} on {settings.HOST} is taken by something that is not a MySQL server: "
            f"stop it, or use another port (MYSQL_PORT=3308 make db)."
        )
    return (
        f"The MySQL server at {where} rejects the lab's admin account ({found.detail}): "
        f"set MYSQL_ADMIN_USER/MYSQL_ADMIN_PASSWORD, or use another port (MYSQL_PORT=3308 make db)."
    )


def require() -> str:
    """Return the server's version, or raise ServerError with one line that says what to do."""
    found = probe()
    if found.state != "answers":
        raise ServerError(unreachable_message(found))
    return found.detail


# --------------------------------------------------------------------------- up / down


@contextlib.contextmanager
def _lock():
    STATE.mkdir(exist_ok=True)
    with open(STATE / "lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def up() -> tuple[str, bool]:
    """Make sure a server answers. Returns (what happened, whether we started it)."""
    with _lock():
        found = probe()
        if found.state == "answers":
            return f"A MySQL server already answers at {settings.where()} ({found.detail}); nothing started.", False
        if found.state != "nothing":
            raise ServerError(unreachable_message(found))
        if settings.HOST not in LOOPBACK:
            raise ServerError(
                f"No MySQL server answers at {settings.where()}, and the lab starts servers on 127.0.0.1 only: "
                f"start yours, or unset MYSQL_HOST."
            )
        choice = os.environ.get("DBCONN_SERVER", "")
        notes = []
        if choice in ("", "docker"):
            engine = _docker_engine()
            if engine == "up":
                return _start_docker(), True
            if choice == "docker":
                raise ServerError(f"DBCONN_SERVER=docker, but {engine}: start Docker, or unset DBCONN_SERVER.")
            if engine != "absent":
                notes.append(f"{engine}; using a local server instead. ")
        return "".join(notes) + _start_local(), True


def down() -> str:
    with _lock():
        record = _read_record()
        if record is None:
            return "No server started by the lab is running; nothing stopped."
        if record["kind"] == "docker":
            _compose("down", "--volumes", "--timeout", "5")
            message = "Stopped the docker compose MySQL."
        else:
            _stop_local(record)
            message = f"Stopped the throwaway server (pid {record['pid']})."
        _record_path().unlink(missing_ok=True)
        return message


def status() -> str:
    found = probe()
    record = _read_record()
    owner = f" (started by the lab: {record['kind']})" if record else ""
    if found.state == "answers":
        return f"A MySQL server answers at {settings.where()}: {found.detail}{owner}."
    return unreachable_message(found)


def _record_path() -> Path:
    return STATE / f"server-{settings.PORT}.json"


def _read_record() -> dict | None:
    try:
        return json.loads(_record_path().read_text())
    except (FileNotFoundError, ValueError):
        return None


# --------------------------------------------------------------------------- docker


def _docker_engine() -> str:
    """'up', 'absent', or a phrase that says why Docker cannot be used."""
    if shutil.which("docker") is None:
        return "absent"
    try:
        subprocess.run(["docker", "info"], capture_output=True, timeout=10, check=True)
    except (subprocess.SubprocessError, OSError):
        return "Docker is installed but its engine does not answer"
    try:
        subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=10, check=True)
    except (subprocess.SubprocessError, OSError):
        return "Docker answers but has no `docker compose` plugin"
    return "up"


def _compose(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE_FILE), *args], capture_output=True, text=True
    )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise ServerError(f"`docker compose {' '.join(args)}` failed: {last}")
    return result


def _start_docker() -> str:
    _compose("up", "--detach", "--wait")
    _record_path().write_text(json.dumps({"kind": "docker"}))
    return f"Started MySQL 8.4 with docker compose at {settings.where()}: {require()}."


# --------------------------------------------------------------------------- local binary


@dataclass
class Local:
    """Where the throwaway server keeps its files."""

    home: Path

    @property
    def datadir(self) -> Path:
        return self.home / "data"

    @property
    def socket(self) -> Path:
        return self.home / "mysqld.sock"

    @property
    def pidfile(self) -> Path:
        return self.home / "mysqld.pid"

    @property
    def errorlog(self) -> Path:
        return self.home / "error.log"

    @property
    def tmpdir(self) -> Path:
        # Its own: at start a server deletes the temp tables it finds in its tmpdir,
        # so two servers sharing /tmp destroy each other's.
        return self.home / "tmp"


def _server_binary() -> tuple[str, str] | None:
    """(path, flavour) of the machine's server binary, MariaDB preferred."""
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
    for name, flavour in (("mariadbd", "mariadb"), ("mysqld", None)):
        path = shutil.which(name, path=search)
        if path:
            if flavour is None:
                version = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
                flavour = "mariadb" if "MariaDB" in version else "mysql"
            return path, flavour
    return None


def _install_server_binary() -> None:
    """Install mariadb-server as every system package is installed (dbconn/system.py), or say how."""
    from . import system

    try:
        system.ensure("db", [replace(system.DATABASE, present=lambda: _server_binary() is not None)])
    except system.CannotInstall as exc:
        raise ServerError(f"No MySQL server answers at {settings.where()} and Docker is not available: {exc}") from None


def _local_home() -> Local:
    """Inside .state/ when the server's system user can reach it, else in the temp dir."""
    home = STATE / f"mariadb-{settings.PORT}"
    if os.geteuid() == 0 and not _world_traversable(STATE):
        # e.g. a clone under /root: mysqld runs as `mysql` and could not open it.
        home = Path(tempfile.gettempdir()) / f"dbconn-{hashlib.sha1(str(ROOT).encode()).hexdigest()[:10]}-{settings.PORT}"
    return Local(home)


def _world_traversable(path: Path) -> bool:
    for part in [path, *path.parents]:
        if not part.stat().st_mode & stat.S_IXOTH:
            return False
    return True


def _start_local() -> str:
    started = time.monotonic()
    local = _local_home()
    process = _launch(local, settings.PORT)
    _record_path().write_text(json.dumps({"kind": "local", "pid": process.pid, "home": str(local.home)}))
    version = require()
    seconds = time.monotonic() - started
    return f"Started a throwaway server at {settings.where()} in {seconds:.1f} s: {version} (files in {local.home})."


def _launch(local: Local, port: int, extra: tuple[str, ...] = ()) -> subprocess.Popen:
    """A fresh data directory, the server started on 127.0.0.1:port, the bootstrap SQL run."""
    found = _server_binary()
    if found is None:
        _install_server_binary()
        found = _server_binary()
        if found is None:
            raise ServerError("apt-get installed mariadb-server but no mariadbd was found: check the install.")
    binary, flavour = found
    shutil.rmtree(local.home, ignore_errors=True)
    local.tmpdir.mkdir(parents=True)
    if os.geteuid() == 0:
        for path in (local.home, local.tmpdir):
            shutil.chown(path, "mysql", "mysql")

    _fresh_datadir(local, binary, flavour)
    process = _start(binary, local, port, extra)
    try:
        root = _wait_for_socket(local, process)
        try:
            _run_sql_file(root, BOOTSTRAP_SQL)
        finally:
            root.close()
    except BaseException:  # a failed bootstrap, or Ctrl-C while it runs: no server is left running
        _stop_process(process.pid)
        raise
    return process


def _init_command(binary: str, flavour: str, local: Local) -> list[str]:
    """The server's own initialisation of local.datadir."""
    if flavour == "mariadb":
        installer = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
        return [installer, "--no-defaults", *_as_mysql(), f"--datadir={local.datadir}", f"--tmpdir={local.tmpdir}",
                "--auth-root-authentication-method=normal", "--skip-test-db"]
    return [binary, "--no-defaults", *_as_mysql(), "--initialize-insecure", f"--datadir={local.datadir}",
            f"--tmpdir={local.tmpdir}"]


def _fresh_datadir(local: Local, binary: str, flavour: str) -> None:
    """local.datadir as the server's initialisation leaves it: a copy of a data directory
    initialised once per binary. Initialising takes seconds (more on a busy machine); the
    copy, sparse (the redo log is mostly zeros), a fraction of one."""
    template = _template(binary, flavour)
    copied = subprocess.run(["cp", "-a", "--sparse=always", str(template), str(local.datadir)], capture_output=True)
    if copied.returncode != 0:  # no GNU cp: a plain copy
        shutil.rmtree(local.datadir, ignore_errors=True)
        shutil.copytree(template, local.datadir, symlinks=True)


def _template(binary: str, flavour: str) -> Path:
    """The data directory that _init_command makes, made once for this binary and command."""
    STATE.mkdir(exist_ok=True)
    home = STATE / "templates"
    if os.geteuid() == 0 and not _world_traversable(STATE):  # as _local_home(): `mysql` must reach it
        home = Path(tempfile.gettempdir()) / f"dbconn-{hashlib.sha1(str(ROOT).encode()).hexdigest()[:10]}-templates"
    binary_stat = os.stat(binary)
    recipe = f"{_init_command(binary, flavour, Local(Path('/')))} {binary_stat.st_size} {binary_stat.st_mtime_ns}"
    made = Local(home / hashlib.sha1(recipe.encode()).hexdigest()[:12])
    if made.datadir.is_dir():
        return made.datadir
    home.mkdir(parents=True, exist_ok=True)
    with open(made.home.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # servers starting side by side make it once
        if made.datadir.is_dir():
            return made.datadir
        partial = Local(made.home.with_suffix(".partial"))
        shutil.rmtree(partial.home, ignore_errors=True)
        partial.tmpdir.mkdir(parents=True)
        if os.geteuid() == 0:
            for path in (partial.home, partial.tmpdir):
                shutil.chown(path, "mysql", "mysql")
        result = subprocess.run(_init_command(binary, flavour, partial), capture_output=True, text=True)
        if result.returncode != 0:
            errors = [line for line in (result.stdout + result.stderr).splitlines() if "ERROR" in line] or ["?"]
            raise ServerError(f"Could not initialise a data directory in {partial.datadir}: {errors[0]}")
        partial.home.rename(made.home)
    return made.datadir


def _as_mysql() -> list[str]:
    # As root, the server must be told to drop to the `mysql` system user.
    return ["--user=mysql"] if os.geteuid() == 0 else []


def _start(binary: str, local: Local, port: int, extra: tuple[str, ...]) -> subprocess.Popen:
    # --no-defaults must come first: no my.cnf of the machine leaks in.
    command = [
        binary, "--no-defaults", *_as_mysql(),
        f"--datadir={local.datadir}", f"--tmpdir={local.tmpdir}", f"--socket={local.socket}",
        f"--pid-file={local.pidfile}", f"--log-error={local.errorlog}",
        f"--port={port}", "--bind-address=127.0.0.1",
        "--skip-name-resolve", "--skip-log-bin", "--performance-schema=ON",
        "--innodb-buffer-pool-size=64M", *extra,
    ]
    return subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,  # survives `make db` returning; not tied to the terminal
    )


@dataclass
class PrivateServer:
    port: int
    local: Local
    options: tuple[str, ...]
    process: subprocess.Popen

    def restart(self) -> None:
        """Stop the server and start it again on the same data: what a reader's app
        sees when the database is restarted under it (an upgrade, a failover)."""
        _stop_process(self.process.pid)
        self.process = _start(_server_binary()[0], self.local, self.port, self.options)
        _wait_for_socket(self.local, self.process).close()


def free_port() -> int:
    """A TCP port nothing listens on, on loopback (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def private_server(*options: str):
    """A second throwaway server, for one notebook only, with server-wide options
    (e.g. "--max-connections=10") that would disturb everyone on the shared one.
    Yields a PrivateServer (.port, .restart()); stops it and removes its files on exit."""
    port = free_port()
    local = Local(Path(tempfile.mkdtemp(prefix="dbconn-private-")))
    try:
        private = PrivateServer(port, local, options, _launch(local, port, options))
    except BaseException:
        shutil.rmtree(local.home, ignore_errors=True)
        raise
    try:
        yield private
    finally:
        _stop_local({"pid": private.process.pid, "home": str(local.home)})


def _wait_for_socket(local: Local, process: subprocess.Popen, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(f"The server exited at start: {_last_error(local)}")
        try:
            return pymysql.connect(unix_socket=str(local.socket), user="root", connect_timeout=1)
        except pymysql.err.OperationalError:
            time.sleep(0.02)
    process.terminate()
    raise ServerError(f"The server did not answer within {timeout:.0f} s: {_last_error(local)}")


def _last_error(local: Local) -> str:
    try:
        lines = [line for line in local.errorlog.read_text().splitlines() if "[ERROR]" in line]
    except FileNotFoundError:
        return "no error log was written"
    return lines[0].split("[ERROR]", 1)[1].strip() if lines else f"see {local.errorlog}"


def _run_sql_file(conn, path: Path) -> None:
    text = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("--"))
    with conn.cursor() as cur:
        for statement in text.split(";"):
            if statement.strip():
                cur.execute(statement)
    conn.commit()


def _stop_local(record: dict) -> None:
    if _is_our_server(record["pid"], record["home"]):
        _stop_process(record["pid"])
    shutil.rmtree(record["home"], ignore_errors=True)


def _stop_process(pid: int) -> None:
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)


def _is_our_server(pid: int, home: str) -> bool:
    """The pid is still the server we started (pids are reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return f"--datadir={home}/data" in cmdline


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A child we started and that has exited lingers as a zombie until reaped.
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
