"""Every script in examples/ is a stand-alone program that runs against the server."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(path, tmp_path):
    # From another directory, with nothing but the environment: the way a reader runs it.
    # main() asserts what the example's page claims: a failed claim is a non-zero exit.
    result = subprocess.run([sys.executable, str(path)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip(), "an example prints what it did"


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_checks_what_it_shows(path):
    """Printing is not checking: each example's main() asserts (or raises on) its claim."""
    import ast

    tree = ast.parse(path.read_text())
    (main,) = [node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "main"]
    checks = [node for node in ast.walk(main) if isinstance(node, (ast.Assert, ast.Raise))]
    assert checks, f"{path.name}: main() checks nothing"


# --- what the examples' pages claim, checked from the server's side ------------------------

import functools  # noqa: E402
import threading  # noqa: E402

import dbconn  # noqa: E402
from dbconn import drivers  # noqa: E402


@pytest.fixture
def account():
    """An account of this test's own: the server counts its connections (performance_schema)."""
    account = dbconn.accounts.create("example")
    yield account
    dbconn.accounts.drop(account)


def connections_made(account) -> int:
    with dbconn.connect("admin") as conn, conn.cursor() as cur:
        cur.execute("SELECT COALESCE(SUM(total_connections), 0) FROM performance_schema.accounts WHERE user = %s",
                    (account.user,))
        return int(cur.fetchone()[0])


def as_account(module, account):
    """The example module, connecting as `account` (its DB settings come from MYSQL_*)."""
    module.DB.update(user=account.user, password=account.password)
    return module


def test_fetch_report_retries_a_read_whose_connection_was_killed(account):
    reports = as_account(dbconn.example("read_timeout"), account)
    with dbconn.kills.on_first_run(account.user) as first:
        rows = reports.fetch_report(f"SELECT {first.sleep}, COUNT(*) FROM orders", first.params, read_timeout=30)
    assert rows[0][1] > 0
    assert connections_made(account) == 2  # the first, killed; the retry


def test_fetch_report_does_not_rerun_a_read_the_server_stopped(account):
    reports = as_account(dbconn.example("read_timeout"), account)
    with pytest.raises(reports.pymysql.err.OperationalError) as stopped:
        reports.fetch_report("SELECT SLEEP(5)", read_timeout=3)  # the server's limit: 1 s
    assert stopped.value.args[0] in (1969, 3024)
    assert connections_made(account) == 1


def test_fetch_report_does_not_rerun_a_read_the_client_timed_out(account):
    reports = as_account(dbconn.example("read_timeout"), account)
    reports.SERVER_MARGIN = -10  # the server's limit after the client's: its own read_timeout fires first
    with pytest.raises(reports.pymysql.err.OperationalError) as timed_out:
        reports.fetch_report("SELECT SLEEP(2)", read_timeout=0.5)
    assert timed_out.value.args[0] == 2013 and "timed out" in timed_out.value.args[1]
    assert connections_made(account) == 1


@pytest.mark.parametrize("driver", drivers.DRIVERS, ids=lambda d: d.name)
def test_reconnect_wrapper_does_not_rerun_a_timed_out_read(driver):
    wrapper = dbconn.example("reconnect_wrapper")
    reader = wrapper.ReconnectingConnection(functools.partial(driver.connect, read_timeout=1), read_timeout=1)
    first = reader._conn
    try:
        with pytest.raises(Exception) as failed:
            reader.read("SELECT SLEEP(2)")
        assert wrapper.timed_out(failed.value, 1, 1)
        assert reader._conn is first, "the wrapper reconnected and ran the timed-out read again"
    finally:
        reader.close()


@pytest.mark.parametrize("driver", drivers.DRIVERS, ids=lambda d: d.name)
def test_reconnect_wrapper_reruns_a_read_killed_while_it_ran(driver):
    wrapper = dbconn.example("reconnect_wrapper")
    reader = wrapper.ReconnectingConnection(driver.connect)
    first = reader._conn
    try:
        with dbconn.kills.on_first_run(dbconn.settings.APP.user) as first:
            rows = reader.read(f"SELECT {first.sleep}, 42", first.params)
        assert rows[0][1] == 42 and reader._conn is not first
    finally:
        reader.close()


def test_stream_rows_lets_2013_through_and_leaves_nothing_for_the_garbage_collector():
    import gc
    import sys

    streaming = dbconn.example("streaming")
    table = dbconn.tables.numbered_table("stream", rows=100_000, payload_bytes=200)
    gc.collect()  # what earlier tests left is theirs, not this example's
    ignored, printing_hook = [], sys.unraisablehook
    sys.unraisablehook = ignored.append
    try:
        with dbconn.connect() as conn:
            rows = streaming.stream_rows(conn, f"SELECT id, payload FROM {table} ORDER BY id", net_write_timeout=1)
            next(rows)  # then the consumer stalls, until the server gives up on it
            dbconn.introspect.wait_for_session(conn.thread_id(), "gone", timeout=30)
            code = None
            try:
                for _ in rows:
                    pass
            except streaming.pymysql.err.OperationalError as exc:  # not kept: its traceback holds the cursor
                code = exc.args[0]
        del rows, conn  # the cursor, its result and the connection: each has a finalizer
        gc.collect()
    finally:
        sys.unraisablehook = printing_hook
        dbconn.tables.drop_table(table)
    assert code == 2013
    assert not ignored, [str(u.exc_value) for u in ignored]


@pytest.mark.parametrize("listener", [False, True], ids=["dialect alone", "with the handle_error listener"])
def test_mysqlconnector_listener_makes_connection_not_available_a_disconnect(listener):
    import sqlalchemy as sa

    example = dbconn.example("sqlalchemy_mysqlconnector")
    engine = drivers.CONNECTOR.engine()
    if listener:
        example.count_connection_not_available_as_disconnect(engine)
    try:
        with engine.connect() as conn:
            session = conn.execute(sa.text("SELECT CONNECTION_ID()")).scalar_one()
            with dbconn.connect("admin") as admin, admin.cursor() as cur:
                cur.execute("KILL %s", (session,))
            dbconn.introspect.wait_for_session(session, "gone", timeout=30)
            with pytest.raises(sa.exc.DBAPIError) as failed:
                conn.execute(sa.text("SELECT 1"))
            assert failed.value.orig.errno == -1  # "MySQL Connection not available"
            assert failed.value.connection_invalidated == listener
            if listener:
                conn.rollback()
                assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
            else:
                with pytest.raises(sa.exc.OperationalError):  # the rollback goes down the dead connection
                    conn.rollback()
    finally:
        engine.dispose()


def test_a_connection_killing_itself_is_a_disconnect():
    """MariaDB answers 1927 'Connection was killed' to the statement that kills its own connection."""
    wrapper = dbconn.example("reconnect_wrapper")
    conn = dbconn.connect()
    try:
        with pytest.raises(Exception) as killed, conn.cursor() as cur:
            cur.execute("KILL CONNECTION_ID()")
        assert wrapper.is_disconnect(killed.value), killed.value
    finally:
        conn.close()


# --- run_transaction: what it retries, and what it does not ------------------------------


@pytest.fixture
def counters():
    """A table of this test's own: two rows to update, and one connection factory."""
    import secrets

    table = f"counters_{secrets.token_hex(3)}"
    with dbconn.connect(autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY, n INT NOT NULL) ENGINE=InnoDB")
        cur.execute(f"INSERT INTO {table} VALUES (1, 0), (2, 0)")
    yield table
    with dbconn.connect(autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"DROP TABLE {table}")


def values(table):
    with dbconn.connect() as conn, conn.cursor() as cur:
        cur.execute(f"SELECT n FROM {table} ORDER BY id")
        return [n for (n,) in cur.fetchall()]


def connect_app(**options):
    return functools.partial(dbconn.connect, **options)


@pytest.mark.parametrize("idempotent", [False, True])
def test_run_transaction_retries_a_failed_commit_only_when_told_it_is_idempotent(counters, idempotent):
    wrapper = dbconn.example("reconnect_wrapper")
    attempts = []

    def work(cur):
        attempts.append(1)
        cur.execute(f"UPDATE {counters} SET n = n + 1 WHERE id = 1")
        if len(attempts) == 1:  # the connection dies after the last statement, before COMMIT
            cur.execute("SELECT CONNECTION_ID()")
            session = cur.fetchone()[0]
            with dbconn.connect("admin") as admin, admin.cursor() as killer:
                killer.execute("KILL %s", (session,))
            dbconn.introspect.wait_for_session(session, "gone", timeout=30)

    if idempotent:
        wrapper.run_transaction(work, connect_app(), wait=0.05, idempotent=True)
        assert len(attempts) == 2 and values(counters) == [1, 0]
    else:
        with pytest.raises(Exception) as failed:
            wrapper.run_transaction(work, connect_app(), wait=0.05)
        assert wrapper.is_disconnect(failed.value) and len(attempts) == 1


def test_run_transaction_runs_both_sides_of_a_deadlock_to_the_end(counters):
    """Two transactions lock the same two rows in opposite orders: the server rolls one
    back with 1213, and run_transaction runs it again."""
    wrapper = dbconn.example("reconnect_wrapper")
    both_hold_one = threading.Barrier(2, timeout=10)
    attempts = {"a": 0, "b": 0}

    def transfer(name, first, second):
        def work(cur):
            attempts[name] += 1
            cur.execute(f"UPDATE {counters} SET n = n + 1 WHERE id = %s", (first,))
            if attempts[name] == 1:
                both_hold_one.wait()  # each holds one row; each now asks for the other's
            cur.execute(f"UPDATE {counters} SET n = n + 1 WHERE id = %s", (second,))
        return lambda: wrapper.run_transaction(work, connect_app(), wait=0.05)

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        for job in [pool.submit(transfer("a", 1, 2)), pool.submit(transfer("b", 2, 1))]:
            job.result()  # raises what the transaction raised
    assert values(counters) == [2, 2]  # both transactions, each once
    assert sorted(attempts.values()) == [1, 2]  # one was the deadlock's victim, and ran again


def test_run_transaction_retries_a_lock_wait_timeout(counters):
    wrapper = dbconn.example("reconnect_wrapper")
    holder = dbconn.connect()
    with holder.cursor() as cur:
        cur.execute(f"UPDATE {counters} SET n = n + 10 WHERE id = 1")  # holds the row's lock, uncommitted
    attempts = []

    def work(cur):
        attempts.append(1)
        if len(attempts) == 2:
            holder.commit()  # meanwhile, the other transaction ends
        cur.execute("SET SESSION innodb_lock_wait_timeout = 1")
        cur.execute(f"UPDATE {counters} SET n = n + 1 WHERE id = 1")

    try:
        wrapper.run_transaction(work, connect_app(), wait=0.05)
    finally:
        holder.close()
    assert len(attempts) == 2 and values(counters) == [11, 0]


def test_run_transaction_waits_for_a_server_that_does_not_answer_yet(counters):
    from test_server import free_port

    wrapper = dbconn.example("reconnect_wrapper")
    connects = iter([connect_app(port=free_port()), connect_app()])  # nothing listens there, then the server

    def work(cur):
        cur.execute(f"UPDATE {counters} SET n = n + 1 WHERE id = 2")

    wrapper.run_transaction(work, lambda: next(connects)(), wait=0.05)
    assert values(counters) == [0, 1]
