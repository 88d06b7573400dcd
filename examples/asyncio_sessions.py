"""asyncio with MySQL: one engine per process, one AsyncSession (or connection) per task.

The async drivers (aiomysql, asyncmy) see the same dropped connections as the others
(2006, 2013 after wait_timeout, a KILL, a restart), and SQLAlchemy's asyncio engine
has the same answers: pool_recycle below wait_timeout, and pool_pre_ping. A
connection or an AsyncSession is not safe to share between tasks that run at once.

Run: python examples/asyncio_sessions.py  (connection settings: MYSQL_* environment variables)
"""

import asyncio
import os
import sys

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

URL = sa.URL.create(
    "mysql+aiomysql",  # or "mysql+asyncmy"
    host=os.environ.get("MYSQL_HOST", "127.0.0.1"),
    port=int(os.environ.get("MYSQL_PORT", "3307")),
    username=os.environ.get("MYSQL_USER", "app"),
    password=os.environ.get("MYSQL_PASSWORD", "app-local-only"),
    database=os.environ.get("MYSQL_DATABASE", "demo"),
)

# pool_recycle: below the server's wait_timeout (read yours: python -m dbconn doctor);
# pool_pre_ping: a dead connection is replaced at checkout, before your query fails.
engine = create_async_engine(URL, pool_recycle=280, pool_pre_ping=True)
Session = async_sessionmaker(engine, expire_on_commit=False)


async def order_total(order_id):
    async with Session() as session:  # this task's own session, closed at the end of the block
        result = await session.execute(sa.text("SELECT total FROM orders WHERE id = :id"), {"id": order_id})
        return result.scalar_one()


async def main():
    try:
        totals = await asyncio.gather(*(order_total(order_id) for order_id in [1, 2, 3] * 5))
        assert len(totals) == 15 and engine.pool.checkedout() == 0, "every task gave its connection back"
        print(f"{len(totals)} tasks at once, each with its own session; pool of {engine.pool.size()}")
    finally:
        await engine.dispose()  # close the pool's connections before the event loop ends


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except sa.exc.OperationalError as exc:
        if exc.orig.args[0] == 2003:  # nothing answers at host:port
            sys.exit(f"error: no MySQL server at {URL.host}:{URL.port}: start one with `make db`")
        raise
