"""Connection settings: the one place they are read.

Every value comes from a ``MYSQL_*`` environment variable. The defaults match
both the throwaway server (``make db``) and the docker compose service, so
nothing needs to be set to run the lab locally.

The passwords below are demo credentials for a server that listens on
127.0.0.1 only. They are not secrets and must never be used anywhere else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Account:
    user: str
    password: str


class SettingError(ValueError):
    """A setting that cannot be used, said in one line that tells what to do."""

    def _render_traceback_(self):  # IPython shows this instead of a traceback
        return [f"SettingError: {self}"]


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _port(name: str, default: str) -> int:
    text = _env(name, default)
    if not text.strip().isdigit() or not 1 <= int(text) <= 65535:
        raise SettingError(f"{name}={text!r} is not a TCP port (1-65535): set a free port, e.g. {name}=3308, or unset it.")
    return int(text)


def _choice(name: str, choices: tuple[str, ...]) -> str:
    text = _env(name, "")
    if text not in ("", *choices):
        raise SettingError(f"{name}={text!r} is not one of {', '.join(choices)}: fix it, or unset it to let the lab choose.")
    return text


# A bad value must not make `import dbconn` fail: it is noted here, left undefined,
# and raised where it is used (module __getattr__) and by check().
_problems: dict[str, SettingError] = {}
try:
    PORT = _port("MYSQL_PORT", "3307")
except SettingError as problem:
    _problems["PORT"] = problem
try:
    SERVER = _choice("DBCONN_SERVER", ("docker", "local"))  # "": the lab chooses (see dbconn.server)
except SettingError as problem:
    _problems["SERVER"] = problem


def __getattr__(name: str):
    if name in _problems:
        raise _problems[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def check() -> None:
    """Raise SettingError for the first setting that cannot be used."""
    for problem in _problems.values():
        raise problem


HOST = _env("MYSQL_HOST", "127.0.0.1")
DATABASE = _env("MYSQL_DATABASE", "demo")

# The account an application uses.
APP = Account(_env("MYSQL_USER", "app"), _env("MYSQL_PASSWORD", "app-local-only"))
# An account allowed to KILL, SET GLOBAL, read every session and create users.
ADMIN = Account(
    _env("MYSQL_ADMIN_USER", "admin"), _env("MYSQL_ADMIN_PASSWORD", "admin-local-only")
)
# An account created WITH MAX_USER_CONNECTIONS 2, to try 1226 by hand. Notebooks and
# tests create limited accounts of their own (dbconn.accounts), so runs never share one.
LIMITED = Account(
    _env("MYSQL_LIMITED_USER", "limited"),
    _env("MYSQL_LIMITED_PASSWORD", "limited-local-only"),
)

ACCOUNTS = {"app": APP, "admin": ADMIN, "limited": LIMITED}

# Where the built site is served: the links `explain` prints, and the site's canonical
# URLs and sitemap. The default is `make serve`'s address; set it when publishing.
SITE_URL = _env("DBCONN_SITE_URL", "http://127.0.0.1:8000/").rstrip("/") + "/"


def account(role: str | Account) -> Account:
    """The lab's account for a role name; an Account is returned as it is."""
    if isinstance(role, Account):
        return role
    try:
        return ACCOUNTS[role]
    except KeyError:
        raise ValueError(f"unknown role {role!r}: use one of {', '.join(ACCOUNTS)}") from None


def pymysql_args(role: str | Account = "app", **overrides) -> dict:
    """Keyword arguments for ``pymysql.connect`` as the given role."""
    acct = account(role)
    args = dict(
        host=HOST,
        port=_setting("PORT"),
        user=acct.user,
        password=acct.password,
        database=DATABASE,
        connect_timeout=5,
    )
    args.update(overrides)
    return args


def url(role: str | Account = "app", driver: str = "pymysql", *, port: int | None = None,
        database: str | None = DATABASE) -> str:
    """A SQLAlchemy URL for the given role, e.g. ``mysql+pymysql://app:...@127.0.0.1:3307/demo``
    (``database=None``: no default database)."""
    from urllib.parse import quote_plus

    acct = account(role)
    return (
        f"mysql+{driver}://{quote_plus(acct.user)}:{quote_plus(acct.password)}"
        f"@{HOST}:{port or _setting('PORT')}/{database or ''}"
    )


def where() -> str:
    return f"{HOST}:{_setting('PORT')}"


def _setting(name: str):
    """A setting read from inside this module, where __getattr__ does not apply."""
    if name in _problems:
        raise _problems[name]
    return globals()[name]
