"""SQLAlchemy with mysql-connector-python (mysql+mysqlconnector): make its "connection
not available" count as a disconnect.

When the server has dropped a connection, the connector raises
OperationalError(-1, "MySQL Connection not available"). SQLAlchemy's dialect looks for
that message with a full stop at the end, which this connector does not write, so the
error is not seen as a disconnect: the Connection is not invalidated, and its
rollback() goes down the dead connection and fails too. A handle_error listener says
what the dialect misses. Use pool_pre_ping=True as well, as with every driver.

Also: this dialect cannot stream (supports_server_side_cursors = False):
stream_results reads the whole result into memory first.

Run: python examples/sqlalchemy_mysqlconnector.py  (connection settings: MYSQL_* environment variables)
"""

import os
import sys

import sqlalchemy as sa

# From MYSQL_* variables; the defaults are this project's local-only lab server. In your
# own code, take the password from your secrets, never from a default in the source.
URL = sa.URL.create(
    "mysql+mysqlconnector",
    host=os.environ.get("MYSQL_HOST", "127.0.0.1"),
    port=int(os.environ.get("MYSQL_PORT", "3307")),
    username=os.environ.get("MYSQL_USER", "app"),
    password=os.environ.get("MYSQL_PASSWORD", "app-local-only"),
    database=os.environ.get("MYSQL_DATABASE", "demo"),
)


def count_connection_not_available_as_disconnect(engine):
    @sa.event.listens_for(engine, "handle_error")
    def connection_not_available(context):
        if getattr(context.original_exception, "errno", None) == -1:  # "MySQL Connection not available"
            context.is_disconnect = True


def make_engine():
    # use_pure=True: the C extension needs OpenSSL 3.2 (Debian 12 has 3.0); say which one runs.
    engine = sa.create_engine(URL, pool_pre_ping=True, connect_args={"use_pure": True})
    count_connection_not_available_as_disconnect(engine)
    return engine


def main():
    engine = make_engine()
    try:
        with engine.connect() as conn:
            first = conn.execute(sa.text("SELECT CONNECTION_ID()")).scalar_one()
            with engine.connect() as other:
                other.execute(sa.text(f"KILL {int(first)}"))  # an account may kill its own connections
            try:
                conn.execute(sa.text("SELECT 1"))
            except sa.exc.DBAPIError as exc:
                print("after KILL:", exc.orig.errno, exc.orig.msg,
                      "- seen as a disconnect:", exc.connection_invalidated)
                assert exc.connection_invalidated
            conn.rollback()  # without the listener, this raises 2055 as well
            again = conn.execute(sa.text("SELECT CONNECTION_ID()")).scalar_one()
        print("the same Connection, after rollback(), on a new session:", again != first)
        assert again != first
    finally:
        engine.dispose()


if __name__ == "__main__":
    try:
        main()
    except sa.exc.DBAPIError as exc:
        if getattr(exc.orig, "errno", None) == 2003:  # nothing answers at host:port
            sys.exit(f"error: no MySQL server at {URL.host}:{URL.port}: start one with `make db`")
        raise
