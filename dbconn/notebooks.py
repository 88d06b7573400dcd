"""Execute a notebook against the lab's server and say what is wrong with it: the one
runner behind the site build (dbconn.pipeline), the tests and a developer's single run.

Rules (the site build fails on any of them):
- a cell may fail only if it is tagged ``raises-exception`` AND declares the
  error codes it must raise in its metadata, e.g. ``expect-errors: [1226]``
  (for an error that carries no code, its class name: ``[AttributeError]``);
- a declared cell that raises nothing, or raises another code, is a failure;
- any other error is a failure (execution stops there);
- when the last cell has run, the kernel holds no connection to the server:
  the server's sessions are matched to the kernel's process by the ``_pid``
  connect attribute that the client sends.

One notebook on its own, as the build runs it (the executed copy opens in Jupyter):

    python -m dbconn.notebooks notebooks/2013-lost-connection-during-query.md [--out /tmp/2013.ipynb]

Interrupted (Ctrl-C, or SIGTERM from the build), it interrupts the running cell, so
that the notebook's own `with` and `finally` blocks stop what it started, then shuts
the kernel down and removes its connection file.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

# jsonschema (under nbformat) imports rfc3987-syntax when it is installed (jupyterlab's
# jsonschema[format-nongpl] brings it) for an "iri" format check that notebooks never use,
# and that import compiles 39 grammars: 1 to 2.5 s of every build and every notebook run
# here. Keep it out of the processes that import this module (the build, the runs).
sys.modules.setdefault("rfc3987_syntax", None)

CODE = re.compile(r"\((\d+),")  # (1226, "User ...") -- first code in the message
# mysql-connector's form: "4031 (HY000): The client ..." or "2003: Can't connect ...",
# alone or after SQLAlchemy's "(mysql.connector.errors.DatabaseError) ".
CONNECTOR_CODE = re.compile(r"(?:^|\) )(-?\d+)(?: \([0-9A-Z]{5}\))?: ")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
TIMEOUT = 180  # seconds per cell
GRACE = 30  # seconds an interrupted notebook has to unwind before its kernel is killed


def error_code(output) -> int | None:
    """The MySQL error code an error output carries, or None."""
    evalue = output.get("evalue", "")
    match = CODE.search(evalue) or CONNECTOR_CODE.search(evalue)
    return int(match.group(1)) if match else None


def read(path: Path):
    """A notebook from a MyST text notebook (.md, read by jupytext) or an .ipynb."""
    import jupytext
    import nbformat

    return nbformat.read(path, as_version=4) if path.suffix == ".ipynb" else jupytext.read(path)


@dataclass
class Execution:
    notebook: object  # the executed notebook: outputs, and each cell's timing in metadata.execution
    problems: list[str]
    seconds: float
    interrupted: bool = False
    cell_seconds: dict[int, float] = field(default_factory=dict)  # code cell index -> seconds


def run_notebook(path: Path, timeout: int = TIMEOUT) -> list[str]:
    """Execute the notebook; return its problems (empty when it passes)."""
    return execute(read(path), path.parent, timeout).problems


def execute(nb, cwd: Path, timeout: int = TIMEOUT) -> Execution:
    """Execute `nb` (in place) with `cwd` as its working directory, and check it. The kernel
    runs from a worker thread, so that Ctrl-C reaches this thread and is handled here
    (never halfway through the kernel client's event loop)."""
    run = _Run(nb, cwd, timeout)
    threading.Thread(target=run.main, name="notebook", daemon=True).start()
    try:
        run.done.wait()  # not Thread.join(): interrupted, Python 3.11's marks the thread stopped
    except KeyboardInterrupt:
        run.interrupt()
        if not run.done.wait(GRACE):
            run.kill()
        raise
    if run.error is not None:
        raise run.error
    return run.result


KERNEL_STARTS = 3


class _KernelDidNotStart(Exception):
    pass


class _Run:
    def __init__(self, nb, cwd: Path, timeout: int):
        self.nb, self.cwd, self.timeout = nb, cwd, timeout
        self.kernel_pid: int | None = None
        self.stopping = False
        self.home = Path(tempfile.mkdtemp(prefix="dbconn-kernel-"))  # its connection file, its stderr
        self.result: Execution | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()

    def main(self) -> None:
        try:
            self.result = self._execute()
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            self.error = exc
        finally:
            shutil.rmtree(self.home, ignore_errors=True)
            self.done.set()

    def _execute(self) -> Execution:
        """Run the notebook; a kernel that dies before it answers (no cell has run yet) is
        started again, up to KERNEL_STARTS times in all."""
        for attempt in range(1, KERNEL_STARTS + 1):
            try:
                return self._execute_once()
            except _KernelDidNotStart as exc:
                if attempt == KERNEL_STARTS or self.stopping:
                    raise RuntimeError(f"the kernel did not start ({attempt} attempts): {exc}") from None
                (self.home / "kernel.json").unlink(missing_ok=True)  # new ports next time

    def _execute_once(self) -> Execution:
        import psutil
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

        started = time.perf_counter()
        client = NotebookClient(self.nb, timeout=self.timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(self.cwd)}})
        client.km = client.create_kernel_manager()
        client.km.connection_file = str(self.home / "kernel.json")
        problems = []
        with open(self.home / "kernel.log", "wb") as kernel_log, contextlib.ExitStack() as kernel:
            try:
                kernel.enter_context(client.setup_kernel(stderr=kernel_log))
            except RuntimeError as exc:  # "Kernel died before replying to kernel_info": e.g. one
                # of the ports jupyter_client chose was taken by another process in between
                raise _KernelDidNotStart(str(exc)) from exc
            self.kernel_pid = client.km.provisioner.process.pid
            kernel = psutil.Process(self.kernel_pid)
            # What nbclient's execute() records first: the language, which names the code's lexer.
            info = client.wait_for_reply(client.kc.kernel_info())
            self.nb.metadata["language_info"] = info["content"]["language_info"]
            for index, cell in enumerate(self.nb.cells):
                if cell.cell_type != "code":
                    continue
                if self.stopping:
                    break
                try:
                    client.execute_cell(cell, index)
                except CellExecutionError as exc:
                    if not self.stopping:
                        last = ANSI.sub("", str(exc)).strip().splitlines()[-1]
                        problems.append(f"cell {index} raised an undeclared error: {last}")
                    break
                except CellTimeoutError:
                    problems.append(f"cell {index} was still running after {self.timeout} s")
                    break
                except DeadKernelError:
                    log = (self.home / "kernel.log").read_text(errors="replace").strip().splitlines()
                    problems.append(f"cell {index}: the kernel died ({log[-1] if log else 'no message'})")
                    break
            leaked = [] if self.stopping else _kernel_connections(kernel)
        if self.stopping:
            problems.append("interrupted")
        problems += [p for i, cell in enumerate(self.nb.cells) if cell.cell_type == "code" for p in _check_cell(i, cell)]
        if leaked:
            problems.append(f"the kernel still holds {len(leaked)} server connection(s) at the end: {leaked}")
        return Execution(self.nb, problems, time.perf_counter() - started, self.stopping, _cell_seconds(self.nb))

    def interrupt(self) -> None:
        """What Jupyter's interrupt button does: SIGINT to the kernel's process group. The
        running cell raises KeyboardInterrupt and its `with`/`finally` blocks run."""
        self.stopping = True
        if self.kernel_pid is not None:
            _signal_group(self.kernel_pid, signal.SIGINT)

    def kill(self) -> None:
        if self.kernel_pid is not None:
            _signal_group(self.kernel_pid, signal.SIGKILL)
        shutil.rmtree(self.home, ignore_errors=True)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # the kernel leads its own process session (jupyter_client starts it so)
    except ProcessLookupError:
        pass


def _check_cell(index: int, cell) -> list[str]:
    tagged = "raises-exception" in cell.metadata.get("tags", [])
    expected = cell.metadata.get("expect-errors")
    errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
    if tagged != (expected is not None):
        return [f"cell {index}: `raises-exception` and `expect-errors` go together"]
    if expected is None or not cell.get("execution_count"):
        return []  # not a declared cell, or never reached (an earlier cell failed)
    if not errors:
        return [f"cell {index} declares error {expected} but raised nothing"]
    code = error_code(errors[0])
    if code not in expected and errors[0].ename not in expected:
        return [f"cell {index} declares error {expected} but raised {errors[0].ename}: {errors[0].evalue[:200]}"]
    return []


def _kernel_connections(kernel) -> list[tuple]:
    """Server sessions still opened by the kernel or its children."""
    from . import introspect

    return introspect.connections_left_by([kernel.pid] + [child.pid for child in kernel.children(recursive=True)])


def _cell_seconds(nb) -> dict[int, float]:
    seconds = {}
    for index, cell in enumerate(nb.cells):
        timing = cell.get("metadata", {}).get("execution", {})
        if "iopub.status.busy" in timing and "iopub.status.idle" in timing:
            busy, idle = (datetime.fromisoformat(timing[k].replace("Z", "+00:00"))
                          for k in ("iopub.status.busy", "iopub.status.idle"))
            seconds[index] = (idle - busy).total_seconds()
    return seconds


# --------------------------------------------------------------------------- command line


def _stop_on_sigterm() -> None:
    """SIGTERM (what the build sends its runs when it is interrupted) acts as Ctrl-C."""
    def handler(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dbconn.notebooks",
                                     description="Execute one notebook against the lab's server and check it.")
    parser.add_argument("notebook", type=Path, help="a MyST text notebook (.md) or an .ipynb")
    parser.add_argument("--cwd", type=Path, help="its working directory (default: the notebook's folder)")
    parser.add_argument("--out", type=Path, help="write the executed notebook here (.ipynb)")
    parser.add_argument("--record", type=Path, help="write what happened here, as JSON (the build reads it)")
    parser.add_argument("--timeout", type=int, default=TIMEOUT, help=f"seconds per cell (default {TIMEOUT})")
    args = parser.parse_args(argv)
    if not args.notebook.is_file():
        print(f"error: no notebook at {args.notebook}", file=sys.stderr)
        return 2
    _stop_on_sigterm()
    nb = read(args.notebook)
    try:
        run = execute(nb, args.cwd or args.notebook.resolve().parent, args.timeout)
    except KeyboardInterrupt:
        run = Execution(nb, ["interrupted"], 0.0, interrupted=True)
    if args.out:
        import nbformat

        _write(args.out, nbformat.writes(run.notebook))
    if args.record:
        _write(args.record, json.dumps({"problems": run.problems, "seconds": round(run.seconds, 3),
                                        "interrupted": run.interrupted, "cell_seconds": run.cell_seconds}))
    if run.interrupted:
        print(f"{args.notebook}: interrupted; its kernel was shut down", file=sys.stderr)
        return 130
    for problem in run.problems:
        print(f"{args.notebook}: {problem}", file=sys.stderr)
    if not args.record:
        print(f"{args.notebook}: {'ok' if not run.problems else 'FAILED'} in {run.seconds:.1f} s")
    return 1 if run.problems else 0


def _write(path: Path, text: str) -> None:
    """Whole or not at all: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)


if __name__ == "__main__":
    sys.exit(main())
