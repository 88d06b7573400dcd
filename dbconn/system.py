"""What the lab needs from the system, and how it gets it: the one list of system packages.

`make html`, `make test` and `make venv` run this file with the system's Python (standard
library only: it runs before .venv exists). For each need of the target that is missing,
it prints one line and installs the Debian packages with apt-get; when it cannot (not
root, no apt-get), it stops with one line that says what to install, on Debian and
elsewhere. A new need (a broker, a proxy) is one more `Need` in NEEDS, nothing else.

    python3 dbconn/system.py html|test|venv|db
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOG = ROOT / ".state" / "apt.log"
# Daemons live in sbin, which a user's PATH often lacks.
SEARCH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])


def command(name: str) -> Callable[[], bool]:
    return lambda: shutil.which(name, path=SEARCH) is not None


def any_of(*checks: Callable[[], bool]) -> Callable[[], bool]:
    return lambda: any(check() for check in checks)


def module(name: str) -> Callable[[], bool]:
    return lambda: importlib.util.find_spec(name) is not None


def pkg_config(*names: str) -> Callable[[], bool]:
    def found() -> bool:
        return shutil.which("pkg-config") is not None and any(
            subprocess.run(["pkg-config", "--exists", name]).returncode == 0 for name in names)
    return found


def python_headers() -> bool:
    return (Path(sysconfig.get_paths()["include"]) / "Python.h").exists()


def server_answers() -> bool:
    """Something listens where the lab's server is expected (MYSQL_HOST:MYSQL_PORT)."""
    where = (os.environ.get("MYSQL_HOST", "127.0.0.1"), int(os.environ.get("MYSQL_PORT", "3307")))
    try:
        socket.create_connection(where, timeout=1).close()
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class Need:
    purpose: str  # what it is for, as the reader is told
    provides: str  # what is checked, in words: "the `dot` command"
    present: Callable[[], bool]
    packages: tuple[str, ...]  # Debian's
    elsewhere: str  # what to install without apt (macOS with Homebrew, say)
    targets: frozenset[str]


BUILD, ALL = frozenset({"html", "test"}), frozenset({"html", "test", "db"})
DATABASE = Need("the lab's database server", "mariadbd, mysqld, Docker or a server answering at MYSQL_PORT",
                any_of(command("mariadbd"), command("mysqld"), command("docker"), server_answers),
                ("mariadb-server", "mariadb-client"), "Docker (the lab then starts MySQL 8.4), or `brew install mariadb`",
                ALL)

# Everything `make html`, `make test` and `make venv` need from the system.
NEEDS = (
    Need("the project's .venv", "Python's venv and ensurepip modules",
         lambda: module("ensurepip")() and module("venv")(), ("python3-venv",),
         "a Python 3.11+ with venv (python.org's installer or `brew install python@3.11`)", frozenset({"venv"})),
    Need("pip to compile mysqlclient", "a C compiler, Python's headers, pkg-config and the MariaDB/MySQL client library",
         lambda: command("cc")() and python_headers() and pkg_config("libmariadb", "mysqlclient")(),
         ("build-essential", "python3-dev", "pkg-config", "libmariadb-dev"),
         "`brew install pkg-config mysql-client` and PKG_CONFIG_PATH=$(brew --prefix)/opt/mysql-client/lib/pkgconfig",
         frozenset({"venv"})),
    Need("the help pages' diagrams", "the `dot` command", command("dot"), ("graphviz",),
         "`brew install graphviz`", BUILD),
    DATABASE,
    Need("the Celery notebook's broker", "the `redis-server` command", command("redis-server"), ("redis-server",),
         "`brew install redis`", BUILD),
    Need("the browser tests", "the `chromium` command", command("chromium"), ("chromium",),
         "`brew install --cask chromium`", frozenset({"test"})),
)


class CannotInstall(Exception):
    """One line: what is missing and what to install."""


def missing(target: str, needs=NEEDS) -> list[Need]:
    return [need for need in needs if target in need.targets and not need.present()]


# Another install under way (a second checkout's make, unattended-upgrades) holds apt's
# locks: wait for them, as long as an install may take, instead of failing at once.
# apt-get waits for dpkg's lock itself (DPkg::Lock::Timeout), not for `update`'s.
LOCK_WAIT = 600  # seconds
APT_GET = ["apt-get", "-o", f"DPkg::Lock::Timeout={LOCK_WAIT}"]
APT_LOCKS = ("/var/lib/apt/lists/lock", "/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock")


def _locked_by_another(path: str) -> bool:
    """Does another process hold apt's lock `path` (apt's own kind: fcntl)?"""
    try:
        with open(path, "a") as lock:
            fcntl.lockf(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released when closed
    except BlockingIOError:
        return True
    except OSError:  # no such lock here
        return False
    return False


def _apt_get(step: list[str], log, env: dict, say) -> int:
    """`apt-get STEP`; while another process holds apt's locks, wait for them and try again."""
    deadline = time.monotonic() + LOCK_WAIT
    said = False
    while True:
        log.flush()
        start = os.fstat(log.fileno()).st_size
        code = subprocess.run([*APT_GET, *step], stdout=log, stderr=subprocess.STDOUT, env=env).returncode
        with open(log.name, errors="replace") as output:
            output.seek(start)
            lost_a_lock = "Could not get lock" in output.read()
        if code == 0 or not lost_a_lock or time.monotonic() > deadline:
            return code
        if not said:
            say("Another apt-get holds apt's lock: waiting for it ...", flush=True)
            said = True
        while any(map(_locked_by_another, APT_LOCKS)) and time.monotonic() < deadline:
            time.sleep(0.5)  # polled: waiting in lockf() would take the lock from apt, with no bound


def can_install() -> bool:
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def ensure(target: str, needs=NEEDS, say=print) -> None:
    """Install what `target` needs and the system lacks; CannotInstall when that cannot be done here."""
    lacking = missing(target, needs)
    if not lacking:
        return
    if not can_install():
        why = "not root" if shutil.which("apt-get") else "no apt-get"
        packages = " ".join(p for need in lacking for p in need.packages)
        wanted = "; ".join(f"{need.provides} for {need.purpose} ({' '.join(need.packages)}; elsewhere: {need.elsewhere})"
                           for need in lacking)
        raise CannotInstall(f"make {target} needs {wanted}. It cannot install them here ({why}): "
                            f"run `sudo apt-get install {packages}`, or see README.md, \"Without root or apt\".")
    LOG.parent.mkdir(exist_ok=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    with open(LOG, "a") as log:
        updated = False
        for need in lacking:
            say(f"Installing {' '.join(need.packages)} for {need.purpose} (apt-get) ...", flush=True)
            steps = [] if updated else [["update"]]
            for step in [*steps, ["install", "-y", *need.packages]]:
                if _apt_get(step, log, env, say) != 0:
                    raise CannotInstall(f"`apt-get {' '.join(step)}` failed (see {LOG}): install "
                                        f"{' '.join(need.packages)} by hand, then run make {target} again.")
            updated = True
            if not need.present():
                raise CannotInstall(f"apt-get installed {' '.join(need.packages)}, but {need.provides} is still "
                                    f"missing (see {LOG}).")


def main(argv: list[str]) -> int:
    targets = sorted(set().union(*(need.targets for need in NEEDS)))
    if len(argv) != 1 or argv[0] not in targets:
        print(f"usage: python3 dbconn/system.py {'|'.join(targets)}", file=sys.stderr)
        return 2
    try:
        ensure(argv[0])
    except CannotInstall as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
