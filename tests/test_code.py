"""Every Python file of the project compiles: scripts that no test runs (bench.py) included."""

import py_compile
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_every_python_file_compiles(tmp_path):
    files = [p for p in ROOT.rglob("*.py") if not {".venv", "_build", ".state"} & set(p.parts)]
    assert len(files) > 10
    for path in files:
        py_compile.compile(str(path), cfile=str(tmp_path / "x.pyc"), doraise=True)
