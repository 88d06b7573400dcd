"""`make notebooks` and `make serve` as root and as a normal user, each on a port of the
user's choice; stopped with Ctrl-C, they leave nothing running. The normal user is
`nobody`: it cannot write this checkout (so the lab keeps its state in a directory of
its own) and cannot run the virtualenv's interpreter under /root, so it runs Debian's
python3 on the virtualenv's packages, as `make PY=...` allows."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from dbconn.server import free_port
from fault_tools import ROOT, answers, wait_for

NOBODY = 65534
SYSTEM_PYTHON = Path("/usr/bin/python3")


@pytest.fixture
def shared_dir():
    """A directory `nobody` can read (pytest's tmp_path, under a 0700 parent, is not)."""
    path = Path(tempfile.mkdtemp(prefix="dbconn-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def as_nobody(shared_dir) -> tuple[list[str], dict]:
    """(command prefix, environment) to run a command as `nobody`."""
    if os.geteuid() != 0:
        pytest.skip("switching to another user needs root")
    if not SYSTEM_PYTHON.exists():
        pytest.skip("no /usr/bin/python3 for the other user")
    home = shared_dir / "nobody-home"
    home.mkdir()
    os.chown(home, NOBODY, NOBODY)
    prefix = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "PYTHONPATH": sysconfig.get_paths()["purelib"]}
    return prefix, env


def page_answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=10)
        return True
    except urllib.error.HTTPError:  # JupyterLab asks for its token: it answers
        return True
    except OSError:
        return False


def started(lines: list[str]) -> bool:
    """JupyterLab runs, and has finished looking for language servers if it looks (jupyter-lsp,
    in a thread of its own that a ^C in its first second interrupts with a traceback)."""
    text = "".join(lines)
    looks = "jupyter_lsp | extension was successfully loaded" in text
    return "Use Control-C to stop this server" in text and (not looks or "Skipped non-installed server(s)" in text)


def stop_with_ctrl_c(process: subprocess.Popen) -> str:
    os.killpg(process.pid, signal.SIGINT)  # the whole group, as a terminal's ^C
    out, _ = process.communicate(timeout=120)
    return out


@pytest.mark.parametrize("user", ["root", "nobody"])
def test_make_notebooks_on_a_chosen_port(shared_dir, user):
    jupyter_port, db_port = free_port(), free_port()
    prefix, env, python = [], dict(os.environ), sys.executable
    if user == "nobody":
        prefix, env = as_nobody(shared_dir)
        python = str(SYSTEM_PYTHON)
    elif os.geteuid() != 0:
        pytest.skip("not root here")
    command = [*prefix, "make", "--no-print-directory", "notebooks", f"PY={python}",
               f"JUPYTER_PORT={jupyter_port}", f"MYSQL_PORT={db_port}"]
    env["DBCONN_SERVER"] = "local"
    lab = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           start_new_session=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(lab.stdout), daemon=True)
    reader.start()
    try:
        wait_for(lambda: started(lines) or lab.poll() is not None, timeout=180, what="JupyterLab")
        assert lab.poll() is None, "".join(lines)
        wait_for(lambda: page_answers(f"http://127.0.0.1:{jupyter_port}/lab"), what="JupyterLab's page")
        assert answers(db_port)  # the server it started for the notebooks
    finally:
        os.killpg(lab.pid, signal.SIGINT)  # the whole group, as a terminal's ^C
        lab.wait(timeout=120)
        reader.join(timeout=60)
        if user == "nobody":  # its state, kept in a directory of its own, goes with `make clean`
            cleaned = subprocess.run([*prefix, str(SYSTEM_PYTHON), "dbconn/registry.py", "clean"], cwd=ROOT,
                                     env=env, capture_output=True, text=True, timeout=120)
            shutil.rmtree(f"/tmp/dbconn-{NOBODY}", ignore_errors=True)
    out = "".join(lines)
    assert f"Started a throwaway server at 127.0.0.1:{db_port}" in out
    assert f"Stopped the throwaway server on 127.0.0.1:{db_port} (pid " in out, out
    assert "Traceback" not in out
    assert not answers(jupyter_port) and not answers(db_port)
    if user == "nobody":
        assert cleaned.returncode == 0, cleaned.stderr


def test_serve_as_a_normal_user_on_a_chosen_port(shared_dir):
    prefix, env = as_nobody(shared_dir)
    site = shared_dir / "site"
    site.mkdir()
    (site / "index.html").write_text("<p>the site</p>")
    port = free_port()
    serving = subprocess.Popen([*prefix, str(SYSTEM_PYTHON), "-m", "dbconn", "serve", "--port", str(port),
                                "--directory", str(site)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        wait_for(lambda: page_answers(f"http://127.0.0.1:{port}/") or serving.poll() is not None, what="the site")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:
            assert page.read() == b"<p>the site</p>"
    finally:
        out = stop_with_ctrl_c(serving)
    assert serving.returncode == 130 and out.strip().splitlines()[-1] == "error: interrupted"
    assert not answers(port)


def test_serve_below_1024_as_a_normal_user_says_so(shared_dir):
    prefix, env = as_nobody(shared_dir)
    (shared_dir / "index.html").write_text("x")
    result = subprocess.run([*prefix, str(SYSTEM_PYTHON), "-m", "dbconn", "serve", "--port", "80",
                             "--directory", str(shared_dir)], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: port 80 needs root (ports below 1024 do): choose another (make serve SERVE_PORT=8000)"
