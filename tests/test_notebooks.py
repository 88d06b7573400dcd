"""Every notebook under notebooks/ runs against the server: declared errors only, no leaks."""

from pathlib import Path

import pytest

from notebook_runner import run_notebook

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.md"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook(path):
    problems = run_notebook(path)
    assert not problems, "\n".join(problems)


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebook found under notebooks/"
