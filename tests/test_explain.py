"""The error catalogue and `python -m dbconn explain`, on real pasted errors.

The corpus (tests/error_corpus.txt) holds texts as people pasted them in public issue
trackers; explain must send at least 95 % of them to the right section, on the part the
patterns were written against and on the held-out part alike."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import error_corpus
from dbconn import __main__ as cli
from dbconn import errors

ROOT = Path(__file__).resolve().parent.parent
CORPUS = error_corpus.load()
GOAL = 0.95


def answer(text: str) -> str:
    """What the catalogue answers, in the corpus's notation: key, key/context or none."""
    found = errors.recognise(text)
    if found is None:
        return "none"
    return found.key + (f"/{found.context}" if found.context else "")


def test_the_corpus_is_real_and_large_enough():
    errors_in_it = [paste for paste in CORPUS if paste.expected != "none"]
    assert len(errors_in_it) >= 60
    assert all(paste.source.startswith("https://") for paste in CORPUS)
    assert all(paste.key in errors.BY_KEY or paste.expected == "none" for paste in CORPUS)
    held_out = [paste for paste in CORPUS if paste.held_out]
    assert len(held_out) >= len(CORPUS) // 10, "too few held-out texts to mean anything"


@pytest.mark.parametrize("part", ["written against", "held out"])
def test_explain_routes_real_pastes_to_the_right_section(part):
    pastes = [paste for paste in CORPUS if paste.held_out == (part == "held out")]
    wrong = [f"{paste.expected} <- {answer(paste.text)}: {paste.source}" for paste in pastes
             if answer(paste.text) != paste.expected]
    score = 1 - len(wrong) / len(pastes)
    print(f"\n{part}: {len(pastes) - len(wrong)}/{len(pastes)} = {score:.1%}")
    assert score >= GOAL, "\n".join(wrong)


def test_explain_prints_code_cause_and_the_exact_section(capsys):
    paste = next(p for p in CORPUS if p.expected == "2013" and "Traceback" in p.text)
    assert cli.main(["explain", paste.text]) == 0
    first, cause, url = capsys.readouterr().out.splitlines()
    assert first == "2013: Lost connection to MySQL server during query"
    assert cause.startswith("cause: ") and len(cause) < 200
    assert url.split()[-1].endswith("docs/errors/2013.html#find-the-cause")


def test_explain_reads_a_whole_log_on_stdin():
    """A Celery worker's log: prefixes, a traceback, the root cause first."""
    paste = next(p for p in CORPUS if "ForkPoolWorker" in p.text)
    result = subprocess.run([sys.executable, "-m", "dbconn", "explain", "--json"], input=paste.text,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    # A Celery worker's 2006: the Celery page's causes (connections kept between tasks, or across the fork).
    assert found["key"] == "2006" and found["context"] == "celery"
    assert found["url"].endswith("docs/frameworks/celery.html#find-the-cause")
    assert found["line"].startswith("Task my_app.common.tasks.echo"), "the log prefix is stripped"


def test_explain_names_the_reference_for_an_error_not_covered_here(capsys):
    text = "pymysql.err.OperationalError: (1129, \"Host '10.0.0.7' is blocked because of many connection errors\")"
    assert cli.main(["explain", text]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1129: ")
    assert "not covered on this site yet; see: https://dev.mysql.com/doc/refman/8.4/en/blocked-host.html" in out


@pytest.mark.parametrize("text", ["KeyError: 'x'", "psycopg2.OperationalError: FATAL:  too many connections for role"])
def test_explain_says_in_one_line_when_it_does_not_know(capsys, text):
    assert cli.main(["explain", text]) == 1
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and err.startswith("error: ")


def test_explain_with_nothing_to_read_says_what_to_do():
    result = subprocess.run([sys.executable, "-m", "dbconn", "explain"], input="", capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1 and result.stderr.startswith("error: nothing to explain")


@pytest.mark.parametrize("text, key, context", [
    # The root cause, not the wrapper: SQLAlchemy's and Django's repeat it; a consequence follows it.
    ("pymysql.err.OperationalError: (2013, 'Lost connection to MySQL server during query')\n\nDuring handling of "
     "the above exception, another exception occurred:\n\npymysql.err.InterfaceError: (0, '')", "2013", None),
    # ...but a name for the situation wins over the error inside it.
    ("sqlalchemy.exc.PendingRollbackError: Can't reconnect until invalid transaction is rolled back. Original "
     "exception was: (pymysql.err.OperationalError) (2006, 'MySQL server has gone away')", "PendingRollbackError", None),
    # A frame's source line is code: the error is the line that follows it.
    ('  File "pymysql/connections.py", line 800, in _read_packet\n    raise err.OperationalError(2013, "Lost '
     'connection to MySQL server during query")\npymysql.err.OperationalError: (2006, "MySQL server has gone away")',
     "2006", None),
    # pytest prints the error's own lines after "E".
    ("    def test_x():\n>       cur.execute('SELECT 1')\nE       MySQLdb.OperationalError: (4031, 'The client "
     "was disconnected by the server because of inactivity.')", "4031", None),
    # Text that changes the answer.
    ("pymysql.err.InternalError: Packet sequence number wrong - got 0 expected 1", "packet-sequence", "idle"),
    ("(2013, \"Lost connection to MySQL server at 'reading initial communication packet', system error: 0\")", "2013",
     "handshake"),
    ("(2013, 'Lost connection to MySQL server during query (timed out)')", "2013", "read-timeout"),
    # A bare operating-system error is ours only when the paste is about MySQL.
    ("ConnectionResetError: [Errno 104] Connection reset by peer", None, None),
    ('  File "pymysql/connections.py", line 1, in _read_bytes\nConnectionResetError: [Errno 104] Connection reset',
     "network", None),
    # A code typed alone.
    ("1226", "1226", None),
])
def test_reading_rules(text, key, context):
    found = errors.recognise(text)
    assert (found and (found.key, found.context)) == ((key, context) if key else None)


def test_catalogue_entries_are_well_formed():
    keys = [entry.key for entry in errors.CATALOGUE]
    assert len(keys) == len(set(keys))
    for what, page, section, reference in errors.locations():
        assert re.fullmatch(r"[\w.-]+(/[\w.-]+)?", what), f"{what}: keys become URLs (errors/<key>/)"
        if page is None:
            assert section is None and reference and reference.startswith("https://"), f"{what}: needs a reference"
        else:
            assert (ROOT / f"{page}.md").exists(), f"{what}: no page {page}.md"
            assert section, f"{what}: a section of {page} is needed"
    for entry in errors.CATALOGUE:
        assert entry.cause and "\n" not in entry.cause and len(entry.cause) < 200, entry.key
        for pattern in entry.all_patterns + tuple(c.pattern for c in entry.contexts) + (entry.requires or "",):
            # The browser reads them too: nothing that only Python's re understands.
            assert not re.search(r"\(\?P|\(\?<[=!]|\(\?[aiLmsux]|\\[AZ]", pattern), f"{entry.key}: {pattern}"
            re.compile(pattern)


def test_every_error_line_a_help_page_shows_is_recognised():
    """The block of error lines at the top of each help page: every spelling it shows is
    one the catalogue knows (a page that grows a new spelling must add it there)."""
    unknown = []
    for page in sorted((ROOT / "docs" / "errors").glob("*.md")):
        block = re.search(r"```text\n(.*?)```", page.read_text(), re.S)
        for line in block.group(1).splitlines() if block else []:
            if line.strip() and errors.recognise(line) is None:
                unknown.append(f"{page.name}: {line}")
    assert not unknown, "\n".join(unknown)


def test_every_help_page_is_the_answer_to_some_error():
    """A help page that no catalogue entry sends readers to is a page search cannot reach:
    when a page for an error 'not covered here yet' lands, its entry must point to it."""
    answered = {page for _, page, _, _ in errors.locations() if page}
    pages = {f"docs/errors/{p.stem}" for p in (ROOT / "docs" / "errors").glob("*.md")}
    assert not pages - answered, f"no catalogue entry points to {sorted(pages - answered)}"
    for page in pages:  # a page named after a code answers that code
        entry = errors.BY_KEY.get(page.rsplit("/", 1)[-1])
        assert entry is None or entry.page == page, f"entry {entry.key} still points to {entry.page}, not {page}"
