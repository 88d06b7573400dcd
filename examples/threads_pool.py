"""Threads that share a SQLAlchemy engine: the engine (and its pool) is thread-safe;
a Connection or a Session is not. Each thread checks a connection out for one unit of
work and gives it back; with the ORM, scoped_session gives each thread its own Session,
and Session.remove() ends it when the unit of work is done.

Run: python examples/threads_pool.py  (connection settings: MYSQL_* environment variables)
"""

import os
import sys
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa
from sqlalchemy.orm import scoped_session, sessionmaker

URL = sa.URL.create(
    "mysql+pymysql",
    host=os.environ.get("MYSQL_HOST", "127.0.0.1"),
    port=int(os.environ.get("MYSQL_PORT", "3307")),
    username=os.environ.get("MYSQL_USER", "app"),
    password=os.environ.get("MYSQL_PASSWORD", "app-local-only"),
    database=os.environ.get("MYSQL_DATABASE", "demo"),
)

engine = sa.create_engine(URL, pool_size=4, max_overflow=0, pool_pre_ping=True)  # one per process
Session = scoped_session(sessionmaker(engine))  # one Session per thread, made on first use
# A job answers with its own name and the connection it ran on; SLEEP(0.01) stands for real work.
JOB = sa.text("SELECT :job, CONNECTION_ID() FROM (SELECT SLEEP(0.01)) AS work")


def answer_with_pool(job):
    with engine.connect() as conn:  # this thread's connection until the block ends
        return conn.execute(JOB, {"job": job}).one()


def answer_with_session(job):
    try:
        return Session.execute(JOB, {"job": job}).one()
    finally:
        Session.remove()  # end this thread's Session: its connection goes back to the pool


def main():
    jobs = [f"job-{n}" for n in range(40)]
    try:
        with ThreadPoolExecutor(max_workers=8) as threads:  # 8 threads share a pool of 4
            for answer in (answer_with_pool, answer_with_session):
                answered = dict(threads.map(answer, jobs))
                assert sorted(answered) == sorted(jobs), "every job got its own answer"
                print(f"{answer.__name__}: {len(answered)} jobs, {len(set(answered.values()))} connections "
                      f"(pool of {engine.pool.size()})")
                assert len(set(answered.values())) <= engine.pool.size()
    finally:
        engine.dispose()  # close the pooled connections when the process is done


if __name__ == "__main__":
    try:
        main()
    except sa.exc.OperationalError as exc:
        if exc.orig.args[0] == 2003:  # nothing answers at host:port
            sys.exit(f"error: no MySQL server at {URL.host}:{URL.port}: start one with `make db`")
        raise
