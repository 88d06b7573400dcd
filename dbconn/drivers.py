"""The three drivers the site covers, behind one small interface, so that the same
scenario runs through each: PyMySQL, mysqlclient (``MySQLdb``) and
mysql-connector-python, directly or through SQLAlchemy's dialect for each.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from dataclasses import dataclass

from . import settings


@dataclass(frozen=True)
class Driver:
    name: str  # what readers call it
    package: str  # what they pip install
    module: str  # what they import
    dialect: str  # SQLAlchemy's name: mysql+<dialect>://
    timeout_names: tuple[str, str]  # its keywords for the connect and read timeouts
    extra: tuple[tuple[str, object], ...] = ()  # keywords it always gets here

    def dbapi(self):
        return importlib.import_module(self.module)

    def version(self) -> str:
        return importlib.metadata.version(self.package)

    def connect_args(self, role: str | settings.Account = "app", *, port: int | None = None,
                     read_timeout: float | None = None) -> dict:
        """Keyword arguments for this driver's connect(), as `role` on the lab's server."""
        acct = settings.account(role)
        connect_timeout, read_timeout_name = self.timeout_names
        args = dict(host=settings.HOST, port=port or settings.PORT, user=acct.user,
                    password=acct.password, database=settings.DATABASE, **dict(self.extra))
        args[connect_timeout] = 5
        if read_timeout is not None:
            args[read_timeout_name] = read_timeout
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

    def engine_connect_args(self, **options) -> dict:
        """connect_args for create_engine(): what the URL cannot say."""
        args = self.connect_args(**options)
        return {k: v for k, v in args.items() if k not in ("host", "port", "user", "password", "database")}


PYMYSQL = Driver("PyMySQL", "PyMySQL", "pymysql", "pymysql", ("connect_timeout", "read_timeout"))
MYSQLCLIENT = Driver("mysqlclient", "mysqlclient", "MySQLdb", "mysqldb", ("connect_timeout", "read_timeout"))
# Its C extension needs OpenSSL 3.2 (Debian 12 has 3.0): use_pure=True says which one runs.
CONNECTOR = Driver("mysql-connector-python", "mysql-connector-python", "mysql.connector",
                   "mysqlconnector", ("connection_timeout", "read_timeout"), (("use_pure", True),))

DRIVERS = (PYMYSQL, MYSQLCLIENT, CONNECTOR)


def error_code(exc: BaseException) -> int | None:
    """The MySQL error number of a driver's exception (or of the one inside a SQLAlchemy
    error): mysql-connector keeps it in .errno, PyMySQL and mysqlclient in args[0]."""
    exc = getattr(exc, "orig", None) or exc
    code = getattr(exc, "errno", None)
    if code is None and exc.args and isinstance(exc.args[0], int):
        code = exc.args[0]
    return code
