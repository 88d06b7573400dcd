"""Threads that query MySQL: each thread opens its own connection.

A DB-API connection is not safe to share between threads (PyMySQL, mysqlclient and
mysql-connector-python all declare threadsafety = 1: "threads may share the module,
but not connections"). Two threads on one connection interleave their packets:
"Packet sequence number wrong", 2014 "Commands out of sync", a result that ends early.
Give every thread a connection of its own, and close it when the thread is done.

Run: python examples/threads_own_connection.py  (connection settings: MYSQL_* environment variables)
"""

import os
import queue
import sys
from concurrent.futures import ThreadPoolExecutor

import pymysql

DB = dict(
    host=os.environ.get("MYSQL_HOST", "127.0.0.1"),
    port=int(os.environ.get("MYSQL_PORT", "3307")),
    user=os.environ.get("MYSQL_USER", "app"),
    password=os.environ.get("MYSQL_PASSWORD", "app-local-only"),
    database=os.environ.get("MYSQL_DATABASE", "demo"),
)


def worker(jobs, answers):
    """Take jobs until a None arrives; answer each on this thread's own connection."""
    # autocommit: each read sees the latest committed data, and no transaction stays open between jobs.
    with pymysql.connect(**DB, autocommit=True) as conn:  # opened by this thread, closed when it ends
        for job in iter(jobs.get, None):
            with conn.cursor() as cur:
                # SLEEP(0.01) stands for the real work of a query: the threads overlap
                cur.execute("SELECT %s, CONNECTION_ID() FROM (SELECT SLEEP(0.01)) AS work", (job,))
                answers.put(cur.fetchone())


def run(jobs_to_do, threads=4):
    """Answer every job with `threads` worker threads; returns {job: connection id}."""
    jobs, answers = queue.Queue(), queue.Queue()
    for job in jobs_to_do:
        jobs.put(job)
    for _ in range(threads):
        jobs.put(None)  # one "stop" per thread
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for running in [pool.submit(worker, jobs, answers) for _ in range(threads)]:
            running.result()  # a worker's error (it could not connect, say) is raised here
    return dict(answers.get() for _ in range(answers.qsize()))


def main():
    jobs = [f"job-{n}" for n in range(40)]
    answered = run(jobs, threads=4)
    assert sorted(answered) == sorted(jobs), "every job got its own answer"
    connections = set(answered.values())
    assert len(connections) <= 4, "never more connections than threads"
    print(f"{len(answered)} jobs, each got its own answer, on {len(connections)} connections (one per thread)")


if __name__ == "__main__":
    try:
        main()
    except pymysql.err.OperationalError as exc:
        if exc.args[0] == 2003:  # nothing answers at host:port
            sys.exit(f"error: no MySQL server at {DB['host']}:{DB['port']}: start one with `make db`")
        raise
