"""The site builds with warnings as errors, every notebook executed at build time."""

import html
import re
from pathlib import Path

import pytest

from dbconn import pipeline

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
def site(build):
    """The published site (_build/html) of the build that executed the notebooks (conftest.py)."""
    assert build.returncode == 0, build_errors(build.stderr)
    return pipeline.layout().site


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


@pytest.mark.parametrize("notebook", sorted(p.stem for p in (ROOT / "notebooks").glob("*.md")))
def test_notebook_pages_offer_the_notebook_and_say_how_to_run_it(site, notebook):
    page = (site / "notebooks" / f"{notebook}.html").read_text()
    assert f'href="../_sources/notebooks/{notebook}.md" download="{notebook}.md"' in page
    assert (site / "_sources" / "notebooks" / f"{notebook}.md").read_text() == (ROOT / "notebooks" / f"{notebook}.md").read_text()
    assert "make db" in page and "make notebooks" in page


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
    # The seed's DB class, by name on the page, lost the first row; the whole-transaction retry kept both.
    assert "If your code looks like this" in page and "class</span><span class=\"w\"> </span><span class=\"nc\">DB" in page
    assert "rows committed: ((2, 'second'),)" in notebook
    assert "@user_id after the reconnect: None" in notebook
    assert "rows committed: ((1, 'first'), (2, 'second'))" in notebook
    assert "DeprecationWarning - The 'reconnect' argument is deprecated" in notebook


def test_2013_page_and_notebook(site):
    page = (site / "docs" / "errors" / "2013.html").read_text()
    assert "../../notebooks/2013-lost-connection-during-query.html" in page
    # MySQL 8 + PyMySQL readers with an idle connection get 2013: this page sends them to 2006.
    assert "2006.html#mysql8-4031" in page
    notebook = text_of(site / "notebooks" / "2013-lost-connection-during-query.html")
    assert "OperationalError: (2013, 'Lost connection to MySQL server during query (timed out)')" in notebook
    assert "OperationalError: (1317, 'Query execution was interrupted')" in notebook
    assert "AttributeError: 'NoneType' object has no attribute 'read'" in notebook
    assert re.search(r"keyset: 100,000 rows in [0-9.]+ s", notebook)


def test_driver_page_tables_come_from_a_run_at_build_time(site):
    import dbconn
    from dbconn import drivers, matrix

    page = text_of(site / "docs" / "drivers.html")
    assert "{driver-matrix}" not in page
    assert dbconn.require() in page  # the caption names the server it ran against
    for driver in drivers.DRIVERS:
        assert f"{driver.name} {driver.version()}" in page
    for scenario in matrix.SCENARIOS:
        assert scenario.title in page
    # Per-run account names: written by this build's run, not typed into the page.
    assert re.search(r"User 'matrix_[0-9a-f]{6}' has exceeded the 'max_user_connections' resource", page)
    assert "mysql.connector.errors.ReadTimeoutError: 3024: The Read Operation timed out." in page


# Threads, sessions that never recover, exhausted pools, frameworks: each page links its
# notebook, and the notebook shows the errors and checks produced when the site was built.
TOPICS = [
    ("errors/2014", "2014-threads-sharing-a-connection", [
        r"InternalError: Packet sequence number wrong - got \d+ expected \d+",
        r"ProgrammingError: \(2014, \"Commands out of sync; you can't run this command now\"\)",
        r"already in use from another thread", r"thread 1 read 1 of 10,000 rows, and raised nothing",
        r"200 jobs, each got its own answer, on \d+ connection",
    ]),
    ("errors/pending-rollback", "pending-rollback-sessions-that-never-recover", [
        r"PendingRollbackError: Can't reconnect until invalid transaction is rolled back",
        r"InterfaceError: \(0, ''\)", r"rows committed: \(\(1, 'first'\), \(2, 'second'\)\)",
    ]),
    ("errors/pool-timeout", "pool-timeout-the-pool-runs-dry", [
        r"TimeoutError: QueuePool limit of size 2 overflow 1 reached, connection timed out, timeout 0.50",
        r"PoolError: Failed getting connection; pool exhausted", r"has exceeded the 'max_user_connections'",
    ]),
    ("frameworks/flask-sqlalchemy", "flask-sqlalchemy-pool-and-teardown", [
        r"pool_recycle the engine got: 7200 seconds", r"the next four requests: \[500, 200, 200, 200\]",
        r"after: \[200\]",
    ]),
    ("frameworks/celery", "celery-workers-and-connections", [
        r"worker process (\d+): server session (\d+)\s+worker process (?!\1)\d+: server session \2\b",
        r"OperationalError: \(2006, 'Server has gone away'\)", r"the report's two steps ran on sessions",
    ]),
    ("frameworks/asyncio", "asyncio-dropped-connections", [
        r"readexactly\(\) called while another coroutine is already waiting for incoming data",
        r"asyncmy.errors.OperationalError: \(2006, 'MySQL server has gone away'\)|OperationalError: \(2006",
        r"This session is provisioning a new connection; concurrent operations are not permitted",
    ]),
]


@pytest.mark.parametrize("page, notebook, produced", TOPICS, ids=[t[0] for t in TOPICS])
def test_topic_pages_link_their_notebooks_which_show_what_ran(site, page, notebook, produced):
    html = (site / "docs" / f"{page}.html").read_text()
    assert f"../../notebooks/{notebook}.html" in html
    text = text_of(site / "notebooks" / f"{notebook}.html")
    for pattern in produced:
        assert re.search(pattern, text), pattern


@pytest.mark.parametrize("code, notebook, pictures", [
    ("1226", "1226-max-user-connections", 1), ("2006", "2006-server-has-gone-away", 3),
    ("2013", "2013-lost-connection-during-query", 2),
    ("2003", "2003-cant-connect", 0), ("network", "network-cut-connections", 0),
])
def test_each_error_has_its_diagram_and_timelines_with_alt_text(site, code, notebook, pictures):
    help_page = (site / "docs" / "errors" / f"{code}.html").read_text()
    diagrams = re.findall(r'<img src="([^"]*graphviz-[^"]+\.png)" alt="([^"]+)"', help_page)
    assert len(diagrams) == 1 and len(diagrams[0][1]) > 100, diagrams
    assert (site / "docs" / "errors" / diagrams[0][0]).resolve().exists()
    page = (site / "notebooks" / f"{notebook}.html").read_text()
    timelines = re.findall(r'<a class="image-full" href="([^"]+)"><img class="timeline" src="([^"]+)"[^>]* alt="([^"]+)"',
                           page)
    assert len(timelines) == pictures
    for href, src, alt in timelines:  # written from the recording: it names times measured in this build
        assert href == src and (site / "notebooks" / src).resolve().exists(), "a file, opened full size on tap"
        assert re.search(r"At \d+\.\d\d s: ", alt) or "closed connection" in alt, alt


# The pages about the network and MySQL 8: each error they list comes from their notebook's run.
NETWORK_PAGES = [("2003", "2003-cant-connect"), ("network", "network-cut-connections"),
                 ("4031", "4031-mysql8-inactivity")]
PORT = re.compile(r"127\.0\.0\.1:\d+")


def listed_errors(page: Path) -> list[str]:
    """The error lines in the first text block of a help page's source."""
    block = page.read_text().split("```text\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


@pytest.mark.parametrize("code, notebook", NETWORK_PAGES, ids=[code for code, _ in NETWORK_PAGES])
def test_each_listed_error_was_produced_by_the_notebook(site, code, notebook):
    page = (site / "docs" / "errors" / f"{code}.html").read_text()
    assert f"../../notebooks/{notebook}.html" in page
    produced = PORT.sub("127.0.0.1:PORT", " ".join(text_of(site / "notebooks" / f"{notebook}.html").split()))
    for line in listed_errors(ROOT / "docs" / "errors" / f"{code}.md"):
        message = PORT.sub("127.0.0.1:PORT", line.split(": ", 1)[1])
        for piece in message.split("..."):  # "..." stands for a part that varies from run to run
            assert piece.strip(" '") in produced, f"{code}.md lists {line!r}, which {notebook} did not produce"


def test_network_notebooks_show_each_failure_live(site):
    cut = text_of(site / "notebooks" / "network-cut-connections.html")
    assert "OperationalError: (2013, 'Lost connection to MySQL server during query (timed out)')" in cut
    assert "still waiting after 2 s: True" in cut
    assert "Connection reset by peer" in cut
    assert "bytes of the result sent to the client before the reset: 1,000,000" in cut
    connect = text_of(site / "notebooks" / "2003-cant-connect.html")
    assert "([Errno 111] Connection refused)" in connect
    assert "reading initial communication packet" in connect
    assert "RuntimeError: 'cryptography' package is required" in connect
    replay = text_of(site / "notebooks" / "4031-mysql8-inactivity.html")
    assert "code 4031, SQLSTATE HY000" in replay and "sequence number 0" in replay
    assert "OperationalError: (2013, 'Lost connection to MySQL server during query')" in replay
    assert "OperationalError: (4031, 'The client was disconnected by the server because of inactivity." in replay
    assert "MySQL Connection not available" in replay
    assert "DatabaseError: 4031 (HY000)" in replay


# --------------------------------------------------------------------------- as a reader uses it

from html.parser import HTMLParser  # noqa: E402
from urllib.parse import unquote, urlsplit  # noqa: E402

from browser import chromium, first_result, serve  # noqa: E402

ERRORS = "docs/errors/"
# What readers type, and the page that must come first: the error's help page, or
# where that is the better answer, the notebook or reference page about exactly that.
QUERIES = [
    ("2006", ERRORS + "2006.html"),
    ("1226", ERRORS + "1226.html"),
    ("2013", ERRORS + "2013.html"),
    ("4031", ERRORS + "4031.html"),
    ("2055", ERRORS + "2006.html"),
    ("1317", ERRORS + "2013.html"),
    ("gone away", ERRORS + "2006.html"),
    ("MySQL server has gone away", ERRORS + "2006.html"),
    ("max_user_connections", ERRORS + "1226.html"),
    ("has exceeded the 'max_user_connections' resource", ERRORS + "1226.html"),
    ("Lost connection to MySQL server during query", ERRORS + "2013.html"),
    ("Too many connections", ERRORS + "1226.html"),
    # InterfaceError(0, '') on every call is the "never recovers" page's subject (it links 2006 for the first error).
    ("InterfaceError", ERRORS + "pending-rollback.html"),
    ("pool_recycle", ERRORS + "2006.html"),
    ("pool_pre_ping", ERRORS + "2006.html"),
    ("wait_timeout", "docs/doctor.html"),  # reads your server's wait_timeout, prints pool_recycle
    ("CONN_MAX_AGE", ERRORS + "2006.html"),
    ("close_old_connections", "docs/frameworks/celery.html"),  # around every task; 2006 has the command's case
    ("SSCursor", ERRORS + "2013.html"),
    ("keyset pagination", "notebooks/2013-lost-connection-during-query.html"),  # its "Fix 1", run and plotted
    ("net_write_timeout", "notebooks/2013-lost-connection-during-query.html"),
    ("connection leak", "notebooks/1226-max-user-connections.html"),  # "Find and fix a connection leak"
    ("fails after lunch", ERRORS + "2006.html"),
    ("management command", ERRORS + "2006.html"),
    ("export dies", ERRORS + "2013.html"),
    # mysql-connector's wording of the same events: the help page for the cause, which links
    # the driver page; the driver page itself ranks at search_weight 0.25 (its front matter).
    ("MySQL Connection not available", ERRORS + "2006.html"),
    ("mysql.connector.errors.ReadTimeoutError", ERRORS + "2013.html"),
    ("mysql-connector-python", "docs/drivers.html"),
    ("mysqlclient", "docs/drivers.html"),
    # Threads, sessions that never recover, exhausted pools, frameworks.
    ("Packet sequence number wrong", ERRORS + "2014.html"),
    ("Commands out of sync", ERRORS + "2014.html"),
    ("PendingRollbackError", ERRORS + "pending-rollback.html"),
    ("Can't reconnect until invalid transaction is rolled back", ERRORS + "pending-rollback.html"),
    ("QueuePool limit", ERRORS + "pool-timeout.html"),
    ("pool exhausted", ERRORS + "pool-timeout.html"),
    ("SQLALCHEMY_ENGINE_OPTIONS", "docs/frameworks/flask-sqlalchemy.html"),
    ("worker_process_init", "docs/frameworks/celery.html"),
    ("aiomysql", "docs/frameworks/asyncio.html"),
]
# The network between client and server, can't connect, MySQL 8's replays.
QUERIES += [
    ("2003", ERRORS + "2003.html"),
    ("Can't connect to MySQL server", ERRORS + "2003.html"),
    ("reading initial communication packet", ERRORS + "2003.html"),
    ("caching_sha2_password", ERRORS + "2003.html"),
    ("Connection reset by peer", ERRORS + "network.html"),
    ("NAT gateway", ERRORS + "network.html"),
    ("disconnected by the server because of inactivity", ERRORS + "4031.html"),
]


@pytest.fixture(scope="module")
def base_url(site):
    with serve(site) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@pytest.fixture
def page(browser):
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    yield context.new_page()
    context.close()


@pytest.mark.parametrize("query, expected", QUERIES, ids=[q for q, _ in QUERIES])
def test_search_puts_the_expected_page_first(page, base_url, query, expected):
    found = first_result(page, base_url, query)
    assert (found if "#" in expected else urlsplit(found).path).endswith("/" + expected)


def test_sidebar_search_box_uses_pagefind(page, base_url):
    page.goto(base_url + "docs/errors/1226.html")
    page.fill("input[name=q]", "2006")
    page.press("input[name=q]", "Enter")
    page.wait_for_selector(".pagefind-ui__result-link", timeout=10_000)
    href = page.eval_on_selector(".pagefind-ui__result-link", "a => a.getAttribute('href')")
    assert urlsplit(href).path.endswith("2006.html")


def test_search_opened_from_disk_sends_an_error_code_to_its_page(page, site):
    page.goto((site / "search.html").as_uri() + "?q=2013")
    page.wait_for_url("**/docs/errors/2013.html#find-the-cause", timeout=10_000)


@pytest.mark.parametrize("code", ["1226", "2006", "2013", "2014"])
def test_short_error_url_reaches_its_page(page, base_url, code):
    page.goto(f"{base_url}errors/{code}")
    page.wait_for_url(f"**/docs/errors/{code}.html#*", timeout=10_000)
    assert code in page.title()


def test_copy_button_copies_exactly_the_snippet(page, base_url):
    import ast

    source = (ROOT / "examples" / "leak_try_finally.py").read_text()
    function = next(n for n in ast.parse(source).body if getattr(n, "name", "") == "order_total")
    # Whole lines, as literalinclude's :pyobject: shows them (trailing comments included).
    snippet = "\n".join(source.splitlines()[function.lineno - 1:function.end_lineno])
    page.goto(base_url + "docs/errors/1226.html")
    block = page.locator("div.highlight", has_text="def order_total").first
    block.hover()
    block.locator("button.copybtn").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.strip() == snippet.strip()


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.ids, self.images, self.headings = [], set(), [], []
        self._in_article = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag == "img":
            self.images.append(attrs)
        if tag == "article":
            self._in_article += 1
        if self._in_article and re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))

    def handle_endtag(self, tag):
        if tag == "article":
            self._in_article -= 1


def _pages(site):
    for path in sorted(site.rglob("*.html")):
        if not {"_static", "pagefind", "_sources"} & set(path.relative_to(site).parts):
            parser = _Links()
            parser.feed(path.read_text())
            yield path, parser


def test_every_internal_link_resolves(site):
    parsed = dict(_pages(site))
    broken = []
    for path, parser in parsed.items():
        for href in parser.links:
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or href.startswith("mailto:"):
                continue
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{path.relative_to(site)}: {href}")
            elif parts.fragment and target in parsed and parts.fragment not in parsed[target].ids:
                broken.append(f"{path.relative_to(site)}: {href} (no such anchor)")
    assert not broken, "\n".join(broken)


def test_images_exist_and_have_alt_text(site):
    problems = []
    for path, parser in _pages(site):
        for image in parser.images:
            src = urlsplit(image.get("src", "")).path
            if not image.get("alt"):
                problems.append(f"{path.relative_to(site)}: {src} has no alt text")
            if src and not image["src"].startswith("data:") and not (path.parent / unquote(src)).exists():
                problems.append(f"{path.relative_to(site)}: {src} is missing")
    assert not problems, "\n".join(problems)


def test_headings_do_not_skip_levels(site):
    problems = []
    for path, parser in _pages(site):
        levels = parser.headings
        if levels and levels[0] != 1:
            problems.append(f"{path.relative_to(site)}: starts at h{levels[0]}")
        for before, after in zip(levels, levels[1:]):
            if after > before + 1:
                problems.append(f"{path.relative_to(site)}: h{before} then h{after}")
    assert not problems, "\n".join(problems)


CONTRAST = """() => {
  const rgb = s => s.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = c => { const [r, g, b] = c.map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
                     return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const ratio = (a, b) => { const [x, y] = [lum(rgb(a)), lum(rgb(b))].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const block = document.querySelector("div:not(.output) > div.highlight");
  const background = getComputedStyle(block.querySelector("pre")).backgroundColor !== "rgba(0, 0, 0, 0)"
    ? getComputedStyle(block.querySelector("pre")).backgroundColor : getComputedStyle(block).backgroundColor;
  const worst = {};
  for (const el of [block.querySelector("pre"), ...block.querySelectorAll("pre span")]) {
    const key = el.className || "text";
    worst[key] = Math.min(worst[key] || 99, ratio(getComputedStyle(el).color, background));
  }
  return worst;
}"""


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_code_blocks_are_readable_in_light_and_dark(page, base_url, theme):
    page.goto(base_url + "docs/errors/1226.html")
    page.evaluate(f"document.body.dataset.theme = '{theme}'")
    ratios = page.evaluate(CONTRAST)
    low = {token: round(ratio, 2) for token, ratio in ratios.items() if ratio < 4.5}  # WCAG AA for text
    assert not low, f"{theme}: code tokens below 4.5:1 contrast: {low}"


def test_screenshots_for_a_person_to_look_at(page, base_url):
    """Saved as build artefacts in _build/screenshots/."""
    out = ROOT / "_build" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    for name, url in (("landing", "index.html"), ("error-2006", "docs/errors/2006.html"),
                      ("search-2006", "search.html?q=2006")):
        page.goto(base_url + url)
        if name.startswith("search"):
            page.wait_for_selector(".pagefind-ui__result-link", timeout=10_000)
        page.screenshot(path=str(out / f"{name}.png"), full_page=False)
        assert (out / f"{name}.png").stat().st_size > 10_000


# --------------------------------------------------------------------------- the error catalogue on the site

import json  # noqa: E402

import error_corpus  # noqa: E402
from browser import search  # noqa: E402

from dbconn import errors, settings  # noqa: E402
from dbconn import site as site_parts  # noqa: E402


def test_every_catalogue_section_exists_in_the_built_pages(site):
    assert not site_parts.missing_sections(site)


def test_landing_table_comes_from_the_catalogue_most_common_first(site):
    page = (site / "index.html").read_text()
    covered, not_covered = re.findall(r"<tbody>(.*?)</tbody>", page, re.S)[:2]
    words = lambda markup: " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())  # noqa: E731
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", covered, re.S)
    assert words(rows[0]).startswith("2006 MySQL server has gone away"), "the most common error comes first"
    for entry in errors.CATALOGUE:
        table = covered if entry.page else not_covered
        assert " ".join(entry.title.split()) in words(table), entry.key
        if entry.page:
            assert f'href="{entry.page}.html#{entry.section}"' in table, entry.key
        else:
            assert f'href="{entry.reference}"' in table, entry.key


def test_short_urls_follow_the_catalogue(site):
    folders = {path.name for path in (site / "errors").iterdir()}
    assert folders == {entry.key for entry in errors.CATALOGUE}
    for entry in errors.CATALOGUE:
        stub = (site / "errors" / entry.key / "index.html").read_text()
        if entry.page:
            assert f'url=../../{entry.page}.html#{entry.section}"' in stub, entry.key
        else:
            assert "not covered here yet" in stub and f'href="{entry.reference}"' in stub, entry.key


def test_the_shipped_recogniser_answers_as_explain_does_on_every_corpus_text(page, base_url):
    """The JSON and the JavaScript the site serves, run in the browser on every text of the
    corpus, give the same answer as dbconn.errors.recognise (what `explain` prints)."""
    page.goto(base_url + "search.html")
    shipped = page.evaluate("() => window.ERROR_CATALOGUE")
    assert {k: v for k, v in shipped.items() if k != "names"} == json.loads(json.dumps(errors.export()))
    pastes = error_corpus.load()
    answers = page.evaluate("texts => texts.map(t => window.ErrorRecogniser.recognise(t))", [p.text for p in pastes])
    different = []
    for paste, answer in zip(pastes, answers):
        expected = errors.recognise(paste.text)
        if answer != (expected and expected.as_dict()):
            different.append(f"{paste.source}: explain {expected and expected.key}, browser {answer and answer['key']}")
    assert not different, "\n".join(different)


def _corpus(expected: str, holding: str) -> str:
    return next(p.text for p in error_corpus.load() if p.expected == expected and holding in p.text)


@pytest.mark.parametrize("text, expected", [
    (_corpus("2006/celery", "ForkPoolWorker"), "docs/frameworks/celery.html#find-the-cause"),
    (_corpus("2013", "The above exception was the direct cause"), "docs/errors/2013.html#find-the-cause"),
    (_corpus("4031", "pony/orm"), "docs/errors/4031.html#what-each-driver-raises-on-mysql-8"),
    (_corpus("PendingRollbackError", "_revalidate_connection"), "docs/errors/pending-rollback.html#find-the-cause"),
], ids=["celery-2006", "flask-2013", "mysql8-4031", "sqlalchemy-pending-rollback"])
def test_a_pasted_traceback_finds_its_section_first(page, base_url, text, expected):
    links = search(page, base_url, text)
    expected = expected if expected.startswith("https://") else base_url + expected
    assert links and links[0] == expected
    assert page.inner_text(".search-result--recognised").startswith("Recognised: ")


def test_a_long_title_drops_the_words_no_page_has(page, base_url):
    links = search(page, base_url, "celery worker loses pool_recycle connections plughquux quxbazqq after hours")
    assert links, "the words that are on pages still find them"
    status = page.inner_text(".site-search__status")
    assert "no page has" in status and "“plughquux”" in status and "“quxbazqq”" in status


@pytest.mark.parametrize("word", ["banana", "xyzzy", "qwertyuiop"])
def test_a_word_on_no_page_finds_nothing(page, base_url, word):
    assert search(page, base_url, word) == []
    assert page.inner_text(".site-search__status") == f"No page covers “{word}”."


READABILITY = """() => {
  const rgb = s => s.match(/[\\d.]+/g).map(Number);
  const lum = c => { const [r, g, b] = c.slice(0, 3).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
                     return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const background = el => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor);
                             if (c.length < 4 || c[3] > 0) return c; } return [255, 255, 255]; };
  const ratio = el => { const [x, y] = [lum(rgb(getComputedStyle(el).color)), lum(background(el))].sort((p, q) => q - p);
                        return (x + 0.05) / (y + 0.05); };
  const worst = {};
  for (const [name, selector] of Object.entries({query: "#site-search-input", status: ".site-search__status",
       title: ".search-result__link", excerpt: ".search-result__excerpt", highlight: ".search-result mark",
       recognised: ".search-result__kicker"})) {
    const found = [...document.querySelectorAll(selector)];
    if (found.length) worst[name] = Math.min(...found.map(ratio));
  }
  return worst;
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_search_is_readable_in_light_and_dark(browser, base_url, scheme):
    context = browser.new_context(color_scheme=scheme)
    page = context.new_page()
    try:  # a recognised error, then the pages about it, with the words found highlighted
        search(page, base_url, "pymysql.err.OperationalError: (2006, 'MySQL server has gone away')")
        ratios = page.evaluate(READABILITY)
        assert set(ratios) >= {"query", "status", "title", "excerpt", "highlight", "recognised"}, ratios
        low = {name: round(r, 2) for name, r in ratios.items() if r < 4.5}
        assert not low, f"{scheme}: below 4.5:1: {low}"
    finally:
        context.close()


def test_result_titles_look_like_links(page, base_url):
    search(page, base_url, "gone away")
    title = page.eval_on_selector(".search-result__link", """a => ({underline: getComputedStyle(a).textDecorationLine,
        colour: getComputedStyle(a).color, text: getComputedStyle(document.body).color})""")
    assert "underline" in title["underline"] and title["colour"] != title["text"]


def test_the_site_is_served_compressed_as_a_web_host_sends_it(tmp_path):
    """`make serve` and these tests send text gzipped to a browser that accepts it, plain otherwise."""
    import gzip
    import urllib.request

    (tmp_path / "index.html").write_text("<p>" + "connection " * 500 + "</p>")
    with serve(tmp_path) as url:
        asked = urllib.request.Request(url, headers={"Accept-Encoding": "gzip, deflate"})
        with urllib.request.urlopen(asked) as response:
            assert response.headers["Content-Encoding"] == "gzip"
            assert gzip.decompress(response.read()) == (tmp_path / "index.html").read_bytes()
        with urllib.request.urlopen(url + "index.html") as response:
            assert response.headers["Content-Encoding"] is None
            assert response.read() == (tmp_path / "index.html").read_bytes()


def test_search_page_loads_only_what_it_uses(browser, base_url):
    """No Sphinx search over HTTP, and under 300 KiB transferred for a search and its results
    (Playwright's responseBodySize is the body as sent: gzipped text, Pagefind's own files)."""
    context = browser.new_context()
    page = context.new_page()
    sizes = {}
    page.on("requestfinished", lambda request: sizes.__setitem__(request.url, request.sizes()["responseBodySize"]))
    try:
        page.goto(base_url + "search.html?q=2006")
        page.wait_for_selector("#site-search[data-state=done]")
        page.wait_for_load_state("networkidle")
    finally:
        context.close()
    assert not [url for url in sizes if re.search(r"searchtools|searchindex|language_data|pagefind-ui", url)]
    assert sum(sizes.values()) < 300 * 1024, sorted(sizes.items(), key=lambda item: -item[1])


# --------------------------------------------------------------------------- reading on any screen

CLIPPED = """() => {
  const width = document.documentElement.clientWidth;
  const name = el => el.tagName.toLowerCase() + "." + [...el.classList].join(".") + " '" + el.textContent.trim().slice(0, 40) + "'";
  const scrolls = el => /auto|scroll/.test(getComputedStyle(el).overflowX);
  const problems = [];
  if (document.documentElement.scrollWidth > width + 1) problems.push(`the page scrolls sideways (${document.documentElement.scrollWidth} px)`);
  for (const el of document.querySelectorAll("article[role=main] *")) {
    const style = getComputedStyle(el);
    if (style.display === "none" || el.closest(".headerlink, .visually-hidden, [hidden]")) continue;
    if (el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1) {
      if (/hidden|clip/.test(style.overflowX)) problems.push("cut off: " + name(el));
      else if (scrolls(el) && !(el.classList.contains("is-scrollable") && el.tabIndex >= 0)) problems.push("scrolls, with no cue or no keyboard focus: " + name(el));
    }
    const box = el.getBoundingClientRect();
    if (box.width > 0 && box.right > width + 1) {
      let parent = el.parentElement;
      while (parent && !scrolls(parent)) parent = parent.parentElement;
      if (!parent || !parent.closest("article")) problems.push("off the screen: " + name(el));
    }
  }
  return problems;
}"""


def test_no_page_content_is_cut_off_on_a_phone(browser, base_url, site):
    """390 px wide: text wraps, or scrolls in a box that shows it scrolls and takes focus."""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    problems = []
    try:
        for path, _ in _pages(site):
            relative = path.relative_to(site).as_posix()
            if relative.startswith(("errors/", "genindex", "search")):
                continue
            page.goto(base_url + relative)
            page.wait_for_load_state("load")
            problems += [f"{relative}: {problem}" for problem in page.evaluate(CLIPPED)]
    finally:
        context.close()
    assert not problems, "\n".join(problems)


def test_section_list_is_visible_on_a_laptop_screen(browser, base_url):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        page.goto(base_url + "docs/errors/2006.html")
        toc = page.locator(".toc-drawer a[href='#find-the-cause']")
        assert toc.is_visible()
        box = toc.bounding_box()
        assert box["x"] > 640 and box["x"] + box["width"] <= 1280, box
    finally:
        context.close()


def test_diagrams_and_charts_open_full_size(site):
    for path, parser in _pages(site):
        page = path.read_text()
        assert "data:image" not in page, f"{path.name}: an image inside the page (Pagefind stores it as metadata)"
        for src in re.findall(r'<img [^>]*class="(?:graphviz|timeline)"[^>]*>', page):
            link = re.search(r'<a class="image-full" href="([^"]+)">' + re.escape(src), page)
            assert link and (path.parent / unquote(link.group(1))).exists(), f"{path.name}: {src[:80]}"


def test_every_page_is_described_for_search_engines(site):
    base = settings.SITE_URL
    assert (site / "robots.txt").read_text().splitlines()[-1] == f"Sitemap: {base}sitemap.xml"
    sitemap = (site / "sitemap.xml").read_text()
    assert (site / "favicon.ico").read_bytes()[:4] == b"\x00\x00\x01\x00"
    for path, _ in _pages(site):
        relative = path.relative_to(site).as_posix()
        if relative.startswith(("errors/", "genindex", "search")):
            continue
        page = path.read_text()
        description = re.search(r'<meta name="description" content="([^"]+)"', page)
        assert description and 50 <= len(html.unescape(description.group(1))) <= 170, relative
        assert re.search(r'rel="(shortcut )?icon"', page) and f'<link rel="canonical" href="{base}{relative}"' in page, \
            relative
        assert f"<loc>{base}{relative}</loc>" in sitemap, relative


def test_theme_markup_passes_accessibility_rules(site):
    """Sidebar captions are headings with a level; no table header cell is empty."""
    for path, _ in _pages(site):
        page = path.read_text()
        assert not re.search(r'role="heading"(?![^>]*aria-level)', page), path.name
        assert not re.search(r'<th class="head">(<p></p>)?</th>', page), path.name


HELP_PAGES = sorted(f"{p.parent.name}/{p.stem}" for folder in ("errors", "frameworks")
                    for p in (ROOT / "docs" / folder).glob("*.md"))


@pytest.mark.parametrize("code", HELP_PAGES)
def test_each_help_page_opens_with_a_quick_fix(site, code):
    """Right after the error lines and one sentence of meaning: 2 to 4 fixes, each linking
    to the section that explains it. Error pages and framework pages alike."""
    page = (site / "docs" / f"{code}.html").read_text()
    article = page[page.index("<h1"):]
    quick = article.find('<p class="admonition-title">Quick fix</p>')
    assert 0 < quick < article.index("<h2"), "the quick fix comes before the first section"
    assert article[:quick].count("<pre") == 1, "only the error lines come before it"
    meaning = article[article.index("</pre>"):quick]
    sentence = text_of_html(meaning).replace("What it means.", "").strip()
    assert meaning.count("<p>") == 1 and ". " not in sentence and sentence.endswith("."), "one sentence of meaning"
    items = re.findall(r"<li>(.*?)</li>", article[quick:article.index("</div>", quick)], re.S)
    assert 2 <= len(items) <= 4, len(items)
    for item in items:
        links = re.findall(r'href="([^"]+)"', item)
        assert links, f"a quick fix without a link to its section: {text_of_html(item)}"
        for link in links:
            target = link.split("#")[-1]
            if link.startswith("#"):
                assert f'id="{target}"' in page, f"{code}: no section {target}"


def text_of_html(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def test_every_typed_error_line_was_printed_by_this_builds_runs(site):
    """The header block of each page types error lines; each was printed by a notebook cell
    or the driver matrix in this very build, up to host, port and OS-error details (the
    build warns, and -W fails it, naming the line: dbconn/produced.py)."""
    from dbconn import produced

    assert produced.unproduced(ROOT, site) == []


AXE_SAMPLE = ["index.html", "search.html?q=2006", "docs/errors/2006.html", "docs/drivers.html",
              "notebooks/2006-server-has-gone-away.html"]


def _axe_pages(site) -> list[str]:
    """Every help and framework page, the landing page, the search page with results, the
    driver tables and the longest notebook."""
    helps = sorted(p.relative_to(site).as_posix() for p in (site / "docs").rglob("*.html"))
    return AXE_SAMPLE + [p for p in helps if p not in AXE_SAMPLE]


@pytest.mark.parametrize("width, scheme", [(1280, "light"), (1280, "dark"), (390, "light")])
def test_pages_pass_axe(browser, base_url, site, width, scheme):
    """axe-core's rules (WCAG A/AA and best practices), every violation whatever its impact:
    on the laptop screen in light, every page; in dark and on a phone, the sample."""
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme)
    page = context.new_page()
    problems = []
    try:
        for relative in _axe_pages(site) if (width, scheme) == (1280, "light") else AXE_SAMPLE:
            page.goto(base_url + relative)  # waits for "load": the page's scripts have run
            if relative.startswith("search.html"):
                page.wait_for_selector("#site-search[data-state=done]")
            for violation in axe.run(page).response["violations"]:
                targets = [node["target"] for node in violation["nodes"][:3]]
                problems.append(f"{relative}: {violation['id']} ({violation['impact']}) at {targets}")
    finally:
        context.close()
    assert not problems, "\n".join(problems)
