"""Connect at start-up when the database may not be up yet: retry, with backoff and a
deadline, only the errors that mean "not reachable yet".

A container, a service or a pod often starts before its database accepts
connections: docker compose starts services in order, but "started" is not
"ready". The first connect then fails with 2003 "Can't connect to MySQL server"
(refused, or timed out), or 2013 while the server is still starting. Waiting
fixes those. It does not fix 1045 (wrong password) or 1049 (unknown database):
fail at once.

Run: python examples/connect_retry.py  (connection settings: MYSQL_* environment variables)
"""

import os
import random
import sys
import time

import pymysql

DB = dict(
    host=os.environ.get("MYSQL_HOST", "127.0.0.1"),
    port=int(os.environ.get("MYSQL_PORT", "3307")),
    user=os.environ.get("MYSQL_USER", "app"),
    password=os.environ.get("MYSQL_PASSWORD", "app-local-only"),
    database=os.environ.get("MYSQL_DATABASE", "demo"),
    connect_timeout=5,  # seconds for each attempt's TCP connect
    read_timeout=10,  # PyMySQL: also bounds the wait for the server's greeting
)
# 2002 socket or (libmariadb) TCP refused, 2003 refused or timed out, 2005 host not
# found (yet: a container's name), 2013 cut during the handshake.
NOT_READY_YET = {2002, 2003, 2005, 2013}


def connect_with_retry(connect, deadline=60.0, first_pause=0.5, max_pause=5.0, on_retry=None):
    """connect(), retried while the server is not reachable yet, with exponential
    backoff and jitter, for at most `deadline` seconds; any other error at once."""
    give_up = time.monotonic() + deadline
    pause = first_pause
    attempt = 1
    while True:
        try:
            return connect()
        except pymysql.err.OperationalError as exc:
            wait = random.uniform(pause / 2, pause)  # jitter: many clients do not retry in step
            if exc.args[0] not in NOT_READY_YET or time.monotonic() + wait > give_up:
                raise
            if on_retry:
                on_retry(attempt, exc, wait)
        time.sleep(wait)
        pause = min(pause * 2, max_pause)
        attempt += 1


def main():
    retries = []
    conn = connect_with_retry(lambda: pymysql.connect(**DB), deadline=3,
                              on_retry=lambda *retry: retries.append(retry))
    with conn:
        print("connected to", conn.get_server_info(), "after", len(retries), "retries")

    wrong = dict(DB, password="not-the-password")
    try:
        connect_with_retry(lambda: pymysql.connect(**wrong), on_retry=lambda *retry: retries.append(retry))
    except pymysql.err.OperationalError as exc:
        assert exc.args[0] == 1045 and not retries, "a wrong password is not retried"
        print("wrong password: failed at once with", exc.args[0])


if __name__ == "__main__":
    try:
        main()
    except pymysql.err.OperationalError as exc:
        if exc.args[0] == 2003:  # nothing answers at host:port, even after retrying
            sys.exit(f"error: no MySQL server at {DB['host']}:{DB['port']}: start one with `make db`")
        raise
