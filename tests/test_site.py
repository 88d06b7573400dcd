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


@pytest.mark.parametrize("code, notebook, pictures", [
    ("1226", "1226-max-user-connections", 1), ("2006", "2006-server-has-gone-away", 3),
    ("2013", "2013-lost-connection-during-query", 2),
])
def test_each_error_has_its_diagram_and_timelines_with_alt_text(site, code, notebook, pictures):
    help_page = (site / "docs" / "errors" / f"{code}.html").read_text()
    diagrams = re.findall(r'<img src="([^"]*graphviz-[^"]+\.png)" alt="([^"]+)"', help_page)
    assert len(diagrams) == 1 and len(diagrams[0][1]) > 100, diagrams
    assert (site / "docs" / "errors" / diagrams[0][0]).resolve().exists()
    page = (site / "notebooks" / f"{notebook}.html").read_text()
    timelines = re.findall(r'<img class="timeline" src="data:image/png;base64,[^"]+" alt="([^"]+)"', page)
    assert len(timelines) == pictures
    for alt in timelines:  # written from the recording: it names times measured in this build
        assert re.search(r"At \d+\.\d\d s: ", alt) or "closed connection" in alt, alt


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
    ("4031", ERRORS + "2006.html"),
    ("2055", ERRORS + "2006.html"),
    ("1317", ERRORS + "2013.html"),
    ("gone away", ERRORS + "2006.html"),
    ("MySQL server has gone away", ERRORS + "2006.html"),
    ("max_user_connections", ERRORS + "1226.html"),
    ("has exceeded the 'max_user_connections' resource", ERRORS + "1226.html"),
    ("Lost connection to MySQL server during query", ERRORS + "2013.html"),
    ("Too many connections", ERRORS + "1226.html"),
    ("InterfaceError", ERRORS + "2006.html"),
    ("pool_recycle", ERRORS + "2006.html"),
    ("pool_pre_ping", ERRORS + "2006.html"),
    ("wait_timeout", "docs/doctor.html"),  # reads your server's wait_timeout, prints pool_recycle
    ("CONN_MAX_AGE", ERRORS + "2006.html"),
    ("close_old_connections", ERRORS + "2006.html"),
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
    assert first_result(page, base_url, query).endswith("/" + expected)


def test_sidebar_search_box_uses_pagefind(page, base_url):
    page.goto(base_url + "docs/errors/1226.html")
    page.fill("input[name=q]", "2006")
    page.press("input[name=q]", "Enter")
    page.wait_for_selector(".pagefind-ui__result-link", timeout=10_000)
    assert page.eval_on_selector(".pagefind-ui__result-link", "a => a.getAttribute('href')").endswith("2006.html")


def test_search_opened_from_disk_sends_an_error_code_to_its_page(page, site):
    page.goto((site / "search.html").as_uri() + "?q=2013")
    page.wait_for_url("**/docs/errors/2013.html", timeout=10_000)


@pytest.mark.parametrize("code", ["1226", "2006", "2013"])
def test_short_error_url_reaches_its_page(page, base_url, code):
    page.goto(f"{base_url}errors/{code}")
    page.wait_for_url(f"**/docs/errors/{code}.html", timeout=10_000)
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


@pytest.mark.parametrize("code", sorted(p.stem for p in (ROOT / "docs" / "errors").glob("*.md")))
def test_each_help_page_opens_with_a_quick_fix(site, code):
    """Right after the error lines and one sentence of meaning: 2 to 4 fixes, each linking
    to the section that explains it."""
    page = (site / "docs" / "errors" / f"{code}.html").read_text()
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
