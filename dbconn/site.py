"""What the site build derives from the error catalogue and adds to every page: the
landing page's error tables and paste box, the ``errors/<key>/`` short URLs, the
recogniser's JSON, the sitemap, robots.txt and favicon, and the page fixes that make
help pages readable on a phone, with a keyboard and for search engines.

Functions of their inputs (images_as_files also writes the image files); conf.py calls them
from Sphinx's events.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import re
import struct
from pathlib import Path

from docutils.nodes import make_id

from . import errors

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE_BLOCK = "```{error-catalogue}\n```"
NOT_COVERED_BLOCK = "```{errors-not-covered}\n```"

# --- the landing page ----------------------------------------------------------------------


def headings(page: str) -> dict[str, str]:
    """Section id -> heading text of a help page's Markdown source (an explicit
    ``(label)=`` target names the heading below it)."""
    found, label = {}, None
    for line in (ROOT / f"{page}.md").read_text().splitlines():
        target = re.fullmatch(r"\(([\w-]+)\)=", line.strip())
        heading = re.match(r"#{1,6} (.+)", line)
        if target:
            label = target.group(1)
        elif heading:
            text = re.sub(r"[`*]", "", heading.group(1)).strip()
            found[make_id(text)] = text
            if label:
                found[label] = text
            label = None
        elif line.strip():
            label = None
    return found


REFERENCE_NAMES = (
    ("https://dev.mysql.com/doc/refman/", "MySQL manual"),
    ("https://dev.mysql.com/doc/connector-python/", "Connector/Python manual"),
    ("https://docs.sqlalchemy.org/", "SQLAlchemy: error"),
    ("https://peps.python.org/pep-0249/", "PEP 249: threads"),
    ("https://pymysql.readthedocs.io/", "PyMySQL: installation"),
)


def reference_name(url: str) -> str:
    name = next((name for prefix, name in REFERENCE_NAMES if url.startswith(prefix)), url.split("/")[2])
    return f"{name} {url.rsplit('#error-', 1)[1]}" if "#error-" in url else name


def _code(entry: errors.Entry) -> str:
    return "" if entry.code is None else f"<strong>{entry.code}</strong> "


def _covered_rows() -> list[tuple[errors.Entry, str, str, str]]:
    """(entry, what to add to its title, page, section) of every answer on this site."""
    rows = []
    for entry in errors.CATALOGUE:
        if entry.page:
            rows.append((entry, "", entry.page, entry.section))
        rows += [(entry, f" ({context.name})", context.page, context.section)
                 for context in entry.contexts if context.page and not entry.page]
    return rows


def landing_markdown() -> str:
    """The landing page's "find your error" block: a box to paste an error into, then the
    errors this site answers, most common first, each with the section that answers it."""
    lines = [PASTE_BOX, "", "| you see | the answer |", "|---|---|"]
    for entry, extra, page, section in _covered_rows():
        title = headings(page).get(section, section)
        lines.append(f"| {_code(entry)}`{entry.title}`{extra} | "
                     f'<a href="{page}.html#{section}">{html.escape(_page_title(page))} › {html.escape(title)}</a> |')
    return "\n".join(lines) + "\n"


def not_covered_markdown() -> str:
    """The errors recognised but not covered on this site yet, with the best reference."""
    lines = ["| you see | likely cause | read |", "|---|---|---|"]
    for entry in errors.CATALOGUE:
        if not entry.page:
            lines.append(f"| {_code(entry)}`{entry.title}` | {entry.cause} | "
                         f'<a href="{entry.reference}">{html.escape(reference_name(entry.reference))}</a> |')
    return "\n".join(lines) + "\n"


def _page_title(page: str) -> str:
    first = next(line for line in (ROOT / f"{page}.md").read_text().splitlines() if line.startswith("# "))
    return re.sub(r"[`*]", "", first[2:]).strip()


PASTE_BOX = """<form class="paste-error" action="search.html" method="get" role="search" aria-label="Find your error">
<label for="paste-error-text">Paste your error: a message, a log line or a whole traceback</label>
<textarea id="paste-error-text" name="q" rows="4" spellcheck="false" autocomplete="off" autocapitalize="off"></textarea>
<div class="paste-error__answer" aria-live="polite"></div>
<button type="submit">Search the site</button>
</form>"""


# --- short URLs and the recogniser's data -----------------------------------------------------


def short_url_page(entry: errors.Entry) -> str:
    """errors/<key>/index.html: a redirect to the section that answers the error, or, for
    an error not covered here yet, a page that says so and links the best reference."""
    name = f"{entry.code}" if entry.code is not None else entry.key
    head = ('<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            '<meta name="robots" content="noindex"><link rel="icon" href="../../_static/favicon.svg">')
    if entry.page:
        target = f"../../{entry.page}.html#{entry.section}"
        return (f'{head}<title>Error {html.escape(name)}</title><meta http-equiv="refresh" content="0; url={target}">'
                f'<link rel="canonical" href="{target}"></head><body data-pagefind-ignore="all">'
                f'<p><a href="{target}">{html.escape(name)}: {html.escape(entry.title)}</a></p></body></html>\n')
    return (f"{head}<title>Error {html.escape(name)}: not covered here yet</title></head>"
            f'<body data-pagefind-ignore="all"><main><h1>{html.escape(name)}: {html.escape(entry.title)}</h1>'
            f"<p>Likely cause: {html.escape(entry.cause)}.</p>"
            f'<p>This site does not cover this error yet. The best reference: <a href="{entry.reference}">'
            f"{html.escape(reference_name(entry.reference))}</a>.</p>"
            f'<p><a href="../../index.html">All the errors this site explains</a></p></main></body></html>\n')


def catalogue_script() -> str:
    """_static/error-catalogue.js: the catalogue as the browser's recogniser reads it (a
    script rather than a .json file, so that it also loads from file://), with the names
    the pages show for each place it points to."""
    names = {}
    for _, page, section, reference in errors.locations():
        if page:
            names[f"{page}#{section}"] = f"{_page_title(page)} › {headings(page).get(section, section)}"
        if reference:
            names[reference] = reference_name(reference)
    return f"window.ERROR_CATALOGUE = {json.dumps({**errors.export(), 'names': names}, separators=(',', ':'))};\n"


def missing_sections(outdir: Path) -> list[str]:
    """Every catalogue location whose page or section the built site does not have."""
    problems = []
    for what, page, section, _ in errors.locations():
        if page is None:
            continue
        built = outdir / f"{page}.html"
        if not built.exists():
            problems.append(f"{what}: {page} was not built")
        elif f'id="{section}"' not in built.read_text():
            problems.append(f"{what}: {page} has no section #{section}")
    return problems


# --- search engines -------------------------------------------------------------------------------


def sitemap(base_url: str, pages: list[str]) -> str:
    urls = "".join(f"<url><loc>{html.escape(base_url + page)}</loc></url>" for page in pages)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>\n')


def robots(base_url: str) -> str:
    return f"User-agent: *\nDisallow: /search.html\nSitemap: {base_url}sitemap.xml\n"


def favicon_ico() -> bytes:
    """A 32x32 icon (a database drum on a blue square), drawn here so that no binary
    file is kept in the repository; browsers and crawlers ask for /favicon.ico."""
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((0, 0, 31, 31), radius=6, fill="#0b5cad")
    draw.rectangle((8, 9, 23, 23), fill="white")
    draw.ellipse((8, 5, 23, 12), fill="white", outline="#0b5cad")
    draw.ellipse((8, 19, 23, 26), fill="white")
    draw.arc((8, 12, 23, 19), 0, 180, fill="#0b5cad")
    out = io.BytesIO()
    image.save(out, format="ICO", sizes=[(16, 16), (32, 32)])
    return out.getvalue()


def first_paragraph(body: str, limit: int = 155) -> str:
    """A page's first sentence or two, for its meta description when it has none."""
    for paragraph in re.findall(r"<p>(.*?)</p>", body, re.S):
        text = html.unescape(re.sub(r"<[^>]+>", "", paragraph)).strip()
        text = re.sub(r"\s+", " ", text)
        if len(text) > 40:
            if len(text) <= limit:
                return text
            cut = text[:limit].rsplit(" ", 1)[0]
            return cut.rstrip(",;:") + "…"
    return ""


# --- page fixes ---------------------------------------------------------------------------------------

_DATA_IMAGE = re.compile(r'<img class="timeline" src="data:image/png;base64,([A-Za-z0-9+/=]+)"')
_FIGURE = re.compile(r'(<img [^>]*class="(?:timeline|graphviz)"[^>]*>)')


def png_size(data: bytes) -> tuple[int, int]:
    return struct.unpack(">II", data[16:24])


def images_as_files(body: str, images_dir: Path, url_of) -> str:
    """Charts drawn into the page as data: URIs become files: Pagefind otherwise stores
    each as the page's image metadata (and absent words then "match" the page), pages
    get lighter, and a file can be opened full size. `url_of(name)` is the file's URL
    from the page."""
    def to_file(match: re.Match) -> str:
        data = base64.b64decode(match.group(1))
        name = f"timeline-{hashlib.sha1(data).hexdigest()[:16]}.png"
        images_dir.mkdir(parents=True, exist_ok=True)
        (images_dir / name).write_bytes(data)
        width, height = png_size(data)
        return f'<img class="timeline" src="{url_of(name)}" width="{width}" height="{height}" loading="lazy"'

    return _DATA_IMAGE.sub(to_file, body)


def size_diagrams(body: str, page_dir: Path) -> str:
    """Diagrams get their width and height, so the page does not jump as they load."""
    def sized(match: re.Match) -> str:
        image = page_dir / match.group(2)
        if not image.exists():
            return match.group(0)
        width, height = png_size(image.read_bytes()[:24])
        return f'{match.group(1)} width="{width}" height="{height}"'

    return re.sub(r'(<img src="([^"]+\.png)" alt="[^"]*" class="graphviz")', sized, body)


def link_figures(body: str) -> str:
    """Diagrams and charts open full size on tap: each becomes a link to its own file."""
    def link(match: re.Match) -> str:
        image = match.group(1)
        src = re.search(r'src="([^"]+)"', image).group(1)
        return f'<a class="image-full" href="{src}">{image}</a>'

    return _FIGURE.sub(link, body)


def fix_html(body: str) -> str:
    """An empty table header cell is no header (axe: empty-table-header)."""
    return re.sub(r'<th class="head">(?:<p></p>)?</th>', '<td class="head"></td>', body)


def caption_level(navigation: str) -> str:
    """The sidebar's captions are headings: give them the level axe requires."""
    return navigation.replace('<p class="caption" role="heading">', '<p class="caption" role="heading" aria-level="2">')
