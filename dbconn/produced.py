"""Every error line a page types at its top was printed by a run in the same build.

A help page, the driver page and each notebook open with a block of error lines, the
lines readers paste from their own tracebacks. Those are typed; everything below them is
produced at build time (the notebooks' cells, the driver matrix's tables). This module
checks the first against the second, so that a page cannot keep showing a line that no
driver prints any more: the build (conf.py) warns, naming the line, and `-W` fails it.

A typed line matches a produced one when they are equal after the details that differ
from run to run are set aside: host and port, an operating-system error's text, and
whatever a typed `...` stands for. The produced lines are read from the built HTML: a
notebook cell's error output (IPython prints the class without its module, so a typed
`pymysql.err.OperationalError: (2006, ...)` also matches `OperationalError: (2006, ...)`),
a line a cell printed, and the driver matrix's tables (the full line, module included).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from pathlib import Path

HEADER = re.compile(r"\A---\n.*?\n---\n|\A", re.S)  # front matter, if any, comes first
FENCE = re.compile(r"^# [^\n]+\n+```(?:text)?\n(.*?)\n```", re.M | re.S)
ANNOTATION = re.compile(r"\s{2,}\([^()]*(?:\([^()]*\)[^()]*)*\)\s*$")  # "   (mysqlclient on libmariadb)"
LINE = re.compile(r"^(?P<cls>[A-Za-z_][\w.]*): (?P<message>.*)$")

# Details that differ between runs of the same failure: where the server was, what the OS said.
DETAILS = (
    (re.compile(r"'[\w.-]+:\d+'"), "'HOST:PORT'"),
    (re.compile(r"\((?:\w+Error)\(\d+, '[^']*'\)\)"), "(OS-ERROR)"),
    (re.compile(r"\(\[Errno \d+\] [^)]*\)"), "(OS-ERROR)"),
    (re.compile(r"system error: (?:Errno )?\d+: [^'\"]*?(?=['\"]?\)?$)"), "system error: OS-ERROR"),
    # how far two interleaved conversations had got, and the pool's configured size
    (re.compile(r"got \d+ expected \d+"), "got N expected M"),
    (re.compile(r"limit of size \d+ overflow -?\d+ reached, connection timed out, timeout [\d.]+"),
     "limit of size N overflow M reached, connection timed out, timeout T"),
)
# A cell that prints an exception's repr: InvalidRequestError('...') reads as InvalidRequestError: ...
REPR = re.compile(r"\b([A-Za-z_][\w.]*(?:Error|Exception))\('(.*)'\)$")


def header_lines(markdown: str) -> list[str]:
    """The error lines of a page's header block: the fenced block right under its title,
    without the annotations in parentheses that some lines carry."""
    match = FENCE.search(markdown[HEADER.match(markdown).end():])
    if not match:
        return []
    return [ANNOTATION.sub("", line).strip() for line in match.group(1).splitlines() if line.strip()]


def normalize(line: str) -> str:
    line = " ".join(line.split())
    for pattern, replacement in DETAILS:
        line = pattern.sub(replacement, line)
    return line


def pattern(typed: str) -> re.Pattern:
    """A typed line as a pattern: its `...` match anything; its class matches with or without
    its module (a notebook prints `OperationalError: ...`)."""
    typed = normalize(typed)
    match = LINE.match(typed)
    if not match:
        return re.compile(re.escape(typed).replace(re.escape("..."), ".*?"))
    qualified = re.escape(match["cls"])
    short = re.escape(match["cls"].rsplit(".", 1)[-1])
    message = re.escape(match["message"]).replace(re.escape("..."), ".*?")
    return re.compile(rf"(?:{qualified}|{short}): {message}")


def text_of(page_html: str) -> str:
    """A built page's text, as a reader sees it (tags removed, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", "", page_html))


def produced_lines(texts: Iterable[str]) -> list[str]:
    """Every line of the produced pages, normalized."""
    return [normalize(REPR.sub(r"\1: \2", line)) for text in texts for line in text.splitlines() if line.strip()]


def was_produced(typed: str, produced: list[str]) -> bool:
    wanted = pattern(typed)
    # A whole line, or a table cell's text: the line starts at the start or after a quote or a space.
    return any(wanted.fullmatch(line) or re.search(rf"(?:^|[\s']){wanted.pattern}(?:'|\s|$)", line)
               for line in produced)


def unproduced(source: Path, site: Path) -> list[tuple[str, str]]:
    """(page, line) for each typed header line of the sources under `source` that no
    notebook or driver-matrix output in the built `site` shows."""
    built = [*site.glob("notebooks/*.html"), site / "docs" / "drivers.html"]
    produced = produced_lines(text_of(page.read_text()) for page in built if page.exists())
    missing = []
    for page in sorted([*source.glob("docs/**/*.md"), *source.glob("notebooks/*.md")]):
        docname = page.relative_to(source).with_suffix("").as_posix()
        missing += [(docname, line) for line in header_lines(page.read_text()) if not was_produced(line, produced)]
    return missing
