"""The site builds with warnings as errors, every notebook executed at build time."""

import html
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


def text_of(page: Path) -> str:
    """The page's text, as a reader sees it (tags removed, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))


def build_errors(stderr: str) -> str:
    """What went wrong, without the kernel's start-up chatter: myst-nb reports a failing
    cell well before Sphinx's closing report."""
    noise = ("Kernel is running over TCP", "INFO traitlets")
    lines = [line for line in stderr.splitlines() if not any(n in line for n in noise)]
    return "\n".join(lines[:150] + ["..."] + lines[-30:])


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-n", "-q", str(ROOT), str(out)],
        capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, build_errors(result.stderr)
    return out


def test_error_page_has_a_stable_url_and_links_its_notebook(site):
    page = (site / "docs" / "errors" / "1226.html").read_text()
    assert "max_user_connections" in page
    assert "../../notebooks/1226-max-user-connections.html" in page


def test_notebook_page_shows_the_errors_produced_at_build_time(site):
    page = text_of(site / "notebooks" / "1226-max-user-connections.html")
    # Produced by the executed cells: the account's name is made at run time.
    assert re.search(r"OperationalError: \(1226, \"User 'limited_[0-9a-f]{6}' has exceeded the "
                     r"'max_user_connections' resource \(current value: 2\)", page)
    assert "(1040, 'Too many connections')" in page
    assert "(1203, \"User app already has more than 'max_user_connections' active connections\")" in page


def test_snippets_come_from_examples(site):
    page = (site / "docs" / "errors" / "1226.html").read_text()
    source = (ROOT / "examples" / "leak_try_finally.py").read_text()
    assert "conn.close()" in source
    assert re.search(r"finally</span>", page)


def test_copy_buttons_skip_outputs(site):
    script = (site / "_static" / "copybutton.js").read_text()
    assert 'div:not(.output) &gt; div.highlight pre' in script or "div:not(.output) > div.highlight pre" in script


def test_doctor_page_shows_its_output_produced_at_build_time(site):
    page = text_of(site / "notebooks" / "doctor-check-your-server.html")
    assert "Status      urgent" in page and "pool_size=2, max_overflow=0" in page
    assert re.search(r"Account\s+shop_[0-9a-f]{6}: 1 connection\(s\) open now", page)


def test_2006_page_and_notebook(site):
    page = (site / "docs" / "errors" / "2006.html").read_text()
    assert "../../notebooks/2006-server-has-gone-away.html" in page
    notebook = text_of(site / "notebooks" / "2006-server-has-gone-away.html")
    assert re.search(r"OperationalError: \((2006|4031), ", notebook)
    assert "InterfaceError: (0, '')" in notebook
    # The blind retry lost the first row; the whole-transaction retry kept both.
    assert "rows committed: ((2, 'second'),)" in notebook
    assert "rows committed: ((1, 'first'), (2, 'second'))" in notebook
    assert "DeprecationWarning - The 'reconnect' argument is deprecated" in notebook


def test_2013_page_and_notebook(site):
    page = (site / "docs" / "errors" / "2013.html").read_text()
    assert "../../notebooks/2013-lost-connection-during-query.html" in page
    notebook = text_of(site / "notebooks" / "2013-lost-connection-during-query.html")
    assert "OperationalError: (2013, 'Lost connection to MySQL server during query (timed out)')" in notebook
    assert "OperationalError: (1317, 'Query execution was interrupted')" in notebook
    assert "AttributeError: 'NoneType' object has no attribute 'read'" in notebook
    assert re.search(r"keyset: 100,000 rows in [0-9.]+ s", notebook)
