"""The README's commands are the whole install: `make html` and `make test` install what they
need (dbconn/system.py, the one list), one line before each install, and one line that says
what to install when they cannot. Missing commands are simulated by a PATH without them and
a stand-in apt-get; nothing here installs or removes a real package."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "dbconn"))
import system  # noqa: E402  (dbconn/system.py runs with the system's Python, outside the package)

ROOT = Path(__file__).parent.parent

# Records its arguments; "installs" graphviz by putting a `dot` next to itself, or fails.
FAKE_APT = """#!/bin/sh
echo "$@" >> "{log}"
[ -n "{fail}" ] && exit 100
case "$*" in *install*graphviz*) printf '#!/bin/sh\\n' > "$(dirname "$0")/dot"; chmod +x "$(dirname "$0")/dot";; esac
exit 0
"""


def path_without(tmp_path: Path, *missing: str, apt: str | None = None) -> str:
    """A PATH with every command of the real one except `missing`, and `apt` as apt-get."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for folder in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(folder):
            continue
        for entry in os.scandir(folder):
            target = bin_dir / entry.name
            if entry.name not in missing and entry.name != "apt-get" and not target.exists():
                target.symlink_to(entry.path)
    if apt is not None:
        (bin_dir / "apt-get").write_text(apt)
        (bin_dir / "apt-get").chmod(0o755)
    return str(bin_dir)


@pytest.fixture
def copy():
    """dbconn/system.py in a folder of its own, which any user may read (pytest's is root's
    only): its apt log goes there, not into this checkout."""
    home = Path(tempfile.mkdtemp(prefix="system-test-"))
    home.chmod(0o755)
    (home / "dbconn").mkdir(mode=0o755)
    shutil.copy(ROOT / "dbconn" / "system.py", home / "dbconn" / "system.py")
    yield home / "dbconn" / "system.py"
    shutil.rmtree(home)


def run(script: Path, target: str, path: str, python: str = sys.executable, user: str | None = None):
    """The script as `user` (a numeric id: setpriv's --reuid and --regid) when given."""
    command = [python, str(script), target]
    if user:
        command = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *command]
    return subprocess.run(command, env={**os.environ, "PATH": path}, capture_output=True, text=True, timeout=60)


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_a_missing_command_is_installed_with_one_line_before(tmp_path, copy):
    log = tmp_path / "apt.calls"
    result = run(copy, "html", path_without(tmp_path, "dot", apt=FAKE_APT.format(log=log, fail="")))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Installing graphviz for the help pages' diagrams (apt-get) ...\n"
    # Each waits for another install's lock instead of failing at once.
    assert log.read_text().splitlines() == ["-o DPkg::Lock::Timeout=600 update",
                                            "-o DPkg::Lock::Timeout=600 install -y graphviz"]


def test_a_failed_install_says_what_to_do(tmp_path, copy):
    log = tmp_path / "apt.calls"
    result = run(copy, "html", path_without(tmp_path, "dot", apt=FAKE_APT.format(log=log, fail="yes")))
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert line.startswith("error: `apt-get update` failed (see ")
    assert "install graphviz by hand, then run make html again" in line


@pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/bin/python3").exists() or not shutil.which("setpriv"),
                    reason="needs root to run as another user, and Debian's python3")
def test_without_root_it_says_exactly_what_to_install(tmp_path, copy):
    log = copy.parent.parent / "apt.calls"
    path = path_without(copy.parent.parent, "dot", "chromium", apt=FAKE_APT.format(log=log, fail=""))
    result = run(copy, "test", path, python="/usr/bin/python3", user="65534")
    line = one_line(result.stderr)
    assert result.returncode == 1 and result.stdout == ""
    assert line.startswith("error: make test needs the `dot` command for the help pages' diagrams (graphviz; "
                           "elsewhere: `brew install graphviz`); the `chromium` command for the browser tests")
    assert "(not root): run `sudo apt-get install graphviz chromium`, or see README.md, \"Without root or apt\"" in line
    assert not log.exists(), "apt-get was run without root"


def test_without_apt_get_it_says_what_to_install(tmp_path, copy):
    result = run(copy, "html", path_without(tmp_path, "dot"))
    line = one_line(result.stderr)
    assert "(no apt-get): run `sudo apt-get install graphviz`" in line and "brew install graphviz" in line


def test_make_html_in_a_clean_copy_stops_at_a_missing_install_step(tmp_path):
    """What a new user gets on a machine without graphviz, where apt-get fails: one line, before
    anything else is built (no .venv)."""
    clean = tmp_path / "clean"
    # What a clone of this checkout would hold (with its changes not yet committed).
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True)
    for name in filter(None, files.stdout.split("\0")):
        if (ROOT / name).is_file():
            (clean / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, clean / name)
    log = tmp_path / "apt.calls"
    path = path_without(tmp_path, "dot", apt=FAKE_APT.format(log=log, fail="yes"))
    # As a reader's shell runs it: not inside another make (`make bench` runs the tests).
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    result = subprocess.run(["make", "html", f"PYTHON={sys.executable}"], cwd=clean, capture_output=True, text=True,
                            env={**env, "PATH": path}, timeout=120)
    assert result.returncode != 0
    assert "Installing graphviz for the help pages' diagrams (apt-get) ..." in result.stdout
    errors = [line for line in result.stderr.splitlines() if not line.startswith("make: ***")]
    assert len(errors) == 1 and errors[0].startswith("error: `apt-get update` failed"), result.stderr
    assert not (clean / ".venv").exists()


def test_there_is_one_list_of_system_packages():
    for path in ("Makefile", ".ci/run"):
        text = (ROOT / path).read_text()
        assert "apt-get" not in text, f"{path} installs packages of its own"
        for need in system.NEEDS:
            for package in need.packages:
                assert f" {package}" not in text, f"{path} names {package}: it belongs in dbconn/system.py"
    # CI runs the README's quick start, and other commands of the README only.
    commands = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
                if line.strip() and not line.startswith(("#", "set ", "cd "))]
    assert commands[:2] == ["make html", "make test"]
    readme = (ROOT / "README.md").read_text()
    assert "make html    #" in readme and "make test    #" in readme
    for command in commands:
        assert command.startswith("make ") and f"`{command}`" in readme, f"{command}: not a command of the README"


def test_each_need_says_what_it_is_for_and_what_provides_it():
    targets = {"venv", "html", "test", "db"}
    for need in system.NEEDS:
        assert need.purpose and need.provides and need.packages and need.elsewhere, need
        assert need.targets <= targets, need
    html = {n.packages for n in system.NEEDS if "html" in n.targets}
    test = {n.packages for n in system.NEEDS if "test" in n.targets}
    assert html <= test, "`make test` builds the site too"
    assert all(need.present() for need in system.NEEDS), f"this machine lacks: {system.missing('test')}"


LOCKED_APT = """#!/bin/sh
echo "$@" >> "{log}"
if ! {python} -c 'import fcntl, sys; fcntl.lockf(open(sys.argv[1], "a"), fcntl.LOCK_EX | fcntl.LOCK_NB)' "{lock}" 2>/dev/null
then echo "E: Could not get lock {lock}. It is held by process 1 (apt-get)"; exit 100; fi
exit 0
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="the lab installs only as root")
def test_another_install_under_way_is_waited_for(tmp_path, monkeypatch):
    """apt-get update does not wait for its lock (DPkg::Lock::Timeout covers dpkg's only): the
    lab waits for another apt-get to let go of it, then runs the step again."""
    lock, log = tmp_path / "lists.lock", tmp_path / "apt.calls"
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, sys; lock = open(sys.argv[1], 'a'); "
                               "fcntl.lockf(lock, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.read()",
                               str(lock)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "held\n"
    path = path_without(tmp_path, apt=LOCKED_APT.format(log=log, python=sys.executable, lock=lock))
    monkeypatch.setenv("PATH", path)
    monkeypatch.setattr(system, "APT_LOCKS", (str(lock),))
    monkeypatch.setattr(system, "LOG", tmp_path / "apt.log")
    said = []

    def say(line, flush=False):
        said.append(line)
        if "waiting" in line:
            holder.stdin.close()  # the other install ends
            holder.wait()

    need = system.Need(provides="nothing", purpose="a test", packages=("nothing",), elsewhere="-",
                       targets=frozenset({"html"}), present=lambda: log.exists() and "install" in log.read_text())
    system.ensure("html", needs=[need], say=say)
    assert said == ["Installing nothing for a test (apt-get) ...", "Another apt-get holds apt's lock: waiting for it ..."]
    calls = log.read_text().splitlines()
    assert [c.split()[-1] for c in calls] == ["update", "update", "nothing"], calls
