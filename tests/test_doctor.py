"""`python -m dbconn doctor`, run as a reader runs it, against real servers."""

from __future__ import annotations

import json
import time

import pytest

import dbconn
from dbconn import server, settings
from test_server import free_port, one_line_error, run

KEYS = {
    "server": {"flavour", "version", "host", "port", "connections_now"},
    "account": {"user", "own_max_user_connections", "effective_max_user_connections", "limit_source",
                "connections_now", "max_queries_per_hour", "max_updates_per_hour", "max_connections_per_hour"},
    "variables": {"wait_timeout", "interactive_timeout", "max_connections", "max_user_connections",
                  "net_read_timeout", "net_write_timeout", "max_allowed_packet", "statement_timeout"},
    "workload": {"processes", "threads_per_process"},
}


def doctor(*args):
    result = run("-m", "dbconn", "doctor", "--json", *args)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def advice(report, key):
    return next(r for r in report["recommendations"] if r["id"] == key)


@pytest.fixture
def limited_account():
    account = dbconn.accounts.create("doctor", max_user_connections=10)
    yield account
    dbconn.accounts.drop(account)


def test_app_account_on_the_lab_server_is_healthy_and_keys_are_stable():
    code, report = doctor()
    assert code == 0 and report["status"] == "healthy"
    assert set(report) == {*KEYS, "sessions", "not_visible", "recommendations", "status"}
    for section, keys in KEYS.items():
        assert set(report[section]) == keys, section
    assert report["account"]["user"] == settings.APP.user
    assert report["variables"]["statement_timeout"]["name"] in ("max_statement_time", "max_execution_time")
    # `app` has no PROCESS privilege: the doctor says what it could not see.
    assert report["sessions"] is None and report["not_visible"]


def test_text_report_shows_the_numbers():
    result = run("-m", "dbconn", "doctor")
    assert result.returncode == 0
    assert "wait_timeout" in result.stdout and "pool_recycle=" in result.stdout and "Status      healthy" in result.stdout


def test_account_limit_below_a_default_pool_is_urgent(limited_account):
    code, report = doctor("--url", settings.url(limited_account), "--processes", "4")
    assert code == 1 and report["status"] == "urgent"
    assert report["account"]["own_max_user_connections"] == 10
    assert report["account"]["limit_source"] == "account"
    pool = advice(report, "pool_size")
    # 4 processes share 10 - 1 spare: 2 each; a default pool would allow 4 x 15 = 60.
    assert pool["severity"] == "urgent" and pool["setting"] == "pool_size=2, max_overflow=0"
    assert "would allow 60" in pool["why"]


def test_short_wait_timeout():
    with server.private_server("--wait-timeout=30") as private:
        code, report = doctor("--url", settings.url("app", port=private.port))
        assert report["variables"]["wait_timeout"] == {"session": 30, "global": 30}
        recycle = advice(report, "pool_recycle")
        assert code == 1 and recycle["severity"] == "urgent" and recycle["setting"] == "pool_recycle=25"
        # wait_timeout bounds Django's CONN_MAX_AGE too.
        django = advice(report, "django")["setting"]
        assert django == "WSGI: CONN_MAX_AGE=25, CONN_HEALTH_CHECKS=True; ASGI: CONN_MAX_AGE=0"


def test_django_advice_is_what_djangos_docs_say():
    """A modest CONN_MAX_AGE with health checks under WSGI, not wait_timeout minus a minute;
    CONN_MAX_AGE=0 under ASGI ("When using ASGI, persistent connections should be disabled")."""
    code, report = doctor()
    assert report["variables"]["wait_timeout"]["session"] > 60
    django = advice(report, "django")
    assert django["setting"] == "WSGI: CONN_MAX_AGE=60, CONN_HEALTH_CHECKS=True; ASGI: CONN_MAX_AGE=0"
    assert "persistent connections should be disabled" in django["why"]


def test_hourly_quotas_are_read_and_budgeted():
    """1226 also names the account's hourly quotas; the doctor reads them (SHOW CREATE USER) and
    counts what a recycling pool spends of max_connections_per_hour."""
    account = settings.Account("hourly", "local-only")
    with server.private_server("--wait-timeout=300") as private:  # a server of its own: dropped with it
        with dbconn.connect("admin", port=private.port, database=None) as admin, admin.cursor() as cur:
            cur.execute("CREATE USER 'hourly'@'%%' IDENTIFIED BY %s WITH MAX_CONNECTIONS_PER_HOUR 50 "
                        "MAX_QUERIES_PER_HOUR 1000", (account.password,))
        code, report = doctor("--url", settings.url(account, port=private.port, database=None), "--processes", "4")
    assert report["account"]["max_connections_per_hour"] == 50 and report["account"]["max_queries_per_hour"] == 1000
    assert report["account"]["max_updates_per_hour"] == 0
    hourly = advice(report, "connections_per_hour")
    # 4 processes x 5 pooled connections, recycled every 280 s: about 258 connects an hour, more than 50.
    assert code == 1 and hourly["severity"] == "urgent" and "about 258 per hour" in hourly["why"]
    assert "1000 queries per hour" in advice(report, "queries_per_hour")["why"]


def test_a_shared_max_connections_is_budgeted_as_shared():
    """With no per-account limit, max_connections is every account's: the doctor budgets
    only what the other accounts leave (Threads_connected, which any account may read)."""
    with server.private_server("--max-connections=20") as private:
        others = [dbconn.connect("admin", port=private.port) for _ in range(8)]
        try:
            code, report = doctor("--url", settings.url("app", port=private.port), "--processes", "2")
        finally:
            for conn in others:
                conn.close()
    assert report["account"]["limit_source"].startswith("max_connections")
    assert report["server"]["connections_now"] == 9  # the 8 and the doctor's own
    pool = advice(report, "pool_size")
    # 20 - 8 held by others - 1 spare = 11, for 2 processes: 5 each, and no overflow.
    assert pool["setting"] == "pool_size=5, max_overflow=0", pool
    assert "8 of them held by other accounts now" in pool["why"] and code == 1


def test_admin_sees_sessions_and_flags_those_idle_near_the_timeout():
    with server.private_server("--wait-timeout=3") as private:
        idle = dbconn.connect("app", port=private.port)
        try:
            with idle.cursor() as cur:
                cur.execute("SET SESSION wait_timeout = 600")  # it outlives the global 3 s
            time.sleep(3.2)
            code, report = doctor("--url", settings.url("admin", port=private.port))
        finally:
            idle.close()
    groups = {(g["user"], g["command"]): g for g in report["sessions"]}
    assert groups[(settings.APP.user, "Sleep")]["idle_near_timeout"] == 1
    assert advice(report, "idle_sessions")["setting"] == "look for leaks"
    assert report["not_visible"] == []


def test_account_without_any_privilege():
    account = dbconn.settings.Account("doctor_nopriv", "local-only")
    with dbconn.connect("admin") as conn, conn.cursor() as cur:
        cur.execute("CREATE USER IF NOT EXISTS 'doctor_nopriv'@'%' IDENTIFIED BY 'local-only'")
    try:
        result = run("-m", "dbconn", "doctor", "--json", "--url", settings.url(account, database=None))
        assert result.returncode in (0, 1), result.stderr
        assert json.loads(result.stdout)["sessions"] is None
    finally:
        with dbconn.connect("admin") as conn, conn.cursor() as cur:
            cur.execute("DROP USER 'doctor_nopriv'@'%'")


@pytest.mark.parametrize("target, expected", [
    (lambda: settings.url(settings.Account("x", "y"), port=free_port()), "nothing answers there"),
    (lambda: settings.url(settings.Account(settings.APP.user, "wrong")), "check the user name and password"),
    (lambda: "postgresql://u:p@127.0.0.1/db", "is not a MySQL URL"),
])
def test_cannot_connect_is_one_line_and_exit_2(target, expected):
    result = run("-m", "dbconn", "doctor", "--url", target())
    assert result.returncode == 2
    assert expected in one_line_error(result)
