"""Sphinx configuration: MyST notebooks executed at build time, furo, copy buttons."""

import dbconn

project = "Managing database connections, live"
author = "The dbconn lab"
copyright = "2026, the dbconn lab"

extensions = ["myst_nb", "sphinx_copybutton", "sphinx_design"]
exclude_patterns = [
    "_build", ".venv", ".state", ".pytest_cache", "**/.ipynb_checkpoints",
    "README.md", "examples", "tests", "db", ".ci",
]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# Notebooks run on every build against a real server: a traceback on the site
# is always a fresh one. Only cells tagged raises-exception may fail; any other
# error is a warning naming the notebook and cell, and -W (always on in the
# Makefile and the tests) fails the build after listing every one of them.
nb_execution_mode = "force"
nb_execution_raise_on_error = False
nb_execution_timeout = 180
nb_execution_show_tb = True
nb_merge_streams = True

html_theme = "furo"
html_title = "MySQL connection errors, live"
html_static_path = []
# Copy the code, never the output printed under it.
copybutton_selector = "div:not(.output) > div.highlight pre"
copybutton_exclude = ".linenos, .gp, .go"


def _require_server(app, env, docnames):
    """Before notebooks execute: one clear line when no server answers (a SphinxError
    would print a page of versions and tracebacks around it)."""
    if any(name.startswith("notebooks/") for name in docnames):
        try:
            dbconn.require()
        except dbconn.ServerError as exc:
            raise SystemExit(f"error: {exc}") from None


def setup(app):
    app.connect("env-before-read-docs", _require_server)
