"""The catalogue of connection errors the site covers: name, message, likely causes,
and the page that explains each. `python -m dbconn explain` reads it."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Where the site is served; `make serve` serves it here.
SITE_URL = os.environ.get("DBCONN_SITE_URL", "http://127.0.0.1:8000/")


@dataclass(frozen=True)
class KnownError:
    code: int
    name: str
    message: str  # a fragment of the server's or the driver's text, as readers search for it
    causes: tuple[str, ...]
    page_code: int | None = None  # the error page that covers it, when not its own

    @property
    def url(self) -> str:
        code = self.page_code or self.code
        if (ROOT / "docs" / "errors" / f"{code}.md").exists():
            return f"{SITE_URL}docs/errors/{code}.html"
        return f"{SITE_URL}index.html"


CATALOGUE = {e.code: e for e in [
    KnownError(1226, "ER_USER_LIMIT_REACHED", "has exceeded the 'max_user_connections' resource", (
        "connections opened and never closed (a leak, often on an error path)",
        "pools larger than the account's limit: processes x (pool_size + max_overflow)",
        "another program sharing the account",
    )),
    KnownError(1203, "ER_TOO_MANY_USER_CONNECTIONS", "already has more than 'max_user_connections' active connections", (
        "the server-wide max_user_connections, for accounts without a limit of their own",
        "connections leaked or pools too large, as for 1226",
    ), page_code=1226),
    KnownError(1040, "ER_CON_COUNT_ERROR", "Too many connections", (
        "all accounts together reached the server's max_connections",
        "a leak or oversized pools in one of the applications (group the processlist by user)",
    ), page_code=1226),
    KnownError(2006, "CR_SERVER_GONE_ERROR", "MySQL server has gone away", (
        "the connection sat idle longer than the server's wait_timeout and was closed",
        "a query larger than max_allowed_packet",
        "the connection was killed, or the server restarted, while the client was idle",
    )),
    KnownError(4031, "ER_CLIENT_INTERACTION_TIMEOUT", "disconnected by the server because of inactivity", (
        "MySQL 8.0.24+ reporting that wait_timeout closed an idle connection (MariaDB says 2006)",
    ), page_code=2006),
    KnownError(2013, "CR_SERVER_LOST", "Lost connection to MySQL server during query", (
        "the connection was killed while a query ran",
        "a client read timeout shorter than the query",
        "a slow reader of a streamed result tripped the server's net_write_timeout",
        "a result too large to deliver",
    )),
    KnownError(2055, "CR_SERVER_LOST_EXTENDED", "Lost connection to MySQL server at", (
        "mysql-connector-python's report of a lost connection: the causes of 2006 and 2013",
    ), page_code=2006),
    KnownError(1317, "ER_QUERY_INTERRUPTED", "Query execution was interrupted", (
        "KILL QUERY, or a server-side statement timeout; the connection itself survives",
    ), page_code=2013),
    KnownError(3024, "ER_QUERY_TIMEOUT", "maximum statement execution time exceeded", (
        "MySQL's max_execution_time, or mysql-connector-python's read timeout",
    ), page_code=2013),
]}

_CODE = re.compile(r"(?:\(|ERROR |error |errno )(\d{4})\b")


def identify(text: str) -> KnownError | None:
    """The first known error in a message or a whole traceback: by code, else by message."""
    for match in _CODE.finditer(text):
        known = CATALOGUE.get(int(match.group(1)))
        if known:
            return known
    lowered = text.lower()
    for known in CATALOGUE.values():
        if known.message.lower() in lowered:
            return known
    return None
