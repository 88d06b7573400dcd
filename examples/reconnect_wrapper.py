"""Reconnect after "MySQL server has gone away", and retry only what is safe to retry.

- ReconnectingConnection.read(): reconnects and runs the query again. Safe for a
  read that is not part of a transaction: running it twice changes nothing. Give
  it a connect() with autocommit=True, so that no transaction stays open between
  reads (an open one freezes the reader's snapshot and makes ALTER TABLE wait).
  One per thread: a connection must never be shared between threads.
- run_transaction(): on a lost connection, a deadlock or a lock wait timeout, runs
  the WHOLE transaction again on a new connection. Retrying only the failed
  statement would silently drop the statements before it: the server rolled them
  back when the connection died.

Works with PyMySQL, mysqlclient (MySQLdb) and mysql-connector-python: pass the
driver's connect function, e.g. functools.partial(MySQLdb.connect, **settings).

Run: python examples/reconnect_wrapper.py  (connection settings: MYSQL_* environment variables)
"""

import functools
import os
import sys
import time

import pymysql

# From MYSQL_* variables; the defaults are this project's local-only lab server. In your
# own code, take the password from your secrets, never from a default in the source.
DB = dict(
    host=os.environ.get("MYSQL_HOST", "127.0.0.1"),
    port=int(os.environ.get("MYSQL_PORT", "3307")),
    user=os.environ.get("MYSQL_USER", "app"),
    password=os.environ.get("MYSQL_PASSWORD", "app-local-only"),
    database=os.environ.get("MYSQL_DATABASE", "demo"),
)

# 2006 gone away, 2013 lost during query, 2055 lost (mysql-connector's word for 2006),
# 4031 closed for inactivity (MySQL 8.0.24+, as mysqlclient and mysql-connector read it;
# PyMySQL reports that packet as 2013), 1927 killed (MariaDB's answer on a connection
# being killed), 2014 commands out of sync (the connection's state is lost). The same
# list as SQLAlchemy's MySQL dialect (sqlalchemy/dialects/mysql/base.py, is_disconnect).
DISCONNECTED = {1927, 2006, 2013, 2014, 2055, 4031}
# A connection that already knows it is dead: PyMySQL raises InterfaceError(0, ''),
# mysql-connector OperationalError(-1, 'MySQL Connection not available').
ALREADY_DEAD = {0, -1}


def error_code(exc):
    """mysql-connector keeps the MySQL error number in .errno; PyMySQL and mysqlclient in args[0]."""
    code = getattr(exc, "errno", None)
    if code is None and exc.args and isinstance(exc.args[0], int):
        code = exc.args[0]
    return code


def timed_out(exc, elapsed=None, read_timeout=None):
    """True when the client gave up waiting: the query may still be running on the server,
    and running it again doubles the load. PyMySQL raises its 2013 while handling a socket
    timeout; mysql-connector raises 3024, no disconnect; mysqlclient's 2013 says nothing
    more, so only the time it took tells."""
    if isinstance(exc.__cause__ or exc.__context__, TimeoutError):
        return True
    return read_timeout is not None and elapsed is not None and elapsed >= read_timeout


def is_disconnect(exc):
    """True when the server or the network dropped the connection: reconnecting may help."""
    code = error_code(exc)
    if code in DISCONNECTED:
        return True
    # Every DB-API driver names its classes the same; 0 and -1 are no server's codes.
    return code in ALREADY_DEAD and type(exc).__name__ in ("InterfaceError", "OperationalError")


class ReconnectingConnection:
    """A connection that reconnects once when the server has dropped it. For reads only,
    in autocommit mode, in one thread. A read that timed out is not run again: pass the
    read_timeout your connect() sets."""

    def __init__(self, connect, read_timeout=None):
        self._connect = connect  # e.g. functools.partial(pymysql.connect, **DB, autocommit=True)
        self._conn = connect()
        self.read_timeout = read_timeout

    def read(self, sql, params=None):
        started = time.monotonic()
        try:
            return self._fetch(sql, params)
        except Exception as exc:
            if not is_disconnect(exc) or timed_out(exc, time.monotonic() - started, self.read_timeout):
                raise
            self.close()
            self._conn = self._connect()
            return self._fetch(sql, params)

    def _fetch(self, sql, params):
        cur = self._conn.cursor()
        cur.execute(sql, params)
        rows = cur.fetchall()
        cur.close()
        return rows

    def close(self):
        close_quietly(self._conn)


# The server has rolled the transaction back (1213: all of it; 1205: the statement, and
# closing the connection rolls back the rest): running all of it again is safe.
RETRY_TRANSACTION = {1213, 1205}  # deadlock victim, lock wait timeout
CANNOT_CONNECT = {2002, 2003}  # nothing answers yet: a restart or a failover in progress


def run_transaction(work, connect, attempts=3, wait=0.5, idempotent=False):
    """Run work(cursor) in one transaction on a new connection, and commit it.

    If the connection is lost before COMMIT, or the transaction loses a deadlock (1213)
    or a lock wait (1205), run ALL of it again on a new connection, after a short wait
    (longer each time). The transaction is explicit (START TRANSACTION), so this holds
    whatever autocommit the connection has.

    A connection lost during COMMIT is retried only if idempotent=True: the commit may
    have happened before its answer was lost. Make such work safe to repeat (a unique
    key, INSERT ... ON DUPLICATE KEY UPDATE), then say so.
    """
    for attempt in range(1, attempts + 1):
        stage, conn = "connect", None
        try:
            conn = connect()
            cur = conn.cursor()
            stage = "work"
            cur.execute("START TRANSACTION")
            result = work(cur)
            cur.close()
            stage = "commit"
            conn.commit()
            return result
        except Exception as exc:
            if attempt == attempts or not worth_retrying(exc, stage, idempotent):
                raise
        finally:
            if conn is not None:
                close_quietly(conn)
        time.sleep(wait * attempt)


def worth_retrying(exc, stage, idempotent):
    """May the whole transaction run again after `exc`, raised at `stage`?"""
    if error_code(exc) in RETRY_TRANSACTION:
        return True  # rolled back by the server: nothing was committed
    if stage == "connect":
        return error_code(exc) in CANNOT_CONNECT or is_disconnect(exc)
    if stage == "commit":
        return idempotent and is_disconnect(exc)
    return is_disconnect(exc)


def close_quietly(conn):
    try:
        conn.close()
    except Exception:
        pass  # closing a dead connection may raise; it is closed either way


def main():
    connect = functools.partial(pymysql.connect, **DB)
    reader = ReconnectingConnection(functools.partial(connect, autocommit=True))
    try:
        ((first,),) = reader.read("SELECT CONNECTION_ID()")
        with connect() as other, other.cursor() as cur:
            cur.execute("KILL %s", (first,))  # an account may kill its own connections
        ((orders, again),) = reader.read("SELECT COUNT(*), CONNECTION_ID() FROM orders")
        print("orders:", orders, "read again on a new connection:", again != first)
        assert again != first
    finally:
        reader.close()

    attempts = []

    def add_order(cur):
        """Insert an order and count the orders, in one transaction; the first attempt's
        connection dies after the insert."""
        attempts.append(len(attempts) + 1)
        cur.execute("INSERT INTO orders (id, customer, total) VALUES (%s, %s, %s)", (99, "example", 1))
        if len(attempts) == 1:
            cur.execute("KILL CONNECTION_ID()")  # 1927: the connection dies mid-transaction
        cur.execute("SELECT COUNT(*) FROM orders")
        count = cur.fetchone()[0]
        cur.execute("DELETE FROM orders WHERE id = %s", (99,))  # leave the demo table as it was
        return count

    # autocommit=True on purpose: START TRANSACTION still makes the two attempts one transaction each.
    count = run_transaction(add_order, functools.partial(connect, autocommit=True), wait=0.1)
    print("orders inside the transaction:", count, "after attempts", attempts)
    assert attempts == [1, 2] and count == orders + 1  # the first insert was rolled back, not committed


if __name__ == "__main__":
    try:
        main()
    except pymysql.err.OperationalError as exc:
        if exc.args[0] == 2003:  # nothing answers at host:port
            sys.exit(f"error: no MySQL server at {DB['host']}:{DB['port']}: start one with `make db`")
        raise
