"""Connect as one of the lab's accounts: the one place the package opens connections."""

from __future__ import annotations

import pymysql

from . import settings


def connect(role: str | settings.Account = "app", **overrides) -> pymysql.connections.Connection:
    """A PyMySQL connection as 'app', 'admin', 'limited' or an Account; keyword arguments override settings."""
    return pymysql.connect(**settings.pymysql_args(role, **overrides))


def bounded(timeout: float) -> dict:
    """PyMySQL arguments that bound a connect to an unknown endpoint. connect_timeout covers
    only the TCP connect: the server's greeting is read with read_timeout, None by default
    (pymysql/connections.py:691-711), so a port that accepts and never speaks hangs for ever."""
    return dict(connect_timeout=timeout, read_timeout=timeout, write_timeout=timeout)


def failure(exc: BaseException, timeout: float) -> tuple[str, str]:
    """What a failed connect says about the endpoint: ("nothing", why) when nothing accepted
    the connection; ("refused", why) when a MySQL server answered with an error of its own;
    ("not-mysql", why) when what answered did not complete a MySQL handshake."""
    if isinstance(exc, pymysql.err.OperationalError) and exc.args:
        code, text = exc.args[0], str(exc.args[-1])
        if code == 2003:
            return "nothing", text
        if isinstance(code, int) and code < 2000:
            return "refused", f"({code}) {text}"
        if "timed out" in text:
            return "not-mysql", f"it accepted the connection but no complete MySQL greeting came within {timeout:g} s"
        return "not-mysql", f"it closed the connection during the MySQL handshake ({text})"
    if isinstance(exc, pymysql.err.InternalError):  # "Packet sequence number wrong": another protocol's banner
        return "not-mysql", f"what it sent is not a MySQL greeting ({exc.args[0] if exc.args else exc})"
    return "not-mysql", f"what it sent is not a MySQL greeting ({type(exc).__name__}: {exc})"
