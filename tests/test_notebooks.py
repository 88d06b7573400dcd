"""Every notebook under notebooks/, as the site build executed it (once, for the site and
for these tests): declared errors only, no connection left open (dbconn.notebooks' rules),
and the published page shows that very execution."""

from pathlib import Path

import nbformat
import pytest

from dbconn import pipeline
from test_site import build_errors, text_of

ROOT = Path(__file__).parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.md"))


def docname(path: Path) -> str:
    return path.relative_to(ROOT).with_suffix("").as_posix()


def executed_by_the_build(build, path: Path) -> dict:
    found = pipeline.record(docname(path))
    assert found is not None, f"the build did not run {path.name} to the end:\n{build_errors(build.stderr)}"
    assert found["sha256"] == pipeline.source_hash(path.read_text()), f"the build ran another version of {path.name}"
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook(build, path):
    problems = executed_by_the_build(build, path)["problems"]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_the_published_page_shows_the_execution_that_was_checked(build, path):
    executed_by_the_build(build, path)
    assert build.returncode == 0, build_errors(build.stderr)
    executed = nbformat.read(pipeline.layout().executed / f"{docname(path)}.ipynb", as_version=4)
    page = text_of(pipeline.layout().site / f"{docname(path)}.html")
    outputs = [o for cell in executed.cells if cell.cell_type == "code" for o in cell.outputs]
    assert outputs, f"{path.name}: no output at all"
    for output in outputs:
        # The first line of each error and printed output, as the page shows it (escaped, merged).
        text = output.get("evalue") or "".join(output.get("text", "")).strip()
        first = text.splitlines()[0][:80] if text else ""
        assert first in page, f"{path.name}: {first!r} is not on the published page"


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebook found under notebooks/"


def test_the_records_say_where_each_notebook_came_from(build):
    for path in NOTEBOOKS:
        found = executed_by_the_build(build, path)
        assert found["source"] == path.relative_to(ROOT).as_posix()
        assert found["seconds"] > 0
