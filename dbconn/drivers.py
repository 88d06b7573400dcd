"""The drivers the site covers, behind one small interface, so that the same
scenario runs through each: PyMySQL, mysqlclient (``MySQLdb``) and
mysql-connector-python, directly or through SQLAlchemy's dialect for each; and the
asyncio drivers aiomysql and asyncmy, whose calls are awaited inside
``dbconn.aio.run()`` (directly, or through ``create_async_engine()``).
"""

from __future__ import annotations

import importlib
import importlib.metadata
from dataclasses import dataclass
from typing import ClassVar

from . import settings


class NotSupported(Exception):
    """A scenario needs a connect() argument this driver does not have."""


@dataclass(frozen=True)
class Driver:
    is_async: ClassVar[bool] = False
    name: str  # what readers call it
    package: str  # what they pip install
    module: str  # what they import
    dialect: str  # SQLAlchemy's name: mysql+<dialect>://
    renamed: tuple[tuple[str, str], ...] = ()  # PyMySQL's keyword -> this driver's, where they differ
    extra: tuple[tuple[str, object], ...] = ()  # keywords it always gets here

    def dbapi(self):
        return importlib.import_module(self.module)

    def version(self) -> str:
        return importlib.metadata.version(self.package)

    def connect_args(self, role: str | settings.Account = "app", *, port: int | None = None,
                     read_timeout: float | None = None) -> dict:
        """Keyword arguments for this driver's connect(), as `role` on the lab's server:
        the lab's settings (settings.pymysql_args), in this driver's words."""
        overrides = {"port": port} if port else {}
        if read_timeout is not None:
            overrides["read_timeout"] = read_timeout
        args = settings.pymysql_args(role, **overrides) | dict(self.extra)
        for ours, theirs in self.renamed:
            args[theirs] = args.pop(ours)
        return args

    def connect(self, role: str | settings.Account = "app", **options):
        return self.dbapi().connect(**self.connect_args(role, **options))

    def streaming_cursor(self, conn):
        """A cursor that reads rows from the socket as they are fetched, not all at once."""
        if self.module == "mysql.connector":
            return conn.cursor(buffered=False)  # the connector's default, said out loud
        return conn.cursor(self.dbapi().cursors.SSCursor)

    def url(self, role: str | settings.Account = "app", *, port: int | None = None) -> str:
        return settings.url(role, self.dialect, port=port)

    def engine(self, role: str | settings.Account = "app", *, port: int | None = None,
               read_timeout: float | None = None, **engine_options):
        """A SQLAlchemy engine through this driver's dialect; connect_args say what the URL cannot."""
        from sqlalchemy import create_engine

        url_keys = ("host", "port", "user", "password", "database")
        args = self.connect_args(role, port=port, read_timeout=read_timeout)
        connect_args = {k: v for k, v in args.items() if k not in url_keys}
        return create_engine(self.url(role, port=port), connect_args=connect_args, **engine_options)


PYMYSQL = Driver("PyMySQL", "PyMySQL", "pymysql", "pymysql")
MYSQLCLIENT = Driver("mysqlclient", "mysqlclient", "MySQLdb", "mysqldb")
# Its C extension needs OpenSSL 3.2 (Debian 12 has 3.0): use_pure=True says which one runs.
CONNECTOR = Driver("mysql-connector-python", "mysql-connector-python", "mysql.connector",
                   "mysqlconnector", renamed=(("connect_timeout", "connection_timeout"),), extra=(("use_pure", True),))

DRIVERS = (PYMYSQL, MYSQLCLIENT, CONNECTOR)


@dataclass(frozen=True)
class AsyncDriver(Driver):
    """An asyncio driver. Its connect() and cursors are awaited for the caller, which
    must run inside dbconn.aio.run(); engine() is create_async_engine()'s engine."""

    is_async: ClassVar[bool] = True
    streaming_cursor_class: str = ""  # module.Class of its unbuffered cursor
    unsupported: tuple[str, ...] = ()  # connect() keywords it does not have

    def connect(self, role: str | settings.Account = "app", **options):
        from . import aio

        for name in self.unsupported:
            if options.get(name) is not None:
                raise NotSupported(f"{self.name} {self.version()} has no {name} argument")
        return aio.connect(self.dbapi().connect, **self.connect_args(role, **options))

    def streaming_cursor(self, conn):
        module, name = self.streaming_cursor_class.rsplit(".", 1)
        return conn.cursor(getattr(importlib.import_module(module), name))

    def engine(self, role: str | settings.Account = "app", *, port: int | None = None,
               read_timeout: float | None = None, **engine_options):
        """create_async_engine()'s engine, used through its synchronous face (.sync_engine),
        as AsyncEngine itself does inside the greenlet."""
        from sqlalchemy.ext.asyncio import create_async_engine

        if read_timeout is not None and "read_timeout" in self.unsupported:
            raise NotSupported(f"{self.name} {self.version()} has no read_timeout argument")
        url_keys = ("host", "port", "user", "password", "database", "db")
        args = self.connect_args(role, port=port, read_timeout=read_timeout)
        connect_args = {k: v for k, v in args.items() if k not in url_keys}
        return create_async_engine(self.url(role, port=port), connect_args=connect_args, **engine_options).sync_engine


AIOMYSQL = AsyncDriver("aiomysql", "aiomysql", "aiomysql", "aiomysql", renamed=(("database", "db"),),
                       streaming_cursor_class="aiomysql.SSCursor", unsupported=("read_timeout",))
ASYNCMY = AsyncDriver("asyncmy", "asyncmy", "asyncmy", "asyncmy", streaming_cursor_class="asyncmy.cursors.SSCursor")

ASYNC_DRIVERS = (AIOMYSQL, ASYNCMY)

