"""A Flask app on MySQL with Flask-SQLAlchemy 3.x.

- Pool options go in SQLALCHEMY_ENGINE_OPTIONS. The old keys (SQLALCHEMY_POOL_RECYCLE,
  SQLALCHEMY_POOL_SIZE, ...) were removed in Flask-SQLAlchemy 3.0 and are ignored
  without a word; for MySQL it then recycles connections after 7200 s, which is longer
  than many servers' wait_timeout.
- db.session is one Session per request (per app context); Flask-SQLAlchemy removes it
  when the request ends, so a failed request never poisons the next one.

Run: python examples/flask_app.py  (connection settings: MYSQL_* environment variables)
Serve: gunicorn --chdir examples --threads 4 flask_app:app
"""

import os
import sys

import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

URL = sa.URL.create(
    "mysql+pymysql",
    host=os.environ.get("MYSQL_HOST", "127.0.0.1"),
    port=int(os.environ.get("MYSQL_PORT", "3307")),
    username=os.environ.get("MYSQL_USER", "app"),
    password=os.environ.get("MYSQL_PASSWORD", "app-local-only"),
    database=os.environ.get("MYSQL_DATABASE", "demo"),
)

app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = URL.render_as_string(hide_password=False)
app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
    "pool_recycle": 280,  # below the server's wait_timeout (read yours: python -m dbconn doctor)
    "pool_pre_ping": True,  # a connection the server dropped is replaced at checkout
    "pool_size": 5,
    "max_overflow": 5,  # per process: processes x 10 must fit the account's connection limit
}
db = SQLAlchemy(app)


@app.get("/orders/<int:order_id>")
def order_total(order_id):
    # db.session: this request's Session; Flask-SQLAlchemy removes it when the request ends.
    total = db.session.execute(sa.text("SELECT total FROM orders WHERE id = :id"), {"id": order_id}).scalar_one()
    return {"id": order_id, "total": str(total)}


@app.get("/health")
def health():
    db.session.execute(sa.text("SELECT 1"))
    return {"ok": True}


def run_jobs(order_ids):
    """Work outside any request (a CLI command, a queue consumer, a thread): no teardown
    runs between jobs, so end each job's session as a request would."""
    totals = []
    with app.app_context():
        for order_id in order_ids:
            try:
                totals.append(db.session.execute(sa.text("SELECT total FROM orders WHERE id = :id"),
                                                 {"id": order_id}).scalar_one())
                db.session.commit()
            finally:
                db.session.remove()  # rolls back what is left, gives the connection back
    return totals


def main():
    with app.app_context():
        db.session.execute(sa.text("SELECT 1"))  # fails here, not in a request, when no server answers
    client = app.test_client()
    responses = [client.get(f"/orders/{order_id}") for order_id in (1, 2, 3)]
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert len(run_jobs([1, 2, 3])) == 3
    with app.app_context():
        assert db.engine.pool.checkedout() == 0, "each request's and job's session was removed at its end"
        assert db.engine.pool._recycle == 280
        db.engine.dispose()
    print("answers:", [r.get_json() for r in responses])


if __name__ == "__main__":
    try:
        main()
    except sa.exc.OperationalError as exc:
        if exc.orig.args[0] == 2003:  # nothing answers at host:port
            sys.exit(f"error: no MySQL server at {URL.host}:{URL.port}: start one with `make db`")
        raise
