"""Serve a built site on 127.0.0.1 and drive Debian's Chromium with Playwright
(never `playwright install`: the browser comes from apt, installed by `make test`)."""

from __future__ import annotations

import contextlib
import functools
import shutil
import threading

from dbconn.apps import SiteHandler, SiteServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"  # what dbconn/system.py checks for
# No background traffic: this machine has no network but loopback.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


class _QuietHandler(SiteHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(directory):
    """Serve `directory` on a free loopback port, as `make serve` does (gzip); yield its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = SiteServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def first_result(page, base_url: str, query: str, timeout_ms: int = 10_000) -> str:
    """Search the site as a reader does (the search page's ?q=) and return the first result's path."""
    from urllib.parse import quote

    page.goto(f"{base_url}search.html?q={quote(query)}")
    page.wait_for_selector(".pagefind-ui__result-link", timeout=timeout_ms)
    return page.eval_on_selector(".pagefind-ui__result-link", "link => link.getAttribute('href')")


SEARCH_BOX = "#site-search-input"
RESULT_LINK = ".search-result__link"


def search(page, base_url: str, text: str, timeout_ms: int = 10_000) -> list[str]:
    """Paste `text` into the search page's box, as a reader does, and return the result
    links in order (the recognised error's section first, when there is one)."""
    page.goto(f"{base_url}search.html")
    page.fill(SEARCH_BOX, text)
    page.wait_for_selector("#site-search[data-state=done]", timeout=timeout_ms)
    return page.eval_on_selector_all(RESULT_LINK, "links => links.map(a => a.href)")
