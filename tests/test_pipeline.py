"""The build pipeline (dbconn.pipeline) on a small Sphinx project of its own: notebooks
found with no configuration and run in parallel, a failed build never published and
executed again by the next one, Ctrl-C that stops everything and says so in one line."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from dbconn import pipeline
from test_notebook_runner import HEADER

ROOT = Path(__file__).parent.parent

CONF = """
from dbconn import pipeline

extensions = ["myst_nb"]
nb_execution_mode = "cache"
exclude_patterns = ["_build"]


def setup(app):
    pipeline.setup(app, notebooks_use=["helper*.py"])
"""

NOTEBOOK = HEADER + """
# {title}

```{{code-cell}} ipython3
{code}
```
"""


class Project:
    """A Sphinx project in tmp_path: an index that lists every page, and notebooks."""

    def __init__(self, tmp_path: Path):
        self.source = tmp_path / "project"
        self.build_dir = tmp_path / "build"
        # The build's TMPDIR, where kernel files, Sphinx's crash logs and private servers would
        # land; outside pytest's own (root-only) folder, so that mariadbd's user can enter it.
        self.tmp = Path(tempfile.mkdtemp(prefix="pipeline-test-"))
        self.tmp.chmod(0o755)
        self.source.mkdir()
        (self.source / "conf.py").write_text(CONF)
        self.pages = []

    def notebook(self, name: str, code: str) -> Path:
        path = self.source / f"{name}.md"
        path.write_text(NOTEBOOK.format(title=name, code=textwrap.dedent(code).strip()))
        if name not in self.pages:
            self.pages.append(name)
        toctree = "\n".join(self.pages)
        (self.source / "index.md").write_text(f"# Probe\n\n```{{toctree}}\n{toctree}\n```\n")
        return path

    def command(self) -> list[str]:
        return [sys.executable, "-m", "dbconn.pipeline", "--source", str(self.source), "-W", "--keep-going", "-n", "-q"]

    def env(self, **extra) -> dict:
        return {**os.environ, "DBCONN_BUILD": str(self.build_dir), "TMPDIR": str(self.tmp), **extra}

    def build(self, **env) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(), env=self.env(**env), capture_output=True, text=True, timeout=300)

    @property
    def layout(self) -> pipeline.Layout:
        return pipeline.Layout(self.build_dir)

    def published(self, name: str) -> str:
        return (self.layout.site / f"{name}.html").read_text()


@pytest.fixture
def project(tmp_path):
    made = Project(tmp_path)
    yield made
    shutil.rmtree(made.tmp, ignore_errors=True)


# What the probe notebook does: count its runs, then print the state it was given, or fail.
PROBE = """
from pathlib import Path

with open("runs.log", "a") as runs:
    runs.write("run\\n")
state = Path("state.txt").read_text()
if state == "broken":
    raise RuntimeError("broken on purpose")
print(f"state: {state}")
"""


def test_a_failed_build_is_never_published_and_the_next_build_executes_it_again(project):
    state, runs = project.source / "state.txt", project.source / "runs.log"
    probe = project.notebook("probe", PROBE)
    state.write_text("first")
    first = project.build()
    assert first.returncode == 0, first.stderr
    assert "state: first" in project.published("probe")
    assert pipeline.record("probe", project.layout)["problems"] == []

    probe.write_text(probe.read_text() + "\n<!-- edited -->\n")  # the next build reads it again
    state.write_text("broken")
    failed = project.build()
    assert failed.returncode != 0
    assert "probe.md:14: WARNING: cell 1 raised an undeclared error: RuntimeError: broken on purpose" in failed.stderr
    assert "still holds the last complete build" in failed.stderr
    assert "state: first" in project.published("probe"), "the failed build's page was published"

    # The source has not changed since the failed build: Sphinx alone would call it up to date.
    state.write_text("fixed")
    again = project.build()
    assert again.returncode == 0, again.stderr
    assert "state: fixed" in project.published("probe")
    assert runs.read_text().count("run") == 3

    nothing_to_do = project.build()
    assert nothing_to_do.returncode == 0, nothing_to_do.stderr
    assert runs.read_text().count("run") == 3, "a green build with nothing changed executes nothing"


def test_a_change_to_the_code_the_notebooks_run_executes_them_again(project):
    helper = project.source / "helper.py"
    helper.write_text("VALUE = 'first'\n")
    project.notebook("uses_helper", "import helper\nprint(f'helper says {helper.VALUE}')")
    assert project.build().returncode == 0
    assert "helper says first" in project.published("uses_helper")
    helper.write_text("VALUE = 'second'\n")  # the notebook itself is unchanged
    again = project.build()
    assert again.returncode == 0, again.stderr
    assert "helper says second" in project.published("uses_helper")


def test_new_notebooks_run_in_parallel_with_no_configuration(project):
    # Each waits for the other to have started: they finish only if they run at the same time.
    for me, other in (("left", "right"), ("right", "left")):
        project.notebook(me, f"""
            import time
            from pathlib import Path

            Path("{me}.started").touch()
            deadline = time.monotonic() + 60
            while not Path("{other}.started").exists():
                assert time.monotonic() < deadline, "the other notebook never started"
                time.sleep(0.05)
            print("both ran at once")
        """)
    result = project.build(DBCONN_JOBS="2")
    assert result.returncode == 0, result.stderr
    for name in ("left", "right"):
        assert "both ran at once" in project.published(name)
        assert pipeline.record(name, project.layout)["problems"] == []


def test_the_rules_fail_the_build_and_name_the_cell(project):
    project.notebook("leak", "import dbconn\nkept = dbconn.connect()")
    result = project.build()
    assert result.returncode != 0
    assert "leak.md: WARNING: the kernel still holds 1 server connection(s) at the end" in result.stderr, result.stderr
    assert not project.layout.site.exists()


def _ctrl_c_able(command, env):
    """Start `command` as a terminal starts it (SIGINT at its default: see conftest.py), in a process group
    of its own."""
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def test_ctrl_c_stops_the_build_in_one_line_and_leaves_nothing_behind(project):
    started = project.source / "started.txt"
    project.notebook("holds_a_server", f"""
        import threading
        from pathlib import Path

        from dbconn.server import private_server

        with private_server() as private:
            Path({str(started)!r}).write_text(str(private.process.pid))
            threading.Event().wait()  # until interrupted
    """)
    build = _ctrl_c_able(project.command(), project.env())
    deadline = time.monotonic() + 120
    while not started.exists():
        assert build.poll() is None, build.communicate()
        assert time.monotonic() < deadline, "the notebook never started its server"
        time.sleep(0.1)
    server_pid = int(started.read_text())
    os.killpg(build.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    out, err = build.communicate(timeout=120)

    assert build.returncode == 130, err
    assert [line for line in err.splitlines() if line.strip()] == [pipeline.INTERRUPTED]
    assert not psutil.pid_exists(server_pid), "the notebook's private server is still running"
    left = [p for p in psutil.process_iter(["cmdline"]) if str(project.tmp) in " ".join(p.info["cmdline"] or [])]
    assert left == [], f"still running: {left}"
    assert list(project.tmp.iterdir()) == [], "kernel connection files or crash logs were left in the temp dir"
    assert not project.layout.site.exists()
    pending = (project.layout.executed / "pending.json").read_text()
    assert "holds_a_server" in pending, "the next build must execute it again"
