"""End every SQLAlchemy Session at the end of its unit of work (a request, a task, a job).

A Session holds its connection from its first query until commit(), rollback() or
close(). One that is never ended keeps its connection checked out (the pool runs dry:
"QueuePool limit ... reached, connection timed out"), and one whose connection died
refuses every later query until it is rolled back ("Can't reconnect until invalid
transaction is rolled back"). Ending it every time prevents both.

Run: python examples/session_per_unit_of_work.py  (connection settings: MYSQL_* environment variables)
"""

import os
import sys
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa
from sqlalchemy.orm import Session, scoped_session, sessionmaker

URL = sa.URL.create(
    "mysql+pymysql",
    host=os.environ.get("MYSQL_HOST", "127.0.0.1"),
    port=int(os.environ.get("MYSQL_PORT", "3307")),
    username=os.environ.get("MYSQL_USER", "app"),
    password=os.environ.get("MYSQL_PASSWORD", "app-local-only"),
    database=os.environ.get("MYSQL_DATABASE", "demo"),
)

engine = sa.create_engine(URL, pool_size=5, max_overflow=10, pool_timeout=30, pool_pre_ping=True)


def order_total(order_id):
    """One unit of work, its own Session: closed (and rolled back) when the block ends."""
    with Session(engine) as session:
        return session.execute(sa.text("SELECT total FROM orders WHERE id = :id"), {"id": order_id}).scalar_one()


def rename_customer(order_id, customer):
    """A write: session.begin() commits at the end of the block, or rolls back on any error."""
    with Session(engine) as session, session.begin():
        session.execute(sa.text("UPDATE orders SET customer = :c WHERE id = :id"), {"c": customer, "id": order_id})


# In a threaded web app or worker: one Session per thread, ended after every request.
RequestSession = scoped_session(sessionmaker(engine))


def handle_request(order_id):
    try:
        return RequestSession.execute(sa.text("SELECT total FROM orders WHERE id = :id"),
                                      {"id": order_id}).scalar_one()
    finally:
        RequestSession.remove()  # rolls back what is left, closes, gives the connection back


def main():
    try:
        totals = [order_total(order_id) for order_id in (1, 2, 3)]
        with engine.connect() as conn:
            before = conn.execute(sa.text("SELECT customer FROM orders WHERE id = 1")).scalar_one()
        rename_customer(1, before)  # the same name again: the demo table stays as it was
        with ThreadPoolExecutor(max_workers=8) as threads:  # more threads than pool_size
            answered = list(threads.map(handle_request, [1, 2, 3] * 10))
        assert engine.pool.checkedout() == 0, "every Session gave its connection back"
        print(f"totals {totals}; {len(answered)} requests on 8 threads; checked out now: {engine.pool.checkedout()}")
    finally:
        engine.dispose()


if __name__ == "__main__":
    try:
        main()
    except sa.exc.OperationalError as exc:
        if exc.orig.args[0] == 2003:  # nothing answers at host:port
            sys.exit(f"error: no MySQL server at {URL.host}:{URL.port}: start one with `make db`")
        raise
