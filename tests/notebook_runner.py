"""Execute a MyST text notebook against the lab server and say what is wrong with it.

Rules (the same ones the site build relies on):
- a cell may fail only if it is tagged ``raises-exception`` AND declares the
  error codes it must raise in its metadata, e.g. ``expect-errors: [1226]``
  (for an error that carries no code, its class name: ``[AttributeError]``);
- a declared cell that raises nothing, or raises another code, is a failure;
- any other error is a failure (nbclient stops there);
- when the last cell has run, the kernel holds no connection to the server:
  the server's sessions are matched to the kernel's process by the ``_pid``
  connect attribute that the client sends.
"""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import psutil
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from dbconn import introspect

CODE = re.compile(r"\((\d+),")  # (1226, "User ...") -- first code in the message
# mysql-connector's form: "4031 (HY000): The client ..." or "2003: Can't connect ...",
# alone or after SQLAlchemy's "(mysql.connector.errors.DatabaseError) ".
CONNECTOR_CODE = re.compile(r"(?:^|\) )(-?\d+)(?: \([0-9A-Z]{5}\))?: ")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def error_code(output) -> int | None:
    """The MySQL error code an error output carries, or None."""
    evalue = output.get("evalue", "")
    match = CODE.search(evalue) or CONNECTOR_CODE.search(evalue)
    return int(match.group(1)) if match else None


def run_notebook(path: Path, timeout: int = 180) -> list[str]:
    """Execute the notebook; return its problems (empty when it passes)."""
    return execute(path, timeout)[1]


def execute(path: Path, timeout: int = 180):
    """Execute the notebook; return it, with outputs and timings, and its problems."""
    nb = jupytext.read(path)
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    problems = []
    with client.setup_kernel():
        kernel = psutil.Process(client.km.provisioner.process.pid)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            try:
                client.execute_cell(cell, index)
            except CellExecutionError as exc:
                problems.append(f"cell {index} raised an undeclared error: {ANSI.sub('', str(exc)).strip().splitlines()[-1]}")
                break
        leaked = _kernel_connections(kernel)
    problems += [p for i, cell in enumerate(nb.cells) if cell.cell_type == "code" for p in _check_cell(i, cell)]
    if leaked:
        problems.append(f"the kernel still holds {len(leaked)} server connection(s) at the end: {leaked}")
    return nb, problems


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


def _kernel_connections(kernel: psutil.Process) -> list[tuple]:
    """Server sessions still opened by the kernel or its children."""
    return introspect.connections_left_by([kernel.pid] + [child.pid for child in kernel.children(recursive=True)])
