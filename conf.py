"""Sphinx configuration: MyST notebooks executed at build time, furo, copy buttons."""

import html
import subprocess
import sys
from pathlib import Path

from sphinx.util import logging

import dbconn
from dbconn import errors as error_catalogue
from dbconn import matrix, pipeline, produced, settings, site

logger = logging.getLogger(__name__)

project = "Managing database connections, live"
author = "The dbconn lab"
copyright = "2026, the dbconn lab"

extensions = ["myst_nb", "sphinx_copybutton", "sphinx_design", "sphinx.ext.graphviz"]
exclude_patterns = [
    "_build", ".venv", ".state", ".pytest_cache", "**/.ipynb_checkpoints",
    "README.md", "examples", "tests", "db", ".ci",
]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
smartquotes = False  # error messages must read exactly as drivers print them: 'x', not ‘x’

# Notebooks run on every build that reads them, against a real server: a traceback on
# the site is always a fresh one. dbconn.pipeline executes them, in parallel and checked
# by the notebook rules (declared errors only, no connection left open), and hands
# myst-nb each executed notebook through its jupyter-cache, emptied at every build:
# myst-nb renders, it never executes. Each problem is a warning naming the notebook and
# cell, and -W (always on in the Makefile and the tests) fails the build after listing
# every one of them.
nb_execution_mode = "cache"
nb_execution_timeout = 180  # seconds per cell
nb_merge_streams = True

# Diagrams: Debian's graphviz (`dot`), drawn offline at build time. PNG, so each is an
# <img> with its alt text; a white background reads the same in the light and dark themes.
graphviz_output_format = "png"
graphviz_dot_args = ["-Gbgcolor=white", "-Gdpi=110", "-Gfontname=DejaVu Sans"]

html_theme = "furo"
html_title = "MySQL connection errors, live"
html_static_path = ["_static"]
templates_path = ["_templates"]
html_sourcelink_suffix = ""  # _sources/notebooks/x.md: the notebook itself, to download
# Copy the code, never the output printed under it.
copybutton_selector = "div:not(.output) > div.highlight pre"
copybutton_exclude = ".linenos, .gp, .go"

# Reading on any screen, and search engines (dbconn/site.py): site.css, scroll-cue.js and landmarks.js on
# every page; canonical URLs and the sitemap use html_baseurl (DBCONN_SITE_URL).
html_css_files = ["site.css"]
html_js_files = ["scroll-cue.js", "landmarks.js"]
html_favicon = "_static/favicon.svg"
html_baseurl = settings.SITE_URL


DRIVER_PAGE = "docs/drivers"
MATRIX_BLOCK = "```{driver-matrix}\n```"


def _require_server(app, env, docnames):
    """Before notebooks execute: one clear line when no server answers (a SphinxError
    would print a page of versions and tracebacks around it)."""
    if any(name.startswith("notebooks/") or name == DRIVER_PAGE for name in docnames):
        try:
            dbconn.require()
        except dbconn.ServerError as exc:
            raise SystemExit(f"error: {exc}") from None


def _driver_matrix(app, docname, source):
    """The driver page's tables, from a run of every scenario through every driver
    (`python -m dbconn matrix`, in its own process: the drivers' threads and warnings
    stay out of Sphinx's; started with the notebooks, see setup()). A result its
    scenario does not expect fails the build."""
    if docname != DRIVER_PAGE:
        return
    run = pipeline.finished(DRIVER_PAGE)
    for line in run.stderr.splitlines():
        if line.startswith("error: "):
            logger.warning("driver matrix: %s", line.removeprefix("error: "), location=docname)
    if run.returncode and not run.stdout:
        raise SystemExit(f"error: `python -m dbconn matrix` failed:\n{run.stderr[-2000:]}")
    source[0] = source[0].replace(MATRIX_BLOCK, run.stdout)
    for path in matrix.SOURCES:
        app.env.note_dependency(str(Path(app.confdir) / path))


# --- the error catalogue on the site, search, and every page's fixes (dbconn/site.py) ------

LANDING_PAGE = "index"


def _error_catalogue_script(app):
    """_static/error-catalogue.js: the catalogue, for the search page's and the landing
    page's recogniser (_static/recognise.js)."""
    static = Path(app.outdir) / "_static"
    static.mkdir(parents=True, exist_ok=True)
    (static / "error-catalogue.js").write_text(site.catalogue_script())


def _landing_tables(app, docname, source):
    """The landing page's paste box and error tables, from the catalogue (most common first)."""
    if docname != LANDING_PAGE:
        return
    source[0] = source[0].replace(site.CATALOGUE_BLOCK, site.landing_markdown())
    source[0] = source[0].replace(site.NOT_COVERED_BLOCK, site.not_covered_markdown())
    app.env.note_dependency(error_catalogue.__file__)
    for page in {page for _, page, _, _ in error_catalogue.locations() if page}:
        app.env.note_dependency(str(Path(app.confdir) / f"{page}.md"))


def _page_fixes(app, pagename, templatename, context, doctree):
    """Every page: charts as files that open full size, diagrams too; no empty table
    header; sidebar captions with a heading level; a meta description. The search and
    landing pages: their scripts, and nothing the search page does not use."""
    if "body" in context:
        images = Path(app.outdir) / "_images"
        body = site.images_as_files(context["body"], images, lambda name: context["pathto"](f"_images/{name}", 1))
        body = site.size_diagrams(body, (Path(app.outdir) / pagename).parent)
        context["body"] = site.fix_html(site.link_figures(body))
    if "furo_navigation_tree" in context:
        context["furo_navigation_tree"] = site.caption_level(context["furo_navigation_tree"])
    meta = context.get("meta") or {}
    description = meta.get("description") or site.first_paragraph(context.get("body", ""))
    if description:
        context["metatags"] = context.get("metatags", "") + f'<meta name="description" content="{html.escape(description)}">'
    if pagename == LANDING_PAGE:
        for script in ("error-catalogue.js", "recognise.js", "paste-error.js"):
            app.add_js_file(script)
    if pagename == "search":
        keep = ("furo.css", "site.css")
        context["css_files"] = [css for css in context["css_files"] if any(k in css.filename for k in keep)]
        context["script_files"] = [js for js in context["script_files"] if "furo" in (js.filename or "")]


def _short_error_urls(app, exception):
    """errors/<key>/ for every error of the catalogue (errors/2006/, errors/PendingRollbackError/):
    a short URL that can be pasted in a chat or printed by a program, and keeps working
    when the error moves to a page of its own."""
    if exception or app.builder.name != "html":
        return
    for entry in error_catalogue.CATALOGUE:
        folder = Path(app.outdir) / "errors" / entry.key
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "index.html").write_text(site.short_url_page(entry))


def _catalogue_matches_pages(app, exception):
    """A catalogue entry that points to a page or section the site does not have fails the build."""
    if exception or app.builder.name != "html":
        return
    for problem in site.missing_sections(Path(app.outdir)):
        logger.warning("error catalogue (dbconn/errors.py): %s", problem)


def _search_engine_files(app, exception):
    """sitemap.xml, robots.txt and favicon.ico at the site's root."""
    if exception or app.builder.name != "html":
        return
    out = Path(app.outdir)
    pages = sorted(f"{name}.html" for name in app.env.found_docs)
    (out / "sitemap.xml").write_text(site.sitemap(app.config.html_baseurl, pages))
    (out / "robots.txt").write_text(site.robots(app.config.html_baseurl))
    (out / "favicon.ico").write_bytes(site.favicon_ico())


def _pagefind_index(app, exception):
    """Index the help pages and notebooks with Pagefind (it finds "2006"; Sphinx's
    built-in search drops number-only words): the main article only, without the
    notebooks' printed outputs or the driver page's measured tables, which would
    outrank the pages that explain."""
    if exception or app.builder.name != "html":
        return
    subprocess.run([*PAGEFIND, "--site", app.outdir], check=True)


PAGEFIND = [
    sys.executable, "-m", "pagefind", "--glob", "{docs,notebooks}/**/*.html", "--root-selector", "article[role=main]",
    "--exclude-selectors", ".cell_output, a.headerlink, table.measured", "--silent",
]


def _header_lines_were_produced(app, exception):
    """Every error line typed at the top of a page was printed by a run of this build (a
    notebook cell, the driver matrix), up to host, port and OS-error details: a line no
    run printed is a warning naming it, and -W fails the build (dbconn/produced.py)."""
    if exception or app.builder.name != "html" or app.config.nb_execution_mode == "off":
        return
    for page, line in produced.unproduced(Path(app.srcdir), Path(app.outdir)):
        logger.warning("this header line was printed by no run of this build: %s", line, location=page)


def setup(app):
    app.connect("env-before-read-docs", _require_server)
    pipeline.run_in_background(DRIVER_PAGE, [sys.executable, "-m", "dbconn", "matrix"])
    # Executes the notebooks (after _require_server has found a server), again whenever
    # the code they run changes: the helper package or an example.
    pipeline.setup(app, notebooks_use=["dbconn/*.py", "examples/*.py"])
    app.connect("source-read", _driver_matrix)
    app.connect("builder-inited", _error_catalogue_script)
    app.connect("source-read", _landing_tables)
    app.connect("html-page-context", _page_fixes, priority=900)  # after furo builds its sidebar
    app.connect("build-finished", _short_error_urls)
    app.connect("build-finished", _catalogue_matches_pages)
    app.connect("build-finished", _search_engine_files)
    app.connect("build-finished", _header_lines_were_produced)
    app.connect("build-finished", _pagefind_index)  # last: indexes what the others wrote
