"""The notebook rules catch what they must: the harness itself can fail."""

import textwrap

import pytest

from notebook_runner import run_notebook

HEADER = """\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  name: python3
  display_name: Python 3
---
"""


def notebook(tmp_path, *cells):
    body = "".join(f"\n```{{code-cell}} ipython3\n{textwrap.dedent(cell).strip()}\n```\n" for cell in cells)
    path = tmp_path / "probe.md"
    path.write_text(HEADER + body)
    return path


def declared(codes, source):
    return f"---\ntags: [raises-exception]\nexpect-errors: {codes}\n---\n{textwrap.dedent(source).strip()}"


LIMIT_REACHED = """
import dbconn
held = [dbconn.connect("limited") for _ in range(2)]
try:
    dbconn.connect("limited")
finally:
    for conn in held:
        conn.close()
"""


def test_declared_error_with_the_right_code_passes(tmp_path):
    assert run_notebook(notebook(tmp_path, declared([1226], LIMIT_REACHED))) == []


def test_declared_error_with_another_code_fails(tmp_path):
    problems = run_notebook(notebook(tmp_path, declared([2006], LIMIT_REACHED)))
    assert any("declares error [2006] but raised OperationalError" in p for p in problems), problems


def test_an_error_without_a_code_is_declared_by_its_class(tmp_path):
    assert run_notebook(notebook(tmp_path, declared("[AttributeError]", "None.read()"))) == []
    problems = run_notebook(notebook(tmp_path, declared("[AttributeError]", "1 / 0")))
    assert any("raised ZeroDivisionError" in p for p in problems), problems


def test_declared_cell_that_raises_nothing_fails(tmp_path):
    problems = run_notebook(notebook(tmp_path, declared([1226], "x = 1")))
    assert problems == ["cell 0 declares error [1226] but raised nothing"]


def test_undeclared_error_fails(tmp_path):
    problems = run_notebook(notebook(tmp_path, "1 / 0", "print('never reached')"))
    assert len(problems) == 1 and "undeclared error" in problems[0] and "ZeroDivisionError" in problems[0]


def test_tag_without_codes_fails(tmp_path):
    problems = run_notebook(notebook(tmp_path, "---\ntags: [raises-exception]\n---\n1 / 0"))
    assert any("go together" in p for p in problems), problems


def test_connection_left_open_fails(tmp_path):
    problems = run_notebook(notebook(tmp_path, "import dbconn\nkept = dbconn.connect()"))
    assert any("still holds 1 server connection" in p for p in problems), problems


@pytest.mark.parametrize("evalue, code", [
    ('(1226, "User \'limited\' has exceeded")', 1226),
    ("(pymysql.err.OperationalError) (2006, 'MySQL server has gone away')", 2006),
    ("(0, '')", 0),
    ("division by zero", None),
])
def test_error_code_is_read_from_the_message(evalue, code):
    from notebook_runner import error_code

    assert error_code({"evalue": evalue}) == code


def test_a_cell_that_never_ends_fails_after_the_timeout(tmp_path):
    problems = run_notebook(notebook(tmp_path, "import threading\nthreading.Event().wait()"), timeout=2)
    assert problems == ["cell 0 was still running after 2 s"]


def test_error_codes_are_read_in_each_drivers_form():
    from notebook_runner import error_code

    assert error_code({"evalue": "(2013, 'Lost connection to MySQL server during query')"}) == 2013
    assert error_code({"evalue": "4031 (HY000): The client was disconnected by the server"}) == 4031
    assert error_code({"evalue": "2003: Can't connect to MySQL server on '127.0.0.1:1' (Errno 111)"}) == 2003
    assert error_code({"evalue": "(mysql.connector.errors.DatabaseError) 4031 (HY000): The client"}) == 4031
    assert error_code({"evalue": "MySQL Connection not available"}) is None  # no code: the class name counts


def test_a_kernel_that_dies_before_it_answers_is_started_again(tmp_path, monkeypatch):
    """jupyter_client picks free ports, then the kernel binds them: another process can take
    one in between, and that kernel dies before it answers. No cell has run: start again."""
    from nbclient import NotebookClient

    real, starts = NotebookClient.setup_kernel, []

    def first_start_fails(self, **kwargs):
        starts.append(1)
        if len(starts) == 1:
            raise RuntimeError("Kernel died before replying to kernel_info")
        return real(self, **kwargs)

    monkeypatch.setattr(NotebookClient, "setup_kernel", first_start_fails)
    assert run_notebook(notebook(tmp_path, "print('ran')")) == []
    assert len(starts) == 2


def test_a_kernel_that_never_starts_is_one_clear_error(tmp_path, monkeypatch):
    from nbclient import NotebookClient

    def never_starts(self, **kwargs):
        raise RuntimeError("Kernel died before replying to kernel_info")

    monkeypatch.setattr(NotebookClient, "setup_kernel", never_starts)
    with pytest.raises(RuntimeError, match=r"the kernel did not start \(3 attempts\): Kernel died"):
        run_notebook(notebook(tmp_path, "print('never')"))
