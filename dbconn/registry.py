"""Everything the lab starts, recorded, so that it is always found and stopped.

The lab starts long-running processes: the throwaway database server (`make db`),
private servers for one notebook, a broker, a fault proxy. Each is recorded here
while it runs, one JSON file per process in the registry directory: `.state/run/`
in the checkout, or, when `.state/` cannot be written, a directory of the user's
own (`$XDG_RUNTIME_DIR/dbconn/CHECKOUT`, else `/tmp/dbconn-UID/CHECKOUT`, mode 0700).

A record says what runs (`kind`), its `pid` and that pid's start time (a reused
pid is never taken for it), the `port` it listens on, its `home` (the directory
of its files, removed when it stops) and its `owner`: the process it lives for.
When the owner dies, even by SIGKILL, the process is an orphan: `sweep()` stops
it and removes its home. Every start sweeps, and so do `make db-stop` and
`make clean`. A record without an owner stays until it is stopped by name
(the server `make db` keeps).

Register what you start:

    from dbconn import registry

    home = registry.new_home("redis")        # a fresh directory, mode 0700
    process = subprocess.Popen([..., f"--dir={home}"], start_new_session=True)
    with registry.registered("redis", process.pid, port=port, home=home):
        ...                                  # on exit: SIGTERM (then SIGKILL), home removed

or `record = registry.register(...)` and later `registry.stop(record)`, which
returns one line saying exactly what it did. Two conventions let `make clean`
find a process even when its record is lost or corrupted: start it in a session
of its own (`start_new_session=True`), and name its home in its command line.
`start(kind, command, home=...)` does all of it in one call (a notebook's app
server or worker): it returns a handle whose `.stop()` (or `with` block) stops it.

A process that leads its own process group (a session of its own) is stopped with
its group: SIGTERM to it, so that it stops its own workers, then SIGKILL to
whatever of the group is left (a worker it forked and did not stop).

Locks: `port_lock(port)` is held while a server is started or stopped on a port,
by every checkout of every user on the machine (two starts at the same instant
take turns); `checkout_lock()` is held, shared, while something starts, and
exclusively by `clean()`, which therefore never deletes state under a start.

Standard library only: `python3 dbconn/registry.py list|sweep|clean` works
without the virtualenv (`make clean` uses it).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECKOUT = hashlib.sha1(str(ROOT).encode()).hexdigest()[:10]
STOP_TIMEOUT = 15.0  # seconds a process gets to stop after SIGTERM, before SIGKILL
LOCK_TIMEOUT = 120.0  # a start that installs mariadb-server with apt holds the lock this long


class RegistryError(Exception):
    """Something the lab started cannot be found, stopped or locked: one line that says what to do."""

    def _render_traceback_(self):  # IPython shows this instead of a traceback
        return [f"RegistryError: {self}"]


# --------------------------------------------------------------------------- processes


@dataclass(frozen=True)
class Proc:
    pid: int
    start: int  # clock ticks after boot: with the pid, names one process for ever
    ppid: int
    sid: int
    pgrp: int = 0


def proc(pid: int | None) -> Proc | None:
    """The live (not zombie) process with this pid, or None."""
    if not pid:
        return None
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()  # the command name may hold spaces and ')'
    if fields[0] in ("Z", "X"):
        return None
    return Proc(pid, int(fields[19]), int(fields[1]), int(fields[3]), int(fields[2]))


def running(pid: int | None, start: int | None) -> bool:
    """The process that had this pid when it was recorded is still running."""
    found = proc(pid)
    return found is not None and (start is None or found.start == start)


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


def describe(pid: int) -> str:
    """A short form of a process's command line, to name it in a message."""
    words = [Path(w).name if i == 0 else w for i, w in enumerate(cmdline(pid))]
    text = " ".join(words)
    return f"`{text[:60]}{'...' if len(text) > 60 else ''}` (pid {pid})" if text else f"pid {pid}"


def terminate(pid: int, start: int | None = None, timeout: float = STOP_TIMEOUT) -> bool:
    """SIGTERM, then SIGKILL after `timeout`; True once the process is gone, False if it
    was not running. A process group's leader goes with its group: what is left of the
    group once the leader has exited gets SIGKILL. Raises RegistryError when it belongs
    to another user."""
    found = proc(pid)
    if found is None or (start is not None and found.start != start):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _still_there(pid, start):
            time.sleep(0.02)
        if _still_there(pid, start):
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and _still_there(pid, start):
                time.sleep(0.02)
    except ProcessLookupError:
        pass
    except PermissionError:
        raise RegistryError(
            f"{describe(pid)} belongs to another user and cannot be stopped from here: stop it as that user."
        ) from None
    if found.pgrp == pid:
        kill_group(pid)
    return True


def kill_group(pgid: int) -> None:
    """SIGKILL every process of a process group, and wait until none is alive (a zombie
    leader, not yet reaped by its parent, is not). Once the leader has exited, the number
    still names that group: Linux gives no new process a pid that a live group or session
    still uses."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return  # nothing was left of it
    except PermissionError:
        raise RegistryError(
            f"a process of group {pgid} belongs to another user and cannot be stopped from here: stop it as that user."
        ) from None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _group_members(pgid):
        time.sleep(0.02)


def _group_members(pgid: int) -> list[int]:
    """The live (not zombie) processes of a process group."""
    members = []
    for entry in os.listdir("/proc"):
        info = proc(int(entry)) if entry.isdigit() else None
        if info is not None and info.pgrp == pgid:
            members.append(info.pid)
    return members


def _still_there(pid: int, start: int | None) -> bool:
    # A child of ours that has exited stays a zombie until reaped: reap it.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    return running(pid, start)


# --------------------------------------------------------------------------- where

_state_dir: Path | None = None


def state_dir() -> Path:
    """Where the lab keeps its files: `.state/` in the checkout, else a directory of the user's own."""
    global _state_dir
    if _state_dir is None:
        _state_dir = _usable(ROOT / ".state") or _private_dir()
    return _state_dir


def directory() -> Path:
    """The registry: one JSON file per process the lab started."""
    path = state_dir() / "run"
    path.mkdir(exist_ok=True)
    return path


def _usable(path: Path) -> Path | None:
    try:
        path.mkdir(exist_ok=True)
    except OSError:
        return None
    return path if os.access(path, os.W_OK | os.X_OK) else None


def _private_dir() -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) / "dbconn" if runtime and os.access(runtime, os.W_OK) else \
        Path(tempfile.gettempdir()) / f"dbconn-{os.getuid()}"
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = base.stat()
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise RegistryError(f"{base} belongs to another user or is open to others: remove it, then try again.")
    path = base / CHECKOUT
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def temp_prefix() -> str:
    """The start of the name of every directory this checkout makes in the temp dir."""
    return f"dbconn-{CHECKOUT}-"


def new_home(kind: str) -> Path:
    """A fresh directory (mode 0700) for the files of a process this process starts.
    Its name carries the checkout and the owner, so that a process that names its home
    in its command line is found (and known to be an orphan) even without its record."""
    me = proc(os.getpid())
    return Path(tempfile.mkdtemp(prefix=f"{temp_prefix()}{kind}-o{me.pid}.{me.start}-"))


# --------------------------------------------------------------------------- records


@dataclass
class Record:
    key: str  # the file name: KIND-PORT, or KIND-PID for what has no port
    kind: str  # "server", "private", "lease", "redis", "proxy", ...
    pid: int | None = None  # None while it starts, or when `stop` says how to stop it
    pid_start: int | None = None
    port: int | None = None
    home: str | None = None  # removed when it stops
    owner: int | None = None  # it lives for this process; None: until stopped by name
    owner_start: int | None = None
    stop: list[str] | None = None  # a command that stops it (docker compose down), instead of a signal
    keep: bool = False  # the lab's server: kept by `make db` until `make db-stop`
    what: str = ""  # how messages name it: "the throwaway server on 127.0.0.1:3307"
    checkout: str = str(ROOT)
    started: float = field(default_factory=time.time)

    @property
    def path(self) -> Path:
        return directory() / f"{self.key}.json"

    @property
    def alive(self) -> bool:
        if self.pid is None:
            return self.stop is not None  # stopped by its command: assume it runs until then
        return running(self.pid, self.pid_start)

    @property
    def orphaned(self) -> bool:
        return self.owner is not None and not running(self.owner, self.owner_start)

    @property
    def name(self) -> str:
        return self.what or f"the {self.kind}" + (f" on port {self.port}" if self.port else "")


def register(kind: str, pid: int | None = None, *, port: int | None = None, home: str | Path | None = None,
             owner: int | None = -1, stop: list[str] | None = None, keep: bool = False, what: str = "",
             key: str | None = None) -> Record:
    """Record a process the lab started (or is starting: pid None). `owner` defaults to
    the calling process; None means it stays until stopped by name."""
    owner = os.getpid() if owner == -1 else owner
    process, owner_process = proc(pid), proc(owner)
    record = Record(
        key=key or f"{kind}-{port if port is not None else pid}", kind=kind, pid=pid,
        pid_start=process.start if process else None, port=port, home=str(home) if home else None,
        owner=owner, owner_start=owner_process.start if owner_process else None,
        stop=stop, keep=keep, what=what,
    )
    _write(record)
    return record


def update(record: Record, **changes) -> Record:
    """Change a record (e.g. the pid once started, or after a restart) and save it."""
    for name, value in changes.items():
        setattr(record, name, value)
    if "pid" in changes:
        found = proc(record.pid)
        record.pid_start = found.start if found else None
    if "owner" in changes:
        found = proc(record.owner)
        record.owner_start = found.start if found else None
    _write(record)
    return record


def unregister(record: Record) -> None:
    record.path.unlink(missing_ok=True)


def _write(record: Record) -> None:
    temporary = record.path.with_name(f".{record.key}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(asdict(record), indent=1))
    os.replace(temporary, record.path)  # readers never see half a record


def records(kind: str | None = None, port: int | None = None) -> list[Record]:
    """Every readable record (optionally of one kind, or on one port)."""
    found = []
    for path in sorted(directory().glob("*.json")):
        record = _read(path)
        if record and (kind is None or record.kind == kind) and (port is None or record.port == port):
            found.append(record)
    return found


def get(key: str) -> Record | None:
    return _read(directory() / f"{key}.json")


def unreadable() -> list[Path]:
    """Record files that cannot be read (edited by hand, a full disk)."""
    return [path for path in sorted(directory().glob("*.json")) if _read(path) is None and path.exists()]


def _read(path: Path) -> Record | None:
    try:
        return Record(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


# --------------------------------------------------------------------------- stopping


def stop(record: Record, timeout: float = STOP_TIMEOUT) -> str:
    """Stop what the record names, remove its home and the record; one line that says
    exactly what happened. A lease only goes: its owner is what runs."""
    name = record.name[0].upper() + record.name[1:]
    if record.kind == "lease":
        message = f"Released {record.name}."
    elif record.stop:
        result = subprocess.run(record.stop, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise RegistryError(f"`{' '.join(record.stop)}` failed: {last}")
        message = f"Stopped {record.name}."
    elif record.pid is None:
        message = f"{name} had not finished starting; nothing of it was running."
    elif terminate(record.pid, record.pid_start, timeout):
        message = f"Stopped {record.name} (pid {record.pid})."
    else:
        message = f"{name} (pid {record.pid}) was no longer running."
    if record.home and Path(record.home).exists():
        remove_tree(record.home)
        message = message[:-1] + "; removed its files."
    unregister(record)
    return message


@contextlib.contextmanager
def registered(kind: str, pid: int, **fields):
    """Record the process for the duration of the block; stop it on the way out."""
    record = register(kind, pid, **fields)
    try:
        yield record
    finally:
        with deferred_signals():
            stop(record)


class Started:
    """A process started by `start()`: `.process` (its Popen), `.record`, `.home`. `.stop()`
    (or the end of a `with` block) stops it and its group and removes its home; a second
    call does nothing."""

    def __init__(self, process: subprocess.Popen, record: Record, home: Path | None):
        self.process, self.record, self.home = process, record, home
        self._stopped: str | None = None

    def stop(self) -> str:
        if self._stopped is None:
            with deferred_signals():
                self._stopped = stop(self.record)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=1)  # already reaped or gone: only sets its returncode
        return self._stopped

    def __enter__(self) -> Started:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def start(kind: str, command: list[str], *, home: str | Path | None = None, port: int | None = None,
          what: str = "", env: dict | None = None, cwd: str | Path | None = None) -> Started:
    """Start `command` in a session of its own, recorded as this process's: stopped, with
    its process group, by `.stop()` or at the end of a `with` block, or, if this process
    dies first (even by SIGKILL), by the next sweep(). `home` (from new_home()) is removed
    when it stops: name it in the command line (its log file, its pid file), so that
    `make clean` finds the process even without its record. Output is discarded: give the
    program a log file in its home."""
    sweep()
    try:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError as exc:
        if home:
            remove_tree(home)
        raise RegistryError(f"cannot run {command[0]!r}: {exc.strerror}") from None
    record = register(kind, process.pid, port=port, home=home, what=what)
    return Started(process, record, Path(home) if home else None)


def sweep(thorough: bool = False) -> list[str]:
    """Stop every orphan: a process whose owner has exited. One line for each. Thorough:
    also those whose record is lost, found by their command line (scan()); slower."""
    messages = []
    for record in records():
        if record.orphaned:
            message = stop(record)
            if record.kind != "lease":
                messages.append(f"{message[:-1]}: its owner (pid {record.owner}) had exited.")
    if thorough:
        recorded = {record.pid for record in records()}
        for info in scan():
            home, name = _orphan_home(info), describe(info.pid)
            if home and info.pid not in recorded and terminate(info.pid, info.start):
                remove_tree(home)
                messages.append(f"Stopped {name} and removed {home}: it had no record, and its owner had exited.")
    return messages


def scan() -> list[Proc]:
    """Processes of this checkout found by their command line alone, recorded or not: session
    leaders that name a home of this checkout (in `.state/` or the temp dir)."""
    markers = [f"{state_dir()}/", os.path.join(tempfile.gettempdir(), temp_prefix())]
    mine = {os.getpid(), os.getppid()}
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in mine:
            continue
        info = proc(int(entry))
        if info is None or info.sid != info.pid or not _ours(info.pid):
            continue
        if any(marker in word for word in cmdline(info.pid) for marker in markers):
            found.append(info)
    return found


def _ours(pid: int) -> bool:
    """Root's, every process (its servers run as `mysql`); anyone else's, their own."""
    try:
        return os.geteuid() == 0 or Path(f"/proc/{pid}").stat().st_uid == os.geteuid()
    except OSError:
        return False


def _orphan_home(info: Proc) -> str | None:
    """The home of a process found by scan() when the home's name says its owner has exited."""
    pattern = re.escape(os.path.join(tempfile.gettempdir(), temp_prefix())) + r"[\w]+-o(\d+)\.(\d+)-\w+"
    for word in cmdline(info.pid):
        match = re.search(pattern, word)
        if match and not running(int(match.group(1)), int(match.group(2))):
            return match.group(0)
    return None


def clean() -> list[str]:
    """Stop everything this checkout started (recorded, or found by scan()), then remove
    its state and temp dirs. Raises RegistryError, and removes nothing, while something
    still runs."""
    messages = []
    with checkout_lock(exclusive=True):
        for record in records():
            if record.kind == "lease":
                stop(record)
                continue
            with port_lock(record.port) if record.port is not None else contextlib.nullcontext():
                messages.append(stop(record))
        for info in scan():
            name = describe(info.pid)
            if terminate(info.pid, info.start):
                messages.append(f"Stopped {name}, found by its command line (it had no record).")
        still = scan()
        if still:
            raise RegistryError(
                f"{describe(still[0].pid)} still runs and uses this checkout's files: stop it, then `make clean` again."
            )
        for path in unreadable():
            messages.append(f"Removed the unreadable record {path}.")
        for home in Path(tempfile.gettempdir()).glob(f"{temp_prefix()}*"):
            remove_tree(home)
        remove_tree(state_dir())
    return messages


def remove_tree(path: str | Path) -> None:
    """Remove a directory (a server's files can belong to the `mysql` user: fine as root)."""
    shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------- locks


@contextlib.contextmanager
def port_lock(port: int, timeout: float = LOCK_TIMEOUT):
    """Held while a lab server starts or stops on `port`, across checkouts and users.
    An abstract Unix socket: nothing to create or leave behind, freed when its holder dies."""
    holder = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                holder.bind(f"\0dbconn-port-{port}")
                break
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
            if time.monotonic() > deadline:
                raise RegistryError(
                    f"Another lab command has been starting or stopping a server on port {port} for "
                    f"{timeout:.0f} s: wait for it, or use another port (MYSQL_PORT=...)."
                )
            time.sleep(0.05)
        yield
    finally:
        holder.close()


@contextlib.contextmanager
def checkout_lock(exclusive: bool = False, timeout: float = LOCK_TIMEOUT):
    """Shared while something of this checkout starts; exclusive while `clean()` runs."""
    fd = os.open(ROOT, os.O_RDONLY | os.O_DIRECTORY)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RegistryError(
                        f"Another lab command in {ROOT} has held its lock for {timeout:.0f} s: wait for it to end."
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def deferred_signals():
    """Run a clean-up to its end: Ctrl-C or SIGTERM during it is acted on afterwards."""
    if not _main_thread():
        yield
        return
    pending = []
    handlers = {sig: signal.signal(sig, lambda number, frame: pending.append(number))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        for sig in pending[:1]:
            signal.raise_signal(sig)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


# --------------------------------------------------------------------------- command line


def _main(argv: list[str]) -> int:
    usage = "usage: python3 dbconn/registry.py list|sweep|clean"
    if len(argv) != 1 or argv[0] not in ("list", "sweep", "clean"):
        print(f"error: {usage}", file=sys.stderr)
        return 2
    try:
        if argv[0] == "list":
            for record in records():
                state = "running" if record.alive else "not running"
                owner = "" if record.owner is None else f", owner pid {record.owner}" + (
                    " (exited: an orphan)" if record.orphaned else "")
                print(f"{record.key}: {record.name}, pid {record.pid}, {state}{owner}")
            for path in unreadable():
                print(f"{path.name}: unreadable")
        else:
            for line in (sweep() if argv[0] == "sweep" else clean()):
                print(line)
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
