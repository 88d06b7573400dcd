"""Sphinx configuration: MyST notebooks executed at build time, furo, copy buttons."""

import json
import subprocess
import sys
from pathlib import Path

from sphinx.util import logging

import dbconn
from dbconn import matrix, produced

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

# Notebooks run on every build against a real server: a traceback on the site
# is always a fresh one. Only cells tagged raises-exception may fail; any other
# error is a warning naming the notebook and cell, and -W (always on in the
# Makefile and the tests) fails the build after listing every one of them.
nb_execution_mode = "force"
nb_execution_raise_on_error = False
nb_execution_timeout = 180
nb_execution_show_tb = True
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
    stay out of Sphinx's). A result its scenario does not expect fails the build."""
    if docname != DRIVER_PAGE:
        return
    run = subprocess.run([sys.executable, "-m", "dbconn", "matrix"], capture_output=True, text=True, timeout=300)
    for line in run.stderr.splitlines():
        if line.startswith("error: "):
            logger.warning("driver matrix: %s", line.removeprefix("error: "), location=docname)
    if run.returncode and not run.stdout:
        raise SystemExit(f"error: `python -m dbconn matrix` failed:\n{run.stderr[-2000:]}")
    source[0] = source[0].replace(MATRIX_BLOCK, run.stdout)
    for path in matrix.SOURCES:
        app.env.note_dependency(str(Path(app.confdir) / path))


ERROR_PAGES = sorted(p.stem for p in (Path(__file__).parent / "docs" / "errors").glob("*.md"))


def _error_page_map(app):
    """_static/error-pages.js: error code -> page, for the offline search fallback."""
    pages = {code: f"docs/errors/{code}.html" for code in ERROR_PAGES}
    static = Path(app.outdir) / "_static"
    static.mkdir(parents=True, exist_ok=True)
    (static / "error-pages.js").write_text(f"window.ERROR_PAGES = {json.dumps(pages)};\n")


def _short_error_urls(app, exception):
    """errors/NNNN/ redirects to docs/errors/NNNN.html: a short URL that can be pasted
    in a chat or printed by a program, and keeps working."""
    if exception or app.builder.name != "html":
        return
    for code in ERROR_PAGES:
        target = f"../../docs/errors/{code}.html"
        folder = Path(app.outdir) / "errors" / code
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "index.html").write_text(
            f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Error {code}</title>'
            f'<meta http-equiv="refresh" content="0; url={target}"><link rel="canonical" href="{target}">'
            f'</head><body data-pagefind-ignore="all"><p><a href="{target}">Error {code}</a></p></body></html>\n'
        )


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
    app.connect("source-read", _driver_matrix)
    app.connect("builder-inited", _error_page_map)
    app.connect("build-finished", _short_error_urls)
    app.connect("build-finished", _header_lines_were_produced)
    app.connect("build-finished", _pagefind_index)  # last: indexes what the others wrote
