"""Connect as one of the lab's accounts: the one place the package opens connections."""

from __future__ import annotations

import pymysql

from . import settings


def connect(role: str | settings.Account = "app", **overrides) -> pymysql.connections.Connection:
    """A PyMySQL connection as 'app', 'admin', 'limited' or an Account; keyword arguments override settings."""
    return pymysql.connect(**settings.pymysql_args(role, **overrides))
