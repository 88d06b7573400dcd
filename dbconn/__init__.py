"""Helpers for the live connection-error lab.

- ``settings``: the MYSQL_* connection settings, in one place;
- ``server``: find or start the lab's database server, and stop only ours;
- ``registry``: everything the lab starts, recorded so that it is always found and stopped;
- ``introspect``: the server's own view of connections (read-only);
- ``kills``: a statement killed mid-run for certain, as an administrator would;
- ``accounts``: accounts of one's own, with their own connection limit;
- ``tables``: tables of one's own with many rows, for large results;
- ``drivers``, ``matrix``: the three drivers, and every scenario run through each;
- ``recorder``, ``plots``: the server's view over time, and the timelines drawn from it;
- ``connect()``: a PyMySQL connection as one of the lab's accounts.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from . import accounts, settings, tables
from .connection import connect
from . import introspect, kills
from .introspect import connection_count, processlist, show_rows, wait_for_count
from .server import ServerError, require

__all__ = [
    "ServerError", "accounts", "connect", "introspect", "kills", "tables", "connection_count", "example", "processlist",
    "require", "settings", "show_rows", "wait_for_count",
]

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def example(name: str):
    """Import ``examples/<name>.py``: the very file the help pages show, run as-is."""
    path = EXAMPLES / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"examples.{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
