"""The error catalogue: every error the site knows, the spellings drivers and wrappers
print for it, the text that changes the answer, and the page section that answers it.

Everything that names an error is derived from this one registry: the landing page's
table, the ``errors/<key>/`` short URLs, ``python -m dbconn explain`` and the search
page's recogniser (the build exports :func:`export` as JSON, and
``_static/recognise.js`` runs the same algorithm on it in the browser).

An entry whose ``page`` is None is not covered on this site yet: it names the best
external reference instead. Covering it is a change of ``page`` and ``section``.

Patterns are regular expressions in the subset that Python and JavaScript read alike
(no named groups, no inline flags, no look-behind), matched case-insensitively, ASCII.
Sources of the messages, in the pinned libraries: PyMySQL ``connections.py`` (2003 at
line 747, 2013 at 800/836/845, "Packet sequence number wrong" at 803, 2006 at 858,
``InterfaceError(0, "")`` at 885) and ``_auth.py:143`` (cryptography);
mysql-connector-python ``connection.py:519`` ("MySQL Connection not available"),
``connection.py:1784`` ("Unread result found"), ``pooling.py:656`` (pool exhausted);
SQLAlchemy ``pool/impl.py:165`` (3o7r), ``engine/base.py:710`` (8s2b),
``orm/session.py:985`` (7s2a).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import settings

# How strongly a recognised error claims the answer when a text holds several.
GENERIC = 0      # an operating-system error that many causes share (reset, timed out)
CONSEQUENCE = 1  # what the next use of an already broken connection raises
ERROR = 2        # a MySQL or driver error with its own cause
SITUATION = 3    # names the situation itself, whatever else the text holds

MYSQL_MANUAL = "https://dev.mysql.com/doc/refman/8.4/en/"
SQLALCHEMY_ERRORS = "https://docs.sqlalchemy.org/en/20/errors.html"
THREADSAFETY = "https://peps.python.org/pep-0249/#threadsafety"


@dataclass(frozen=True)
class Context:
    """Text anywhere in the paste that changes the answer for its entry."""

    name: str
    pattern: str
    cause: str
    page: str | None = None      # docname of the page that answers; None: not covered here yet
    section: str | None = None   # id of the section on that page
    reference: str | None = None  # the best external reference (required when page is None)


@dataclass(frozen=True)
class Entry:
    key: str                    # a code as text, or a short name; also the short URL: errors/<key>/
    code: int | None            # the MySQL or driver error number
    title: str                  # the literal message readers see
    patterns: tuple[str, ...]   # every spelling (the code's own spellings are added: see CODE_FORMS)
    page: str | None            # docname of the help page; None: not covered here yet
    section: str | None         # id of the section that answers it
    cause: str                  # the likely cause, in one line
    contexts: tuple[Context, ...] = ()
    reference: str | None = None  # the best external reference (required when page is None)
    tier: int = ERROR
    requires: str | None = None  # for generic wordings: text the paste must also hold somewhere

    @property
    def all_patterns(self) -> tuple[str, ...]:
        codes = tuple(form.format(code=self.code) for form in CODE_FORMS) if self.code and self.code > 0 else ()
        return codes + self.patterns


# How each driver, wrapper and log prints an error number: "(2006, ...", "[2003, ...",
# "2013 (HY000):", "ERROR 2006", "Error 1317", "2055: Lost ...", "[1969]", "(HY000/1226)",
# and a code typed alone.
CODE_FORMS = (
    r"[(\[]\s*{code}\s*[,)\]]",
    r"\b{code}\s*\([0-9A-Z]{{5}}\)",
    r"\berr(?:or|no)\b[\s:#]*(?:code|no\.?|number)?[\s:#]*{code}\b",
    r"\b{code}:\s",
    r"/{code}\)",
    r"\bER_\w+\s*\(?{code}\b",
    r"^{code}$",
)

MYSQL_TEXT = r"mysql|maria|pymysql|mysqldb|sqlalchemy|django\.db|aiomysql|asyncmy"
# The operating system gave up on an established connection: nothing came back for
# minutes (ETIMEDOUT: 110 on Linux, 60 on macOS, 10060 on Windows).
NETWORK_TIMEOUT = r"errno (?:110|60)\b|system error: (?:110|60)\b|\b10060\b|connection timed out|operation timed out"

GONE_AWAY = ("docs/errors/2006", "find-the-cause")
WHO_SAYS_WHAT = ("docs/errors/2006", "which-server-says-what")
LOST = ("docs/errors/2013", "find-the-cause")
STREAMING = ("docs/errors/2013", "streaming-done-right-sscursor-stream-results-and-net-write-timeout")
READ_TIMEOUTS = ("docs/errors/2013", "read-timeouts-on-purpose")
LIMIT_1226 = ("docs/errors/1226", "find-the-cause")
NOT_1226 = ("docs/errors/1226", "not-the-same-error-1203-and-1040-too-many-connections")
NOT_HERE = (None, None)
CANT_CONNECT = ("docs/errors/2003", "find-the-cause")
REFUSED = ("docs/errors/2003", "refused-or-timed-out")
HANDSHAKE = ("docs/errors/2003", "2013-during-the-handshake")
CACHING_SHA2 = ("docs/errors/2003", "mysql-8-s-caching-sha2-password")
NETWORK = ("docs/errors/network", "find-the-cause")
MYSQL8_IDLE = ("docs/errors/4031", "what-each-driver-raises-on-mysql-8")
SHARED = ("docs/errors/2014", "find-the-cause")
PENDING = ("docs/errors/pending-rollback", "find-the-cause")
POOL_DRY = ("docs/errors/pool-timeout", "find-the-cause")
ONE_SESSION_PER_TASK = ("docs/frameworks/asyncio", "one-session-per-task")


def _network(cause: str) -> Context:
    return Context("network", NETWORK_TIMEOUT, cause, *NETWORK)


def _handshake(pattern: str, cause: str) -> Context:
    return Context("handshake", pattern, cause, *HANDSHAKE)


CATALOGUE: tuple[Entry, ...] = (
    # --- covered here, most common first (the landing table keeps this order) ---------
    Entry(
        "2006", 2006, "MySQL server has gone away",
        (r"(?:mysql )?server has gone away", r"\bCR_SERVER_GONE_ERROR\b"),
        *GONE_AWAY,
        "the server closed the connection while the client was not using it: idle past wait_timeout, "
        "killed, a server restart, or a statement over max_allowed_packet",
        contexts=(_network("the connection went quiet and the network between client and server dropped it "
                           "(a NAT gateway, firewall or load balancer idle timeout)"),
                  Context("celery", r"celery|ForkPoolWorker|: \w+/MainProcess\]",
                          "a Celery worker kept a connection between tasks, or inherited it across the prefork fork",
                          "docs/frameworks/celery", "find-the-cause")),
    ),
    Entry(
        "2013", 2013, "Lost connection to MySQL server during query",
        (r"\blost\b.{0,40}\bduring query", r"lost connection to (?:mysql )?server at '[^']*packet'",
         r"\bCR_SERVER_LOST\b"),
        *LOST,
        "the connection died while the client waited for an answer: the query was killed, a read timeout "
        "expired, or a slow reader tripped net_write_timeout",
        contexts=(
            _handshake(r"at '(?:handshake: )?(?:reading|waiting for) (?:initial communication|authorization) packet'",
                       "the connection was cut during the handshake, before any query: something between "
                       "client and server (a firewall, proxy or wrong port) or the server refused it"),
            _network("nothing came back for minutes and the operating system gave up: the network dropped "
                     "the connection (NAT, firewall or load balancer)"),
            Context("streaming", r"sscursor|unbuffered|stream_results",
                    "a streamed (unbuffered) result was read more slowly than net_write_timeout allows",
                    *STREAMING),
            Context("read-timeout", r"during query \(timed out\)",
                    "the client's own read_timeout expired while the query was still running", *READ_TIMEOUTS),
        ),
    ),
    Entry(
        "2003", 2003, "Can't connect to MySQL server on 'host'",
        (r"can't connect to (?:mysql )?server\b", r"\bCR_CONN_HOST_ERROR\b"),
        *CANT_CONNECT,
        "nothing accepts connections at that host and port: the server is down, a firewall drops the "
        "connection, or the host or port is wrong",
        contexts=(Context("refused", r"connection refused|errno 111\b|\(111\)|\(10061\)",
                          "nothing listens there: the server is down, not up yet, or on another port", *REFUSED),
                  Context("unanswered", r"timed out|errno 110\b|\(110\)|\(10060\)|no route to host|\(113\)",
                          "nothing answers: a firewall or security group drops the connection, or the address "
                          "is wrong", *REFUSED)),
    ),
    Entry(
        "1226", 1226, "User has exceeded the 'max_user_connections' resource",
        (r"has exceeded the '?\w+'? resource", r"\bER_USER_LIMIT_REACHED\b"),
        *LIMIT_1226,
        "the account already holds as many connections as its limit allows: a leak, or pools larger than "
        "the limit",
        contexts=(Context("hourly", r"max_connections_per_hour|max_questions|max_updates",
                          "the account's hourly limit on connections or statements: open fewer connections "
                          "(keep them in a pool) or ask for a higher limit",
                          "docs/errors/1226", "hourly-quotas-max-questions-max-updates-max-connections-per-hour"),),
    ),
    Entry(
        "1045", 1045, "Access denied for user 'user'@'host' (using password: YES)",
        (r"access denied for user\b(?!.*\bto database\b)", r"\bER_ACCESS_DENIED_ERROR\b"),
        "docs/errors/2003", "1045-the-server-answered",
        "wrong user name or password, or the account does not exist for the host you connect from",
        contexts=(Context("caching-sha2", r"plugin caching_sha2_password could not be loaded",
                          "the C client library lacks MySQL 8's caching_sha2_password plugin", *CACHING_SHA2),),
    ),
    Entry(
        "2014", 2014, "Commands out of sync; you can't run this command now",
        (r"commands? out of sync", r"\bCR_COMMANDS_OUT_OF_SYNC\b", r"already in use from another thread"),
        *SHARED,
        "one connection used by two threads or tasks at once, or a new query before the last result was read",
        tier=SITUATION,
    ),
    Entry(
        "packet-sequence", None, "Packet sequence number wrong - got N expected M",
        (r"packet sequence number wrong",),
        *SHARED,
        "one connection used by two threads, tasks or processes at once: their packets interleave",
        contexts=(
            _handshake(r"got \d+ expected 0\b",
                       "the first packet of the connection was not a MySQL greeting: something else answers "
                       "on that port, or the server refused the client before the handshake"),
            Context("idle", r"got 0 expected 1\b",
                    "MySQL 8.0.24+ closed the idle connection (wait_timeout) and this driver misread its "
                    "4031 notice", *MYSQL8_IDLE),
        ),
        tier=SITUATION,
    ),
    Entry(
        "PendingRollbackError", None, "Can't reconnect until invalid transaction is rolled back",
        (r"PendingRollbackError", r"can't reconnect until invalid\b", r"sqlalche\.me/e/(?:\d+/)?8s2b",
         r"this session's transaction has been rolled back", r"sqlalche\.me/e/(?:\d+/)?7s2a"),
        *PENDING,
        "the connection failed inside a transaction and the Session was never rolled back, so it refuses "
        "every statement",
        contexts=(Context("flush", r"during flush|7s2a",
                          "an error during flush() (often a lost connection) and no Session.rollback() after it",
                          *PENDING),),
        tier=SITUATION,
    ),
    Entry(
        "InterfaceError-0", None, "InterfaceError: (0, '')",
        (r"InterfaceError\W{0,4}\(\s*0\s*,\s*(?:''|\"\"|'|\")?\s*\)",),
        "docs/errors/pending-rollback", "pymysql-a-dead-connection-in-a-global",
        "PyMySQL closed this connection after an earlier error (often 2006 or 2013), and it was used again",
        tier=CONSEQUENCE,
    ),
    Entry(
        "QueuePool", None, "QueuePool limit of size N overflow M reached, connection timed out",
        (r"QueuePool limit", r"sqlalche\.me/e/(?:\d+/)?3o7r"),
        *POOL_DRY,
        "every connection of SQLAlchemy's pool is checked out and none came back within pool_timeout: "
        "a leak, or more concurrent work than the pool",
        tier=SITUATION,
    ),
    Entry(
        "4031", 4031, "The client was disconnected by the server because of inactivity",
        (r"disconnected by the server because of inactivity", r"\bER_CLIENT_INTERACTION_TIMEOUT\b"),
        *MYSQL8_IDLE,
        "MySQL 8.0.24+ closed a connection that sat idle longer than wait_timeout, and said so",
    ),
    Entry(
        "network", None, "Connection reset by peer / Connection timed out",
        (r"connection reset by peer", r"ConnectionResetError", r"\bECONNRESET\b", r"\bETIMEDOUT\b",
         r"TimeoutError\W+\[?errno (?:110|60)\b", NETWORK_TIMEOUT, r"BrokenPipeError"),
        *NETWORK,
        "the network between client and server cut the connection: a NAT gateway, firewall or load balancer "
        "dropped it, or the server went away",
        tier=GENERIC, requires=MYSQL_TEXT,
    ),
    Entry(
        "2002", 2002, "Can't connect to local MySQL server through socket",
        (r"can't connect to local (?:mysql )?server", r"\bCR_CONNECTION_ERROR\b"),
        "docs/errors/2003", "2002-localhost-means-the-unix-socket",
        "the server is not running, or listens on another socket or port than the client uses",
        contexts=(Context("tcp", r"can't connect to (?:mysql )?server on '",
                          "libmariadb's 2002 for a TCP connection refused (115) or unanswered (110)", *REFUSED),),
    ),
    Entry(
        "2005", 2005, "Unknown MySQL server host",
        (r"unknown (?:mysql )?server host", r"\bCR_UNKNOWN_HOST\b"),
        *CANT_CONNECT,
        "the host name does not resolve (DNS, or a service name outside its container network)",
    ),
    Entry(
        "2059", 2059, "Authentication plugin 'caching_sha2_password' cannot be loaded",
        (r"authentication plugin '[^']*' cannot be loaded", r"plugin \w+ could not be loaded",
         r"\bCR_AUTH_PLUGIN_CANNOT_LOAD\b"),
        *CACHING_SHA2,
        "the client library does not know the account's authentication plugin (MySQL 8's caching_sha2_password)",
    ),
    Entry(
        "cryptography", None, "'cryptography' package is required for sha256_password or caching_sha2_password",
        (r"cryptography'? (?:package )?is required for sha",),
        *CACHING_SHA2,
        "PyMySQL needs the cryptography package for MySQL 8's default authentication: pip install cryptography",
    ),
    Entry(
        "2055", 2055, "Lost connection to MySQL server at 'host:port', system error",
        (r"lost connection to mysql server at '[^']*', system error", r"\bCR_SERVER_LOST_EXTENDED\b"),
        *WHO_SAYS_WHAT,
        "mysql-connector-python's report of a connection the server or the network had already closed",
        contexts=(_network("nothing came back for minutes and the operating system gave up: the network dropped "
                           "the connection (NAT, firewall or load balancer)"),),
    ),
    Entry(
        "connector-unavailable", -1, "MySQL Connection not available",
        (r"mysql connection not available",),
        *WHO_SAYS_WHAT,
        "mysql-connector-python's connection was already closed (idle past wait_timeout, or an earlier error)",
        tier=CONSEQUENCE,
    ),
    Entry(
        "1153", 1153, "Got a packet bigger than 'max_allowed_packet' bytes",
        (r"got a packet bigger than '?max_allowed_packet'?", r"\bER_NET_PACKET_TOO_LARGE\b"),
        *GONE_AWAY,
        "one statement (a large INSERT or a blob) is larger than the server's max_allowed_packet",
    ),
    Entry(
        "1317", 1317, "Query execution was interrupted",
        (r"query execution was interrupted(?!\s*[,(]\s*max)", r"\bER_QUERY_INTERRUPTED\b"),
        *LOST,
        "KILL QUERY (an administrator, a watchdog) stopped the statement; the connection itself survives",
    ),
    Entry(
        "1969", 1969, "Query execution was interrupted (max_statement_time exceeded)",
        (r"max_statement_time exceeded", r"\bER_STATEMENT_TIMEOUT\b"),
        *READ_TIMEOUTS,
        "MariaDB's max_statement_time stopped a statement that ran too long",
    ),
    Entry(
        "3024", 3024, "Query execution was interrupted, maximum statement execution time exceeded",
        (r"maximum statement execution time exceeded", r"\bReadTimeoutError\b", r"\bER_QUERY_TIMEOUT\b"),
        *READ_TIMEOUTS,
        "MySQL's max_execution_time stopped a SELECT that ran too long; the connection survives",
        contexts=(Context("client", r"ReadTimeoutError|read operation timed out",
                          "mysql-connector-python's own read_timeout expired: the client gave up and closed the "
                          "connection, while the statement may still run on the server", *READ_TIMEOUTS),),
    ),
    Entry(
        "1927", 1927, "Connection was killed",
        (r"\bconnection was killed\b", r"\bER_CONNECTION_KILLED\b"),
        *LOST,
        "MariaDB: KILL CONNECTION (an administrator, a watchdog, a failover) ended the session mid-query",
    ),
    Entry(
        "TransactionManagementError", None,
        "TransactionManagementError: An error occurred in the current transaction. You can't execute queries "
        "until the end of the 'atomic' block.",
        (r"TransactionManagementError", r"can.t execute queries until the end of the\W+atomic\W+block"),
        "docs/errors/2006", "django-outside-requests-conn-max-age-and-conn-health-checks",
        "Django: an earlier error (often a lost connection, or close_old_connections() inside atomic()) broke "
        "the transaction; end the atomic block, then retry the whole unit of work",
        tier=CONSEQUENCE,
    ),
    Entry(
        "1203", 1203, "User already has more than 'max_user_connections' active connections",
        (r"already has more than '?max_user_connections'? active connections", r"\bER_TOO_MANY_USER_CONNECTIONS\b"),
        *NOT_1226,
        "the server-wide max_user_connections is reached for an account without a limit of its own",
    ),
    Entry(
        "1040", 1040, "Too many connections",
        (r"too many connections(?!\s+(?:for|to)\b)", r"\bER_CON_COUNT_ERROR\b"),
        *NOT_1226,
        "all accounts together hold the server's max_connections: find which one holds them",
    ),
    Entry(
        "2027", 2027, "Malformed packet",
        (r"malformed packet", r"\bCR_MALFORMED_PACKET\b"),
        *SHARED,
        "usually one connection used by two threads at once, so their packets interleave",
        tier=SITUATION,
    ),
    Entry(
        "closed-connection", None, "AttributeError: 'NoneType' object has no attribute 'read'",
        (r"none ?type'? object has no attribute '?(?:read|write|settimeout|sendall|recv_into)\b",),
        *SHARED,
        "PyMySQL used a connection that was already closed, often by another thread or after a lost connection",
        contexts=(Context("streaming", r"sscursor|unbuffered",
                          "a PyMySQL SSCursor closed after a lost connection (2013): the AttributeError hides it",
                          *STREAMING),),
        tier=CONSEQUENCE,
    ),
    Entry(
        "unread-result", None, "Unread result found",
        (r"unread result found",),
        "docs/errors/2014", "what-each-driver-does",
        "mysql-connector-python: a new query on a connection whose last result was not read to the end",
        tier=SITUATION,
    ),
    Entry(
        "PoolError", None, "PoolError: Failed getting connection; pool exhausted",
        (r"failed getting connection;? pool exhausted", r"mysql\.connector\.errors\.PoolError"),
        "docs/errors/pool-timeout", "mysql-connector-python-s-pool",
        "every connection of mysql-connector-python's pool is in use: a leak, or a pool smaller than the work",
        tier=SITUATION,
    ),
    Entry(
        "readexactly", None, "readexactly() called while another coroutine is already waiting for incoming data",
        (r"readexactly\(\) called while another coroutine",),
        *ONE_SESSION_PER_TASK,
        "two asyncio tasks used one aiomysql connection at once",
        tier=SITUATION,
    ),
    Entry(
        "isce", None, "This session is provisioning a new connection; concurrent operations are not permitted",
        (r"provisioning a new connection;? concurrent operations are not permitted", r"sqlalche\.me/e/(?:\d+/)?isce"),
        *ONE_SESSION_PER_TASK,
        "one SQLAlchemy AsyncSession (or Session) used by concurrent tasks or threads",
        tier=SITUATION,
    ),
    # --- neighbours: not covered on this site yet; the best reference instead ----------
    Entry(
        "1130", 1130, "Host is not allowed to connect to this MySQL server",
        (r"is not allowed to connect to this (?:mysql|mariadb) server", r"\bER_HOST_NOT_PRIVILEGED\b"),
        *NOT_HERE,
        "no account matches the host the client connects from",
        reference=MYSQL_MANUAL + "problems-connecting.html",
    ),
    Entry(
        "1129", 1129, "Host is blocked because of many connection errors",
        (r"blocked because of many connection errors", r"\bER_HOST_IS_BLOCKED\b"),
        *NOT_HERE,
        "more than max_connect_errors interrupted connection attempts came from that host; FLUSH HOSTS unblocks it",
        reference=MYSQL_MANUAL + "blocked-host.html",
    ),
    Entry(
        "2061", 2061, "Authentication plugin 'caching_sha2_password' reported error: "
                      "Authentication requires secure connection",
        (r"authentication requires secure connection", r"\bCR_AUTH_PLUGIN_ERR\b"),
        *NOT_HERE,
        "caching_sha2_password needs TLS or the server's RSA key for a first login over plain TCP",
        reference=MYSQL_MANUAL + "caching-sha2-pluggable-authentication.html",
    ),
    Entry(
        "2026", 2026, "SSL connection error",
        (r"ssl connection error", r"\bCR_SSL_CONNECTION_ERROR\b"),
        *NOT_HERE,
        "the TLS handshake failed: client and server disagree on TLS versions, certificates or ciphers",
        reference=MYSQL_MANUAL + "using-encrypted-connections.html",
        # A TLS failure whatever code carries it: mysqlclient has raised (2006, 'SSL connection error: ...').
        tier=SITUATION,
    ),
)

BY_KEY = {entry.key: entry for entry in CATALOGUE}

# --- reading real pastes: the same steps run in the browser (_static/recognise.js) ---------

# Log prefixes, stripped from the start of each line (repeatedly, in any order): docker
# compose, Celery and Airflow brackets, ISO timestamps, syslog, levels, oslo's pid and
# logger, Markdown quotes.
LOG_PREFIXES = (
    r"^[\w.-]+\s+\|\s?",
    r"^\[\d{4}-\d\d-\d\d[ T][\d:.,]+[^\]]*\]:?\s*",
    r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?\s*(?:-\s+)?",
    r"^[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d(?: [AP]M)?\s+(?:\S+ [\w.-]+(?:\[\d+\])?:\s+)?",
    r"^\[\d{1,2}/\w{3}/\d{4}[^\]]*\]\s*",
    r"^\w+\[[\w.-]+\]:\s?",
    r"^\{[\w.]+:\d+\}\s*",
    r"^\d{2,7} (?=(?:ERROR|WARNING|CRITICAL|INFO|DEBUG)\b)",
    r"^\[?(?:ERROR|WARNING|WARN|CRITICAL|INFO|DEBUG|FATAL)\]?(?:/[\w-]+\])?"
    r"(?::[\w.]*:|\s+-\s|\s+(?:[a-z_]\w*(?:\.\w+)+\s+(?=\S))?|$)",
    r"^\[(?!\d+\])[\w .:/()-]+\]\s+",
    r"^>+ ?",
)
PYTEST_ERROR = r"^E {2,}"
FRAME = r"^\s*File \"[^\"]*\", line \d+"
EXCEPTION_LINE = r"^\s*(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?:Error|Exception|Warning)\b"

# Entry and context patterns ignore case; the reading rules (prefixes, frames) do not.
IGNORE_CASE = re.IGNORECASE | re.ASCII
EXACT_CASE = re.ASCII
_COMPILED: dict[tuple[str, int], re.Pattern] = {}


def _re(pattern: str, flags: int = IGNORE_CASE) -> re.Pattern:
    compiled = _COMPILED.get((pattern, flags))
    if compiled is None:
        compiled = _COMPILED[(pattern, flags)] = re.compile(pattern, flags)
    return compiled


_FULLWIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_QUOTES = {0x2018: "'", 0x2019: "'", 0x201A: "'", 0x201B: "'", 0x2032: "'",
           0x201C: '"', 0x201D: '"', 0x201E: '"', 0x201F: '"', 0x2033: '"'}
_SPACES = "\t\f\v\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\ufeff"


def normalise(text: str) -> list[str]:
    """The paste as lines: line breaks, full-width and curly punctuation, odd spaces and
    JSON-style escapes made plain."""
    text = re.sub(r"\r\n?|\u2028|\u2029", "\n", text)
    text = text.translate(_FULLWIDTH).translate(_QUOTES)
    text = text.translate({ord(c): " " for c in _SPACES})
    text = re.sub(r"\\r\\n|\\n", "\n", text)
    text = text.replace('\\"', '"').replace("\\'", "'")
    return text.split("\n")


def _strip(line: str) -> str:
    return line.strip(" \t\n\r\f\v")  # ASCII spaces only, as JavaScript's replace() in recognise.js


def _strip_prefixes(line: str) -> str:
    for _ in range(12):
        for prefix in LOG_PREFIXES:
            match = _re(prefix, EXACT_CASE).match(line)
            if match and match.end():
                line = line[match.end():]
                break
        else:
            return line
    return line


@dataclass(frozen=True)
class Recognised:
    key: str
    code: int | None
    title: str
    cause: str
    context: str | None
    page: str | None
    section: str | None
    reference: str | None
    line: str  # the line of the paste that names it, without its log prefix

    @property
    def covered(self) -> bool:
        return self.page is not None

    def url(self, site: str | None = None) -> str:
        """The exact section on this site, or the external reference when not covered here."""
        if not self.covered:
            return self.reference
        return f"{site or settings.SITE_URL}{self.page}.html#{self.section}"

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in
                ("key", "code", "title", "cause", "context", "page", "section", "reference", "line")}


def recognise(text: str) -> Recognised | None:
    """The error a paste is about: an issue title, one line, or whole tracebacks with log
    prefixes. Frames' source lines are skipped; of several errors, the strongest tier wins
    (a situation over an error, an error over the consequences that follow it, anything
    over a bare network error), then the earliest (Python prints the root cause first)."""
    raw = normalise(text)
    lines, pytest_lines = [], []
    for line in raw:
        pytest = _re(PYTEST_ERROR, EXACT_CASE).match(line)  # pytest marks the error's lines "E   "
        lines.append(_strip_prefixes(line[pytest.end():] if pytest else line))
        pytest_lines.append(bool(pytest))
    considered, source_lines = [], []
    after_frame = False
    for index, line in enumerate(lines):
        if not _strip(line):
            continue
        is_frame = bool(_re(FRAME, EXACT_CASE).match(line))
        if after_frame and not is_frame and not _re(EXCEPTION_LINE, EXACT_CASE).match(line):
            after_frame = False
            source_lines.append(index)  # a frame's source line: code, not an error
            continue
        after_frame = is_frame
        considered.append(index)
    if any(pytest_lines):
        considered = [i for i in considered if pytest_lines[i]]
    whole = "\n".join(lines)
    # A paste cut short loses its last line; the code that raised it may still name it.
    best = _best(lines, considered, whole) or _best(lines, source_lines, whole)
    if best is None:
        return None
    entry, line = best
    context = next((c for c in entry.contexts if any(_re(c.pattern).search(lines[i]) for i in considered)), None)
    where = context or entry
    return Recognised(
        key=entry.key, code=entry.code, title=entry.title, cause=where.cause,
        context=context.name if context else None, page=where.page, section=where.section,
        reference=where.reference, line=line[:300],
    )


def _best(lines: list[str], indexes: list[int], whole: str) -> tuple[Entry, str] | None:
    best = None
    for index in indexes:
        line = _strip(lines[index])
        for order, entry in enumerate(CATALOGUE):
            if entry.requires and not _re(entry.requires).search(whole):
                continue
            columns = [m.start() for p in entry.all_patterns if (m := _re(p).search(line))]
            if columns:
                rank = (-entry.tier, index, min(columns), order)
                if best is None or rank < best[0]:
                    best = (rank, entry, line)
    return best and best[1:]


# --- exported for the browser, and checked against the pages ------------------------------


def locations() -> list[tuple[str, str | None, str | None, str | None]]:
    """(what, page, section, reference) of every entry and context: what the site promises."""
    found = []
    for entry in CATALOGUE:
        found.append((entry.key, entry.page, entry.section, entry.reference))
        found += [(f"{entry.key}/{c.name}", c.page, c.section, c.reference) for c in entry.contexts]
    return found


def answer_for(key: str, context: str | None = None) -> tuple[str | None, str | None, str | None]:
    """(page, section, reference) that an entry, or one of its contexts, sends readers to."""
    entry = BY_KEY[key]
    where = next(c for c in entry.contexts if c.name == context) if context else entry
    return where.page, where.section, where.reference


def export() -> dict:
    """The catalogue and the reading rules, as the browser's recogniser reads them (it
    adds the code's own spellings, `codeForms`, to each entry's patterns, as all_patterns does)."""
    def place(item) -> dict:
        return {"page": item.page, "section": item.section, "reference": item.reference}

    return {
        "prefixes": list(LOG_PREFIXES), "pytest": PYTEST_ERROR, "frame": FRAME, "exception": EXCEPTION_LINE,
        "spaces": _SPACES, "codeForms": [form.format(code="{code}") for form in CODE_FORMS],
        "entries": [
            {"key": e.key, "code": e.code, "title": e.title, "cause": e.cause, "tier": e.tier,
             "requires": e.requires, "patterns": list(e.patterns), **place(e),
             "contexts": [{"name": c.name, "pattern": c.pattern, "cause": c.cause, **place(c)} for c in e.contexts]}
            for e in CATALOGUE
        ],
    }

