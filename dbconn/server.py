"""The lab's database server: find one that answers, or start one, and stop only ours.

``up()`` (``make db``) and ``acquire()`` (``db run``: ``make html``, ``make test``;
the test session) pick, in order: a server already answering at
MYSQL_HOST:MYSQL_PORT; MySQL 8.4 through docker compose when a Docker engine
answers; a throwaway MariaDB (or MySQL) from the machine's own binary, installed
with apt-get when it is missing and we are root. ``DBCONN_SERVER=docker|local``
forces a choice; any other value is an error.

Sharing. Within a checkout, a server the lab started is reference counted: each
command that uses it holds a lease (``acquire()`` ... ``Lease.release()``), and it
stops when the last lease is released, unless ``make db`` keeps it (then
``make db-stop`` stops it, or, while leases remain, lets the last one stop it).
Across checkouts it is not shared: a second checkout that finds another
checkout's server on its port is told, in one line, to use another MYSQL_PORT.
A server that answers and that no checkout started (your own, CI's) is used and
never stopped.

What the lab starts is recorded in ``dbconn.registry`` (``.state/run/``), so that a
server whose command was killed is still found and stopped. Every failure is a
``ServerError`` whose text is one line that says what to do.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pymysql

from . import registry, settings
from .connection import bounded, connect, failure

ROOT = registry.ROOT
BOOTSTRAP_SQL = ROOT / "db" / "bootstrap.sql"
COMPOSE_FILE = ROOT / "docker-compose.yml"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class ServerError(Exception):
    """A problem with the server, said in one line that tells the reader what to do."""

    def _render_traceback_(self):  # IPython shows this instead of a traceback
        return [f"ServerError: {self}"]


class PortTaken(ServerError):
    """Another process bound the port while our server started."""


def _checked_port() -> int:
    """MYSQL_PORT and DBCONN_SERVER, or a ServerError that says what is wrong with them."""
    try:
        settings.check()
    except settings.SettingError as exc:
        raise ServerError(str(exc)) from None
    return settings.PORT


# --------------------------------------------------------------------------- probing


@dataclass
class Probe:
    state: str  # "answers" | "nothing" | "not-mysql" | "refused"
    detail: str = ""


def probe(timeout: float = 2.0) -> Probe:
    """What is at HOST:PORT: a MySQL server that lets the lab's admin in, or what else.
    Returns within a few times `timeout`, whatever listens there."""
    port = _checked_port()
    try:
        with socket.create_connection((settings.HOST, port), timeout=timeout) as sock:
            greeting = _read_greeting(sock, timeout)
    except OSError:
        return Probe("nothing")
    # A MySQL server speaks first: a packet whose payload starts with protocol
    # version 10 (a handshake) or 0xff (an error such as "too many connections").
    if not greeting:
        return Probe("not-mysql", f"it accepted the connection but sent no MySQL greeting within {timeout:g} s")
    if len(greeting) < 5 or greeting[4] not in (10, 0xFF):
        return Probe("not-mysql", "what it sent is not a MySQL greeting")
    try:
        conn = connect("admin", database=None, **bounded(timeout))
        with conn, conn.cursor() as cur:
            cur.execute("SELECT VERSION()")
            return Probe("answers", cur.fetchone()[0])
    except Exception as exc:  # whatever a fake greeting makes the driver raise
        return Probe(*failure(exc, timeout))


def _read_greeting(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    data = b""
    with contextlib.suppress(OSError):
        while len(data) < 5:
            chunk = sock.recv(5 - len(data))
            if not chunk:
                break
            data += chunk
    return data


def unreachable_message(found: Probe) -> str:
    where, port = settings.where(), settings.PORT
    if found.state == "nothing":
        return f"No MySQL server answers at {where}: start one with `make db` (or set MYSQL_HOST/MYSQL_PORT)."
    if found.state == "not-mysql":
        return (
            f"Port {port} on {settings.HOST} is taken by something that is not a MySQL server ({found.detail}): "
            f"stop it, or use another port (MYSQL_PORT={free_port_near(port)} make db)."
        )
    return (
        f"The MySQL server at {where} rejects the lab's admin account {settings.ADMIN.user!r}: {found.detail}: "
        f"set MYSQL_ADMIN_USER/MYSQL_ADMIN_PASSWORD, or use another port (MYSQL_PORT={free_port_near(port)} make db)."
    )


def require() -> str:
    """Return the server's version, or raise ServerError with one line that says what to do."""
    found = probe()
    if found.state != "answers":
        raise ServerError(unreachable_message(found))
    return found.detail


def free_port() -> int:
    """A TCP port nothing listens on, on loopback (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_port_near(port: int) -> int:
    """The first port above `port` that nothing listens on: to suggest in a message."""
    for candidate in range(port + 1, min(port + 100, 65536)):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", candidate))
                return candidate
            except OSError:
                continue
    return free_port()


# --------------------------------------------------------------------------- sharing


@dataclass
class Lease:
    """A command's use of the server: the server stays up until the last lease is released."""

    message: str  # what acquire() did: found a server, or started one
    record: registry.Record | None  # None: a server no checkout started; nothing to release

    def release(self) -> str | None:
        """Give the server back; stop it if the lab started it and nothing else uses it.
        Returns what happened, or None when there is nothing to say."""
        if self.record is None:
            return None
        port = self.record.port
        with registry.deferred_signals(), registry.port_lock(port):
            registry.unregister(self.record)
            self.record = None
            return _stop_if_unused(port)


def acquire() -> Lease:
    """A server that answers, held until ``release()``: started if none answers."""
    port = _checked_port()
    with registry.checkout_lock(), registry.port_lock(port):
        notes = _sweep(port)
        me = os.getpid()
        lease = registry.register("lease", port=port, key=f"lease-{port}-{me}",
                                  what=f"the lease of {registry.describe(me)} on the server on port {port}")
        try:
            message = _ensure(keep=False)
        except BaseException:
            registry.unregister(lease)
            raise
        if _server_record(port) is None:  # a server no checkout started: nothing to count
            registry.unregister(lease)
            lease = None
    return Lease(" ".join([*notes, message]), lease)


def up() -> str:
    """`make db`: a server that answers, kept until `make db-stop`."""
    port = _checked_port()
    with registry.checkout_lock(), registry.port_lock(port):
        notes = _sweep(port)
        message = _ensure(keep=True)
    return " ".join([*notes, message])


def down() -> str:
    """`make db-stop`: stop this checkout's server on MYSQL_PORT (and any orphan). Exactly
    what happened, in one line per thing."""
    port = _checked_port()
    with registry.port_lock(port):
        lines = _sweep(port, thorough=True)
        record = _server_record(port)
        users = _users(port)
        if record is not None and record.alive and users:
            registry.update(record, keep=False)
            lines.append(f"{_capital(record.name)} is in use by {registry.describe(users[0].owner)}: "
                         f"it stops when that ends.")
        elif record is not None:
            lines.append(registry.stop(record))
        else:
            lines += _stop_unrecorded(port)
        if not lines:
            lines.append(f"No server started by this checkout runs on port {port}; nothing stopped.")
    return "\n".join(lines)


def status() -> str:
    found = probe()
    record = _server_record(settings.PORT)
    if found.state != "answers":
        return unreachable_message(found)
    owner = ""
    if record is not None:
        users = ", ".join(registry.describe(lease.owner) for lease in _users(settings.PORT)) or "nothing"
        kept = "kept by make db; " if record.keep else ""
        owner = f" (started by this checkout, pid {record.pid}; {kept}in use by {users})"
    return f"A MySQL server answers at {settings.where()}: {found.detail}{owner}."


def _ensure(keep: bool) -> str:
    """Under the port lock: a server that answers. Returns what happened."""
    port = settings.PORT
    found = probe()
    record = _server_record(port)
    if found.state == "answers":
        if record is not None and record.alive:
            if keep and not record.keep:
                registry.update(record, keep=True)
            kept = " `make db` keeps it until `make db-stop`." if keep else ""
            return f"{_capital(record.name)} already answers ({found.detail}); nothing started.{kept}"
        other = _other_checkout_server(port)
        if other:
            raise ServerError(
                f"Port {port} is used by the lab server of another checkout (pid {other[0]}, files in {other[1]}): "
                f"use another port here, e.g. MYSQL_PORT={free_port_near(port)} make ..., or `make db-stop` there."
            )
        return (f"A MySQL server already answers at {settings.where()} ({found.detail}); nothing started, "
                f"and the lab will not stop it.")
    if found.state != "nothing":
        raise ServerError(unreachable_message(found))
    notes = []
    if record is not None:  # ours, but it does not answer: dead, or hung
        notes.append(registry.stop(record))
    if settings.HOST not in LOOPBACK:
        raise ServerError(
            f"No MySQL server answers at {settings.where()}, and the lab starts servers on 127.0.0.1 only: "
            f"start yours, or unset MYSQL_HOST."
        )
    if settings.SERVER in ("", "docker"):
        engine = _docker_engine()
        if engine == "up":
            return " ".join([*notes, _start_docker(keep)])
        if settings.SERVER == "docker":
            raise ServerError(f"DBCONN_SERVER=docker, but {engine}: start Docker, or unset DBCONN_SERVER "
                              f"to use a local server.")
        if engine != "no `docker` command is installed":
            notes.append(f"{_capital(engine)}; using a local server instead.")
    return " ".join([*notes, _start_local(keep)])


def _server_record(port: int) -> registry.Record | None:
    return registry.get(f"server-{port}")


def _users(port: int) -> list[registry.Record]:
    """The leases on the server on `port` whose owner still runs."""
    return [lease for lease in registry.records(kind="lease", port=port) if not lease.orphaned]


def _stop_if_unused(port: int) -> str | None:
    record = _server_record(port)
    if record is None:
        return None
    if record.keep:
        return f"Left {record.name} running: `make db` keeps it until `make db-stop`."
    users = _users(port)
    if users:
        return f"Left {record.name} running: {registry.describe(users[0].owner)} still uses it."
    return registry.stop(record)


def _sweep(holding: int, thorough: bool = False) -> list[str]:
    """Stop orphans: what a killed owner left (registry.sweep), and servers started for a
    command that was killed before it could stop them (no lease left, not kept)."""
    lines = registry.sweep(thorough)
    for record in registry.records(kind="server"):
        if record.keep or record.owner is not None or _users(record.port):
            continue
        try:
            with registry.port_lock(record.port, timeout=0) if record.port != holding else contextlib.nullcontext():
                lines.append(f"{registry.stop(record)[:-1]}: the command it was started for had exited.")
        except registry.RegistryError:  # another command is starting or stopping it: theirs to handle
            continue
    return lines


def _stop_unrecorded(port: int) -> list[str]:
    """This checkout's server on `port` found by its data directory, when its record is
    missing or unreadable (edited, a full disk)."""
    lines = []
    local = _local_home(port)
    for info in registry.scan():
        if f"--datadir={local.datadir}" in registry.cmdline(info.pid) and registry.terminate(info.pid, info.start):
            lines.append(f"Stopped the throwaway server on port {port} (pid {info.pid}), found by its data "
                         f"directory: it had no readable record.")
    bad = registry.directory() / f"server-{port}.json"
    if bad.exists():
        bad.unlink()
        lines.append(f"Removed the unreadable record {bad}.")
    if local.home.exists() and lines:
        registry.remove_tree(local.home)
    return lines


def _other_checkout_server(port: int) -> tuple[int, str] | None:
    """(pid, data directory) of a lab server of another checkout listening on `port`."""
    ours = str(_local_home(port).datadir)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        words = registry.cmdline(int(entry))
        if not words or Path(words[0]).name not in ("mariadbd", "mysqld") or f"--port={port}" not in words:
            continue
        datadir = next((w.split("=", 1)[1] for w in words if w.startswith("--datadir=")), "")
        if datadir != ours and ("/.state/mariadb-" in datadir or "/dbconn-" in datadir):
            return int(entry), str(Path(datadir).parent)
    return None


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


# --------------------------------------------------------------------------- docker


def _docker_engine() -> str:
    """'up', or a phrase that says why Docker cannot be used."""
    if shutil.which("docker") is None:
        return "no `docker` command is installed"
    try:
        subprocess.run(["docker", "info"], capture_output=True, timeout=10, check=True)
    except (subprocess.SubprocessError, OSError):
        return "the Docker engine does not answer (`docker info` failed)"
    try:
        subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=10, check=True)
    except (subprocess.SubprocessError, OSError):
        return "Docker has no `docker compose` plugin"
    return "up"


def _compose_command(*args: str) -> list[str]:
    # A project per checkout and port: two checkouts' compose servers never replace each other.
    project = f"dbconn-{registry.CHECKOUT}-{settings.PORT}"
    return ["docker", "compose", "-f", str(COMPOSE_FILE), "--project-name", project, *args]


def _start_docker(keep: bool) -> str:
    command = _compose_command("up", "--detach", "--wait")
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise ServerError(f"`{' '.join(command[:2])} up` failed: {last}")
    registry.register("server", port=settings.PORT, owner=None, keep=keep,
                      stop=_compose_command("down", "--volumes", "--timeout", "5"),
                      what=f"the docker compose MySQL on {settings.where()}")
    return f"Started MySQL 8.4 with docker compose at {settings.where()}: {require()}."


# --------------------------------------------------------------------------- local binary


@dataclass
class Local:
    """Where a throwaway server keeps its files: a directory of mode 0700, so that its
    socket (which the server creates writable by everyone) is reachable by its owner only."""

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


def _local_home(port: int) -> Local:
    """In the lab's state directory when the server's system user can reach it, else in the temp dir."""
    home = registry.state_dir() / f"mariadb-{port}"
    if os.geteuid() == 0 and not _world_traversable(home.parent):
        # e.g. a clone under /root: mariadbd runs as `mysql` and could not open it.
        home = Path(tempfile.gettempdir()) / f"{registry.temp_prefix()}server-p{port}"
    return Local(home)


def _world_traversable(path: Path) -> bool:
    for part in [path, *path.parents]:
        if not part.stat().st_mode & stat.S_IXOTH:
            return False
    return True


def _start_local(keep: bool) -> str:
    started = time.monotonic()
    port = settings.PORT
    local = _local_home(port)
    # Recorded before anything exists, owned by this process until the server runs:
    # if this process is killed while starting, the next command stops what it left.
    record = registry.register("server", port=port, home=local.home, keep=keep,
                               what=f"the throwaway server on {settings.where()}")
    try:
        process = _launch(local, port)
    except PortTaken as exc:
        registry.unregister(record)
        raise ServerError(f"{exc}: another server took port {port} while this one started; use another port, "
                          f"e.g. MYSQL_PORT={free_port_near(port)} make db.") from None
    except BaseException:
        registry.unregister(record)
        raise
    registry.update(record, pid=process.pid, owner=None)
    version = require()
    seconds = time.monotonic() - started
    return f"Started a throwaway server at {settings.where()} in {seconds:.1f} s: {version} (files in {local.home})."


def _os_user() -> str:
    return pwd.getpwuid(os.geteuid()).pw_name


def _launch(local: Local, port: int, extra: tuple[str, ...] = ()) -> subprocess.Popen:
    """A fresh data directory, the server started on 127.0.0.1:port, the bootstrap SQL run.
    On any failure or interrupt, nothing is left: no process, no files."""
    found = _server_binary()
    if found is None:
        _install_server_binary()
        found = _server_binary()
        if found is None:
            raise ServerError("apt-get installed mariadb-server but no mariadbd was found: check the install.")
    binary, flavour = found
    process = None
    try:
        _fresh_home(local)
        _fresh_datadir(local, binary, flavour)
        process = _start(binary, local, port, extra)
        root = _wait_for_socket(local, process, _socket_account(flavour))
        try:
            _run_sql_file(root, BOOTSTRAP_SQL)
            if flavour == "mysql":
                _socket_only_root(root)
        finally:
            root.close()
        return process
    except BaseException:
        with registry.deferred_signals():
            if process is not None:
                registry.terminate(process.pid)
            registry.remove_tree(local.home)
        raise


def _fresh_home(local: Local) -> None:
    registry.remove_tree(local.home)
    local.home.mkdir(mode=0o700, parents=True)
    local.home.chmod(0o700)  # mkdir's mode is cut by the umask; never widened by it
    local.tmpdir.mkdir(mode=0o700)
    if os.geteuid() == 0:
        for path in (local.home, local.tmpdir):
            shutil.chown(path, "mysql", "mysql")


def _fresh_datadir(local: Local, binary: str, flavour: str) -> None:
    """local.datadir as _initialise() leaves it: a copy of a data directory initialised
    once per binary and command. Initialising takes seconds (more on a busy machine); the
    copy, sparse (the redo log is mostly zeros), a fraction of one."""
    template = _template(binary, flavour)
    code, _ = _run_to_the_end(["cp", "-a", "--sparse=always", str(template), str(local.datadir)])
    if code != 0:  # no GNU cp: a plain copy
        registry.remove_tree(local.datadir)
        shutil.copytree(template, local.datadir, symlinks=True)


def _template(binary: str, flavour: str) -> Path:
    """The data directory that _initialise() makes, made once for this binary and command."""
    home = registry.state_dir() / "templates"
    if os.geteuid() == 0 and not _world_traversable(home.parent):  # as _local_home(): `mysql` must reach it
        home = Path(tempfile.gettempdir()) / f"{registry.temp_prefix()}templates"
    binary_stat = os.stat(binary)
    recipe = f"{_init_command(binary, flavour, Local(Path('/')))} {binary_stat.st_size} {binary_stat.st_mtime_ns}"
    made = Local(home / hashlib.sha1(recipe.encode()).hexdigest()[:12])
    if made.datadir.is_dir():
        return made.datadir
    home.mkdir(parents=True, exist_ok=True)
    with open(home / f"{made.home.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # servers starting side by side make it once
        if not made.datadir.is_dir():
            partial = Local(home / f"{made.home.name}.partial")
            try:
                _fresh_home(partial)
                _initialise(binary, flavour, partial)
            except BaseException:  # a failure, Ctrl-C: no half-made data directory is left
                with registry.deferred_signals():
                    registry.remove_tree(partial.home)
                raise
            partial.home.rename(made.home)
    return made.datadir


def _init_command(binary: str, flavour: str, local: Local) -> list[str]:
    if flavour == "mariadb":
        installer = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
        return [installer, "--no-defaults", *_as_mysql(), f"--datadir={local.datadir}", f"--tmpdir={local.tmpdir}",
                "--auth-root-authentication-method=socket", f"--auth-root-socket-user={_os_user()}",
                "--skip-test-db"]
    return [binary, "--no-defaults", *_as_mysql(), "--initialize-insecure", f"--datadir={local.datadir}",
            f"--tmpdir={local.tmpdir}"]


def _initialise(binary: str, flavour: str, local: Local) -> None:
    """A data directory whose root account logs in over the socket only, as the OS user
    running the lab (MariaDB's unix_socket): no password-less root over TCP."""
    code, output = _run_to_the_end(_init_command(binary, flavour, local))
    if code != 0:
        errors = [line for line in output.splitlines() if "ERROR" in line] or ["?"]
        raise ServerError(f"Could not initialise a data directory in {local.datadir}: {errors[0]}")


def _run_to_the_end(command: list[str]) -> tuple[int, str]:
    """Run a helper in a session of its own; if we are interrupted, stop it and everything
    it started (mariadb-install-db runs a bootstrap server of its own)."""
    child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, start_new_session=True)
    try:
        output, _ = child.communicate()
    except BaseException:
        # The whole group, and wait until it is gone: a SIGKILLed bootstrap server takes a
        # moment to exit, and must not outlive the command that reports the interrupt.
        registry.kill_group(child.pid)
        child.wait()
        raise
    return child.returncode, output


def _socket_only_root(root) -> None:
    """MySQL's --initialize-insecure leaves root@localhost without a password: let only
    the OS user running the lab in, through the socket (auth_socket)."""
    with root.cursor() as cur:
        cur.execute("INSTALL PLUGIN auth_socket SONAME 'auth_socket.so'")
        cur.execute("ALTER USER 'root'@'localhost' IDENTIFIED WITH auth_socket AS %s", (_os_user(),))


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
    record: registry.Record

    def restart(self) -> None:
        """Stop the server and start it again on the same data: what a reader's app
        sees when the database is restarted under it (an upgrade, a failover)."""
        binary, flavour = _server_binary()
        registry.terminate(self.process.pid)
        self.process = _start(binary, self.local, self.port, self.options)
        registry.update(self.record, pid=self.process.pid)
        _wait_for_socket(self.local, self.process, _socket_account(flavour)).close()


@contextlib.contextmanager
def private_server(*options: str):
    """A second throwaway server, for one notebook only, with server-wide options
    (e.g. "--max-connections=10") that would disturb everyone on the shared one.
    Yields a PrivateServer (.port, .restart()); stops it and removes its files on exit,
    and, if this process is killed, the next lab command does (dbconn.registry)."""
    registry.sweep()
    with registry.checkout_lock():
        private = _start_private(options)
    try:
        yield private
    finally:
        with registry.deferred_signals():
            registry.stop(private.record)


def _start_private(options: tuple[str, ...]) -> PrivateServer:
    home = registry.new_home("private")
    record = registry.register("private", home=home, key=home.name, what="a private server")
    try:
        for attempt in range(3):  # a free port can be taken by someone else before the server binds it
            port = free_port()
            registry.update(record, port=port, what=f"the private server on 127.0.0.1:{port}")
            try:
                process = _launch(Local(home), port, options)
                break
            except PortTaken:
                if attempt == 2:
                    raise
        registry.update(record, pid=process.pid)
    except BaseException:
        with registry.deferred_signals():
            registry.stop(record)
        raise
    return PrivateServer(port, Local(home), options, process, record)


def _socket_account(flavour: str) -> str:
    """Who has every privilege over the socket: MariaDB's install-db gives them to root (OS root
    only) and to the OS user named by --auth-root-socket-user; MySQL's root, mapped to that user."""
    return _os_user() if flavour == "mariadb" else "root"


def _wait_for_socket(local: Local, process: subprocess.Popen, user: str, timeout: float = 20.0):
    """A connection with every privilege, over the socket, once the server accepts one (polled)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            error = _last_error(local)
            raise (PortTaken if "Address already in use" in error else ServerError)(
                f"The server exited at start: {error}")
        try:
            return pymysql.connect(unix_socket=str(local.socket), user=user, connect_timeout=1)
        except pymysql.err.OperationalError:
            time.sleep(0.02)
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
