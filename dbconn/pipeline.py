"""The site build: every notebook executed once per build, in parallel, checked by the
notebook rules (dbconn.notebooks), and a build that fails never published.

How it fits myst-nb (conf.py sets ``nb_execution_mode = "cache"``):

1. Before Sphinx reads anything, one run of ``python -m dbconn.notebooks`` starts per
   notebook to be read, two per core at a time (``DBCONN_JOBS`` says otherwise), the
   longest first (as timed by the previous build), which alone runs at full CPU
   priority. Each executes the notebook exactly as myst-nb reads it. Background
   commands (the driver matrix) start too, at the lower priority.
2. When Sphinx comes to a notebook, it waits for that run, puts the executed notebook
   into myst-nb's jupyter-cache (emptied at the start of each build, so only this
   build's runs are in it), and myst-nb renders those outputs: it executes nothing
   itself. Each problem the run found is a warning on that page: -W fails the build.
3. Each run leaves ``<doctrees>/executed/<docname>.ipynb`` (the executed notebook, as
   published) and ``<docname>.json`` (its problems, timings and the source's hash):
   the tests read these instead of executing the notebooks again.
4. The pages a build read are written to ``pending.json`` before it reads them, and
   the file is removed only when the build ends without a warning: after a failure
   or an interrupt, the next build reads (and executes) them again, even though
   Sphinx thinks they are up to date.

    python -m dbconn.pipeline [sphinx options]

builds into ``_build/stage/html`` and, only when the build is green, copies it to
``_build/html``, the published site. ``DBCONN_BUILD`` moves ``_build`` elsewhere.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from .notebooks import GRACE

ROOT = Path(__file__).resolve().parent.parent
INTERRUPTED = ("Interrupted: the notebook runs were stopped and their kernels shut down; "
               "the published site still holds the last complete build.")


@dataclass(frozen=True)
class Layout:
    """Where a build's files go: ``html`` is published, ``stage`` is worked in."""

    root: Path

    @property
    def site(self) -> Path:
        return self.root / "html"

    @property
    def stage(self) -> Path:
        return self.root / "stage" / "html"

    @property
    def doctrees(self) -> Path:
        return self.root / "stage" / "doctrees"

    @property
    def executed(self) -> Path:
        return executed_dir(self.doctrees)


def layout() -> Layout:
    return Layout(Path(os.environ.get("DBCONN_BUILD", ROOT / "_build")).resolve())


def jobs() -> int:
    """Notebook runs at a time: DBCONN_JOBS, else two per core (a notebook mostly waits on the
    server: idle timeouts, kills, slow readers; two per core keep both cores busy)."""
    return int(os.environ.get("DBCONN_JOBS") or 2 * (os.cpu_count() or 1))


def executed_dir(doctreedir: Path | str) -> Path:
    return Path(doctreedir) / "executed"


def record(docname: str, where: Layout | None = None) -> dict | None:
    """What the last build's run of a notebook found (None if it has not run to the end)."""
    path = (where or layout()).executed / f"{docname}.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def source_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# --------------------------------------------------------------------------- the runs


@dataclass
class Run:
    docname: str
    command: list[str]
    log: Path  # its output
    errors: Path | None = None  # its stderr, when apart from its output
    done: threading.Event = field(default_factory=threading.Event)
    process: subprocess.Popen | None = None
    returncode: int | None = None
    interrupt: int = signal.SIGTERM  # what asks it to stop cleanly


class Runs:
    """The processes of one build: notebook runs (at most `workers` at a time) and
    background commands, each in a session of its own (Ctrl-C reaches the build, which
    stops them in order: a run interrupts its kernel, which ends what the notebook started)."""

    def __init__(self, workers: int):
        self.slots = threading.Semaphore(workers)
        self.runs: dict[str, Run] = {}
        self.stopping = False
        self.starting = threading.Lock()  # a run starts, or the build stops: never both at once

    def start(self, run: Run, limited: bool) -> None:
        self.runs[run.docname] = run
        threading.Thread(target=self._run, args=(run, limited), name=f"run {run.docname}", daemon=True).start()

    def _run(self, run: Run, limited: bool) -> None:
        try:
            with self.slots if limited else contextlib.nullcontext():
                run.log.parent.mkdir(parents=True, exist_ok=True)
                with self.starting, open(run.log, "wb") as log, open(run.errors or os.devnull, "wb") as errors:
                    if self.stopping:
                        return
                    run.process = subprocess.Popen(run.command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log,
                                                   stderr=errors if run.errors else subprocess.STDOUT,
                                                   start_new_session=True)
                run.returncode = run.process.wait()
        finally:
            run.done.set()

    def wait(self, docname: str, timeout: float | None = None) -> Run:
        """The run, once it has ended; stopped first if it takes longer than `timeout` seconds."""
        run = self.runs[docname]
        if not run.done.wait(timeout) and run.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(run.process.pid, signal.SIGKILL)
        run.done.wait()
        return run

    def stop(self) -> None:
        """Ask every running process to stop, and wait for each (then kill what is left)."""
        with self.starting:
            self.stopping = True
        running = [r for r in self.runs.values() if r.process is not None and r.process.poll() is None]
        for run in running:
            with contextlib.suppress(ProcessLookupError):
                run.process.send_signal(run.interrupt)
        for run in running:
            try:
                run.process.wait(GRACE + 5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(run.process.pid, signal.SIGKILL)
                run.process.wait()


class _Build:
    """The state of the Sphinx build running in this process."""

    def __init__(self, app):
        self.state = executed_dir(app.doctreedir)
        self.runs: Runs | None = None
        self.notebooks: dict[str, tuple[str, object]] = {}  # docname -> (source text, notebook as myst-nb reads it)
        self.warned = False

    @property
    def pending_file(self) -> Path:
        return self.state / "pending.json"

    @property
    def timings_file(self) -> Path:
        return self.state / "timings.json"

    def file(self, docname: str, suffix: str) -> Path:
        """A file of this page's run: <docname><suffix>, under state/ (docnames may hold dots)."""
        path = self.state / f"{docname}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def pending(self) -> set[str]:
        with contextlib.suppress(FileNotFoundError, ValueError):
            return set(json.loads(self.pending_file.read_text()))
        return set()

    def timings(self) -> dict[str, float]:
        with contextlib.suppress(FileNotFoundError, ValueError):
            return json.loads(self.timings_file.read_text())
        return {}


_build: _Build | None = None
BACKGROUND: dict[str, list[str]] = {}  # docname -> command run in the background while that page is to be read
NOTEBOOKS_USE: list[str] = []  # glob patterns (from the project's folder) of the code every notebook runs


def run_in_background(docname: str, command: list[str]) -> None:
    """When `docname` is to be read, run `command` from the start of the build; the page's
    own handler gets its output with finished(docname)."""
    BACKGROUND[docname] = command


def finished(docname: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Wait for the background command of `docname`; its output, as subprocess.run gives it
    (killed after `timeout` seconds: then its returncode is negative)."""
    run = _wait(docname, timeout)
    output, errors = (path.read_text(errors="replace") if path.exists() else "" for path in (run.log, run.errors))
    return subprocess.CompletedProcess(run.command, run.returncode, output, errors)


def _wait(docname: str, timeout: float | None = None) -> Run:
    try:
        return _build.runs.wait(docname, timeout)
    except KeyboardInterrupt:
        _interrupted()


def _interrupted():
    """Ctrl-C while the build waits for its runs: stop them, say so in one line."""
    if _build and _build.runs:
        _build.runs.stop()
    print(f"\n{INTERRUPTED}", file=sys.stderr, flush=True)
    raise SystemExit(130)


@atexit.register
def _stop_runs_left() -> None:
    """However the build ends (an error, Ctrl-C inside Sphinx itself), nothing it started outlives it."""
    if _build and _build.runs:
        _build.runs.stop()


# --------------------------------------------------------------------------- Sphinx events


class _WarningSeen(logging.Handler):
    def emit(self, record):
        if _build is not None and record.levelno >= logging.WARNING:
            _build.warned = True


def setup(app, notebooks_use: list[str] = ()) -> None:
    """Called from conf.py's setup(); after conf.py's own env-before-read-docs handlers.
    `notebooks_use`: glob patterns of the code the notebooks run (a helper package, the
    examples): when one of those files changes, every notebook is executed again."""
    NOTEBOOKS_USE[:] = notebooks_use
    logging.getLogger("sphinx").addHandler(_WarningSeen())
    app.connect("config-inited", _config_inited)
    app.connect("builder-inited", _builder_inited)
    app.connect("env-get-outdated", _pending_docs)
    app.connect("env-before-read-docs", _start_runs)
    app.connect("source-read", _notebook_read, priority=100)
    app.connect("build-finished", _build_finished, priority=900)  # after the others: their warnings count


def _config_inited(app, config) -> None:
    if config.nb_execution_mode != "cache":
        raise SystemExit("error: conf.py must set nb_execution_mode = 'cache': dbconn.pipeline executes the notebooks")
    if app.parallel > 1:
        raise SystemExit("error: build without -j: the notebooks already run in parallel (DBCONN_JOBS)")
    # myst-nb reads outputs from this cache; only this build's runs go into it.
    config.nb_execution_cache_path = str(executed_dir(app.doctreedir) / "jupyter_cache")


def _builder_inited(app) -> None:
    global _build
    _build = _Build(app)
    _build.state.mkdir(parents=True, exist_ok=True)


def _pending_docs(app, env, added, changed, removed) -> set[str]:
    """Pages that a failed or interrupted build read: read (and execute) them again."""
    return _build.pending()


def _start_runs(app, env, docnames: list[str]) -> None:
    from myst_nb.core.read import create_nb_reader

    _build.pending_file.write_text(json.dumps(sorted(_build.pending() | set(docnames))))
    for docname in docnames:
        path = Path(env.doc2path(docname))
        text = path.read_text(encoding="utf-8")
        reader = create_nb_reader(str(path), env.myst_config, env.mystnb_config, text)
        if reader is not None:
            _build.notebooks[docname] = (text, reader.read(text))
    background = [d for d in docnames if d in BACKGROUND]
    if not _build.notebooks and not background:
        return
    shutil.rmtree(_build.state / "jupyter_cache", ignore_errors=True)
    _build.runs = Runs(jobs())
    # The longest notebook (as the last build timed it; else the longest source) decides
    # when the build ends: it alone runs at full priority, everything else beside it at a
    # lower one, so that it is not slowed down by work that has time to spare.
    timings = _build.timings()
    expected = {d: timings.get(d, len(text) / 1000) for d, (text, _) in _build.notebooks.items()}
    longest_first = sorted(expected, key=lambda d: -expected[d])
    for docname in background:
        _build.runs.start(Run(docname, [*BEHIND, *BACKGROUND[docname]], _build.file(docname, ".out"),
                              _build.file(docname, ".err"), interrupt=signal.SIGINT), limited=False)
    for docname in longest_first:
        _start_notebook(app, docname, behind=docname != longest_first[0])
    # Read the pages while the notebooks run: the quickest notebooks' pages first.
    docnames.sort(key=lambda d: (d in _build.notebooks, expected.get(d, 0)))


BEHIND = ["nice", "-n", "10"]  # a lower CPU priority (inherited by the kernel and what it starts)


def _start_notebook(app, docname: str, behind: bool) -> None:
    import nbformat

    text, nb = _build.notebooks[docname]
    for suffix in (".json", ".ipynb", ".run.json"):
        _build.file(docname, suffix).unlink(missing_ok=True)  # never a previous build's
    source = _build.file(docname, ".input.ipynb")
    source.write_text(nbformat.writes(nb))
    command = [*(BEHIND if behind else []), sys.executable, "-m", "dbconn.notebooks", str(source),
               "--cwd", str(Path(app.env.doc2path(docname)).parent),
               "--out", str(_build.file(docname, ".ipynb")), "--record", str(_build.file(docname, ".run.json")),
               "--timeout", str(app.config.nb_execution_timeout)]
    _build.runs.start(Run(docname, command, _build.file(docname, ".log")), limited=True)


def _notebook_read(app, docname: str, source: list[str]) -> None:
    """Before myst-nb parses a notebook: wait for its run, cache what it executed, and
    report its problems on its page."""
    if docname not in _build.notebooks:
        return
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn
    from sphinx.util import logging as sphinx_logging

    logger = sphinx_logging.getLogger(__name__)
    for pattern in NOTEBOOKS_USE:
        for path in sorted(Path(app.confdir).glob(pattern)):
            app.env.note_dependency(str(path))
    text, nb = _build.notebooks[docname]
    run = _wait(docname)
    try:
        result = json.loads(_build.file(docname, ".run.json").read_text())
        executed = nbformat.read(_build.file(docname, ".ipynb"), as_version=4)
    except (FileNotFoundError, ValueError):
        log = run.log.read_text(errors="replace").strip().splitlines() if run.log.exists() else []
        result = {"problems": [f"the notebook run ended ({run.returncode}) without a result: "
                               f"{log[-1] if log else 'no output'} (see {run.log})"], "seconds": None}
        executed = nb  # rendered without outputs; the warning fails the build
    if source[0] != text:
        result["problems"].append("the notebook changed while the build ran: build again")
    result |= {"docname": docname, "source": str(Path(app.env.doc2path(docname)).relative_to(app.srcdir)),
               "sha256": source_hash(text)}
    _build.file(docname, ".json").write_text(json.dumps(result, indent=1))
    lines = nb.metadata.get("source_map", [])  # myst-nb's: the line each cell starts on
    for problem in result["problems"]:
        cell = re.match(r"cell (\d+)", problem)
        line = lines[int(cell.group(1))] + 1 if cell and int(cell.group(1)) < len(lines) else None
        logger.warning("%s", problem, location=(docname, line))
    if result["seconds"] is not None:
        timings = _build.timings() | {docname: result["seconds"]}
        _build.timings_file.write_text(json.dumps(timings, indent=1))

    # The cell metadata as read (without nbclient's timings), so that myst-nb's reading matches it.
    cached = copy.deepcopy(executed)
    for cell, read in zip(cached.cells, nb.cells):
        cell.metadata = copy.deepcopy(read.metadata)
    cache = get_cache(app.env.mystnb_config.execution_cache_path)
    cache.cache_notebook_bundle(CacheBundleIn(cached, str(_build.file(docname, ".ipynb")),
                                              data={"execution_seconds": result["seconds"]}),
                                check_validity=False, overwrite=True)
    try:
        cache.match_cache_notebook(nb)
    except KeyError:
        raise SystemExit(f"error: {docname}: the executed notebook does not match what myst-nb reads") from None


def _build_finished(app, exception) -> None:
    if _build.runs:
        _build.runs.stop()  # none is left running; this only makes sure
    if exception is None and not _build.warned:
        _build.pending_file.unlink(missing_ok=True)


# --------------------------------------------------------------------------- the command


@contextlib.contextmanager
def _one_build_at_a_time(where: Layout):
    where.root.mkdir(parents=True, exist_ok=True)
    with open(where.root / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"Waiting for another build of {where.root} to finish ...", flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def publish(where: Layout) -> None:
    """Replace the published site with the stage's (a green build's) copy."""
    new, old = where.site.with_name("html.new"), where.site.with_name("html.old")
    for leftover in (new, old):
        shutil.rmtree(leftover, ignore_errors=True)
    shutil.copytree(where.stage, new, symlinks=True)
    if where.site.exists():
        where.site.rename(old)
    new.rename(where.site)
    shutil.rmtree(old, ignore_errors=True)


def build(sphinx_options: list[str], source: Path = ROOT, where: Layout | None = None) -> int:
    """Build the site into the stage; publish it if the build is green. The exit status."""
    from sphinx.cmd.build import build_main

    where = where or layout()
    with _one_build_at_a_time(where):
        status = build_main(["-b", "html", *sphinx_options, "-d", str(where.doctrees), str(source), str(where.stage)])
        if status == 0:
            publish(where)
            print(f"Published {where.site}.")
        else:
            print(f"error: the build failed (see above); {where.site} still holds the last complete build, "
                  f"and the next build executes again what this one read.", file=sys.stderr)
    return status


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m dbconn.pipeline", description=__doc__.split("\n\n")[0],
                                     epilog="Other options go to sphinx-build (e.g. -W --keep-going -n -q).")
    parser.add_argument("--source", type=Path, default=ROOT, help="the Sphinx project (default: this checkout)")
    args, sphinx_options = parser.parse_known_args(argv)
    return build(sphinx_options, args.source.resolve())


if __name__ == "__main__":
    from dbconn.pipeline import main as _main  # the module conf.py imports: one copy of its state

    sys.exit(_main())
