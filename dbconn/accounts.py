"""Accounts of one's own: a notebook or test that needs a per-account limit creates
its own account, so that runs at the same time (pytest -n 2, a build while a
reader runs the notebook) never share a limit. Done as the lab's admin."""

from __future__ import annotations

import secrets

from . import settings
from .connection import connect
from .settings import Account


HOURLY = ("max_queries_per_hour", "max_updates_per_hour", "max_connections_per_hour")


def create(prefix: str = "limited", max_user_connections: int = 0, **hourly: int) -> Account:
    """A new account, e.g. `limited_3f9a1c`, allowed into the demo database only; hourly
    quotas by name (max_queries_per_hour=..., max_updates_per_hour=..., max_connections_per_hour=...)."""
    unknown = set(hourly) - set(HOURLY)
    if unknown:
        raise ValueError(f"unknown account limit(s) {sorted(unknown)}: use {', '.join(HOURLY)}")
    account = Account(f"{prefix}_{secrets.token_hex(3)}", secrets.token_urlsafe(12))
    limits = "".join(f" {name.upper()} %s" for name in hourly)
    with connect("admin", database=None) as conn, conn.cursor() as cur:
        # Account names cannot be query parameters; this one is ours, made of [a-z0-9_].
        cur.execute(
            f"CREATE USER '{account.user}'@'%%' IDENTIFIED BY %s WITH MAX_USER_CONNECTIONS %s{limits}",
            (account.password, int(max_user_connections), *(int(value) for value in hourly.values())),
        )
        cur.execute(f"GRANT ALL PRIVILEGES ON `{settings.DATABASE}`.* TO '{account.user}'@'%'")
    return account


def drop(account: Account) -> None:
    with connect("admin", database=None) as conn, conn.cursor() as cur:
        cur.execute(f"DROP USER IF EXISTS '{account.user}'@'%'")
