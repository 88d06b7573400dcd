"""Accounts of one's own: a notebook or test that needs a per-account limit creates
its own account, so that runs at the same time (pytest -n 2, a build while a
reader runs the notebook) never share a limit. Done as the lab's admin."""

from __future__ import annotations

import secrets

from . import settings
from .connection import connect
from .settings import Account


def create(prefix: str = "limited", max_user_connections: int = 0) -> Account:
    """A new account, e.g. `limited_3f9a1c`, allowed into the demo database only."""
    account = Account(f"{prefix}_{secrets.token_hex(3)}", secrets.token_urlsafe(12))
    with connect("admin", database=None) as conn, conn.cursor() as cur:
        # Account names cannot be query parameters; this one is ours, made of [a-z0-9_].
        cur.execute(
            f"CREATE USER '{account.user}'@'%%' IDENTIFIED BY %s WITH MAX_USER_CONNECTIONS %s",
            (account.password, int(max_user_connections)),
        )
        cur.execute(f"GRANT ALL PRIVILEGES ON `{settings.DATABASE}`.* TO '{account.user}'@'%'")
    return account


def drop(account: Account) -> None:
    with connect("admin", database=None) as conn, conn.cursor() as cur:
        cur.execute(f"DROP USER IF EXISTS '{account.user}'@'%'")
