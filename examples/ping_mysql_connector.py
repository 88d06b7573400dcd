"""Check a long-lived mysql-connector-python connection before using it, and
reconnect if the server dropped it.

The connector's is_connected() pings and answers True or False; reconnect() opens a
new session on the same object (no deprecation warning, unlike PyMySQL's and
mysqlclient's reconnecting ping). The new session starts clean: SET variables, temporary tables
and an uncommitted transaction of the old one are gone.
(PyMySQL: ping_before_use.py; mysqlclient: ping_mysqlclient.py.)

use_pure=True: the connector's C extension needs OpenSSL 3.2; on older systems
(Debian 12) say which implementation runs rather than rely on the fallback.
autocommit=True: a long-lived connection that reads must not keep a transaction
open between units of work (see ping_before_use.py). One connection per thread.

Run: python examples/ping_mysql_connector.py  (connection settings: MYSQL_* environment variables)
"""

import os
import sys

import mysql.connector

# From MYSQL_* variables; the defaults are this project's local-only lab server. In your
# own code, take the password from your secrets, never from a default in the source.
DB = dict(
    host=os.environ.get("MYSQL_HOST", "127.0.0.1"),
    port=int(os.environ.get("MYSQL_PORT", "3307")),
    user=os.environ.get("MYSQL_USER", "app"),
    password=os.environ.get("MYSQL_PASSWORD", "app-local-only"),
    database=os.environ.get("MYSQL_DATABASE", "demo"),
    use_pure=True,
    autocommit=True,
)


def alive(conn):
    """`conn`, reconnected first if the server no longer answers it."""
    if not conn.is_connected():  # one round trip (a ping); False if the connection is dead
        conn.reconnect(attempts=1)
    return conn


def main():
    conn = mysql.connector.connect(**DB)
    try:
        first = conn.connection_id
        other = mysql.connector.connect(**DB)
        other.cursor().execute("KILL %s", (first,))  # an account may kill its own connections
        other.close()
        conn = alive(conn)  # e.g. at the top of each loop of a long-running worker
        cur = conn.cursor()
        cur.execute("SELECT COUNT(*) FROM orders")
        print("orders:", cur.fetchone()[0], "on a new session:", conn.connection_id != first)
        cur.close()
        assert conn.connection_id != first and conn.autocommit  # reconnect() kept the settings
    finally:
        conn.close()


if __name__ == "__main__":
    try:
        main()
    except mysql.connector.Error as exc:
        if exc.errno == 2003:  # nothing answers at host:port
            sys.exit(f"error: no MySQL server at {DB['host']}:{DB['port']}: start one with `make db`")
        raise
