"""dbconn.kills lands its kill mid-statement, and dbconn.introspect finds the statement
by its text, literally."""

import threading

import pymysql
import pytest

import dbconn

APP = dbconn.settings.APP.user


def test_kill_query_lands_on_the_first_run_and_a_second_run_is_short():
    with dbconn.connect() as conn, conn.cursor() as cur:
        with dbconn.kills.on_first_run(APP, what="QUERY") as first:
            with pytest.raises(pymysql.err.OperationalError) as killed:
                cur.execute(f"SELECT {first.sleep}", first.params)
            cur.execute(f"SELECT {first.sleep}", first.params)  # the lock is held: 0.1 s
            assert cur.fetchone() == (0,)  # SLEEP ran to its end
        assert killed.value.args[0] == 1317
        assert first.session == conn.thread_id()


def test_a_statement_that_never_runs_is_reported_on_exit():
    with pytest.raises(TimeoutError, match="did not show within"):
        with dbconn.kills.on_first_run(APP, timeout=0.2):
            pass


def test_only_kill_connection_or_kill_query():
    with pytest.raises(ValueError, match="KILL CONNECTION or KILL QUERY"):
        with dbconn.kills.on_first_run(APP, what="USER"):
            pass


def test_a_statement_is_found_by_its_text_taken_literally():
    with dbconn.connect() as conn:
        running = threading.Thread(target=lambda: conn.cursor().execute("SELECT 'axb', SLEEP(1)"))
        running.start()
        try:
            assert dbconn.introspect.wait_for_statement_of(APP, "'axb'") == conn.thread_id()
            with pytest.raises(TimeoutError):
                dbconn.introspect.wait_for_statement_of(APP, "'a_b'", timeout=0.2)  # "_" is no wildcard
        finally:
            running.join()
