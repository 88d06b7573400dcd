"""`python -m dbconn doctor`: read a server's connection settings and do the arithmetic.

Read-only: it runs SELECT and SHOW statements only, changes no setting, and
works for an account without privileges (it says what it could not see).
Exit status: 0 healthy, 1 when a recommendation is urgent, 2 when it cannot connect
or its --url cannot be read. Whatever listens at the address, it answers within
about 2 x --timeout seconds (TIMEOUT by default): the handshake is bounded too.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict

import pymysql

from . import settings
from .connection import bounded, failure

HEALTHY, URGENT, CANNOT_CONNECT = 0, 1, 2
TIMEOUT = 5  # seconds for the TCP connect, and for each read and write of the handshake
DEFAULT_POOL = 5 + 10  # SQLAlchemy's QueuePool: pool_size=5, max_overflow=10
# Django under WSGI: a modest CONN_MAX_AGE saves a connect per request without every
# thread holding a session for hours. wait_timeout only bounds it.
DJANGO_MAX_AGE = 60
NEAR_TIMEOUT = 0.8  # an idle session past this share of wait_timeout is flagged
# An account's hourly quotas: the same error 1226 names each when it is spent.
HOURLY = ("max_queries_per_hour", "max_updates_per_hour", "max_connections_per_hour")
VARIABLES = (
    "wait_timeout", "interactive_timeout", "max_connections", "max_user_connections",
    "net_read_timeout", "net_write_timeout", "max_allowed_packet",
    "max_execution_time", "max_statement_time",
)


class CannotConnect(Exception):
    pass


URL_FORM = "mysql+pymysql://user:password@host:port/db"


def connection_args(url: str | None, timeout: float = TIMEOUT) -> dict:
    """PyMySQL arguments from a SQLAlchemy URL, or from the MYSQL_* settings. A URL that
    cannot be read raises CannotConnect; the message never repeats the URL (its password)."""
    if url is None:
        try:
            return settings.pymysql_args("app", **bounded(timeout))
        except settings.SettingError as exc:
            raise CannotConnect(str(exc)) from None
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise CannotConnect(f"--url is not a URL: use {URL_FORM}") from None
    except ValueError as exc:  # a port that is not a number, an unclosed [IPv6 address]
        raise CannotConnect(f"--url cannot be read ({exc}): use {URL_FORM}") from None
    if not parsed.drivername.startswith(("mysql", "mariadb")):
        raise CannotConnect(f"{parsed.drivername}:// is not a MySQL URL: use {URL_FORM}")
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        raise CannotConnect(f"--url's port {parsed.port} is not a TCP port (1-65535): use {URL_FORM}")
    return dict(host=parsed.host or "127.0.0.1", port=parsed.port or 3306, user=parsed.username or "",
                password=parsed.password or "", database=parsed.database, **bounded(timeout))


def connect(args: dict) -> pymysql.connections.Connection:
    where = f"{args['host']}:{args['port']}"
    try:
        return pymysql.connect(**args)
    except Exception as exc:  # whatever a non-MySQL endpoint makes the driver raise
        state, detail = failure(exc, args["connect_timeout"])
        code = exc.args[0] if isinstance(exc, pymysql.err.OperationalError) else None
        if state == "not-mysql":
            raise CannotConnect(f"cannot connect to {where}: {detail}: is it a MySQL server? "
                                f"check the host and port") from None
        advice = {
            2003: "nothing answers there: is the server running (for the lab: make db)?",
            1045: "check the user name and password",
            1226: "the account already holds all the connections it may: look for a leak (see error 1226)",
            1040: "the server is at max_connections: look for a leak (see error 1040)",
        }.get(code, "check the host, port and credentials")
        raise CannotConnect(f"cannot connect to {where} as {args['user']!r}: ({code}) {exc.args[-1]}: {advice}") \
            from None


def read(conn, processes: int = 1, threads: int = 1) -> dict:
    """examine(), with a connection that fails half-way said in one line."""
    try:
        return examine(conn, processes=processes, threads=threads)
    except pymysql.err.Error as exc:
        raise CannotConnect(f"the server at {conn.host}:{conn.port} failed while the doctor read its "
                            f"settings: {exc.args[-1] if exc.args else exc}") from None


def examine(conn, processes: int = 1, threads: int = 1) -> dict:
    """Everything the report says, as one JSON-ready dict with stable keys."""
    with conn.cursor() as cur:
        cur.execute("SELECT VERSION(), CURRENT_USER(), @@session.wait_timeout, @@global.wait_timeout, "
                    "@@session.interactive_timeout, @@global.interactive_timeout")
        version, current_user, wait_s, wait_g, inter_s, inter_g = cur.fetchone()
        marks = ", ".join(["%s"] * len(VARIABLES))
        cur.execute(f"SHOW GLOBAL VARIABLES WHERE Variable_name IN ({marks})", VARIABLES)
        global_vars = {name: _number(value) for name, value in cur.fetchall()}
        cur.execute("SHOW CREATE USER CURRENT_USER()")
        create_user = cur.fetchone()[0]
        own_limit = _own_limit(create_user)
        hourly = {name: _account_limit(create_user, name) for name in HOURLY}
        cur.execute("SHOW GRANTS")
        sees_all = _sees_all_sessions(row[0] for row in cur.fetchall())
        cur.execute("SELECT user, host, command, time FROM information_schema.processlist WHERE id <> CONNECTION_ID()")
        sessions = cur.fetchall()
        cur.execute("SHOW GLOBAL STATUS LIKE 'Threads_connected'")  # every account's, without any privilege
        server_connections = int(cur.fetchone()[1])

    user = current_user.rsplit("@", 1)[0]
    flavour = "mariadb" if "mariadb" in version.lower() else "mysql"
    statement_timeout = "max_statement_time" if flavour == "mariadb" else "max_execution_time"
    limit, source = _effective_limit(own_limit, global_vars["max_user_connections"], global_vars["max_connections"])
    report = {
        "server": {"flavour": flavour, "version": version, "host": conn.host, "port": conn.port,
                   "connections_now": server_connections},
        "account": {
            "user": user,
            "own_max_user_connections": own_limit,
            "effective_max_user_connections": limit,
            "limit_source": source,
            "connections_now": 1 + sum(1 for s in sessions if s[0] == user),  # + the doctor's own
            **hourly,
        },
        "variables": {
            "wait_timeout": {"session": wait_s, "global": wait_g},
            "interactive_timeout": {"session": inter_s, "global": inter_g},
            "max_connections": global_vars["max_connections"],
            "max_user_connections": global_vars["max_user_connections"],
            "net_read_timeout": global_vars["net_read_timeout"],
            "net_write_timeout": global_vars["net_write_timeout"],
            "max_allowed_packet": global_vars["max_allowed_packet"],
            "statement_timeout": {"name": statement_timeout, "value": global_vars.get(statement_timeout)},
        },
        "sessions": _group(sessions, wait_g) if sees_all else None,
        "not_visible": [] if sees_all else [
            "other accounts' sessions: this account lacks the PROCESS privilege, so `sessions` is null"
        ],
        "workload": {"processes": processes, "threads_per_process": threads},
    }
    report["recommendations"] = recommend(report)
    report["status"] = "urgent" if any(r["severity"] == "urgent" for r in report["recommendations"]) else "healthy"
    return report


def recommend(report: dict) -> list[dict]:
    """Recommendations, each with its reasoning; severity is 'urgent', 'advice' or 'note'."""
    wait = report["variables"]["wait_timeout"]["session"]
    limit = report["account"]["effective_max_user_connections"]
    processes = report["workload"]["processes"]
    threads = report["workload"]["threads_per_process"]
    out = []

    def add(key, severity, setting, why):
        out.append({"id": key, "severity": severity, "setting": setting, "why": why})

    recycle = recycle_seconds(wait)
    if recycle < 1:
        add("wait_timeout_short", "urgent", "raise wait_timeout, or use NullPool",
            f"wait_timeout is {wait} s: every pooled connection dies within seconds of idling, "
            f"and a default pool (no pool_recycle) fails on its next use.")
    else:
        severity = "urgent" if wait < 60 else "advice"
        add("pool_recycle", severity, f"pool_recycle={recycle}",
            f"The server closes connections idle for {wait} s (wait_timeout); recycle them {wait - recycle} s "
            f"earlier, at checkout, so that a pooled connection is not used after wait_timeout closed it. "
            f"A NAT gateway, firewall, load balancer or proxy on the way may drop idle connections sooner: "
            f"stay below the smallest idle timeout on the path."
            + (" With a timeout this short a default pool fails after one quiet minute." if wait < 60 else ""))
    add("pool_pre_ping", "advice", "pool_pre_ping=True",
        "Tests each connection at checkout (a ping, about one round trip) and replaces a dead one: covers what "
        "pool_recycle cannot (a server restart, KILL, a failover). Neither helps a connection held across a pause.")

    # max_connections, when it is the limit, is shared: what other accounts hold now is theirs.
    shared = report["account"]["limit_source"].startswith("max_connections")
    others = max(report["server"]["connections_now"] - report["account"]["connections_now"], 0) if shared else 0
    budget = limit - others
    spare = 1 if budget > 2 else 0
    per_process = (budget - spare) // processes
    total_default = processes * DEFAULT_POOL
    pool_size = min(5, per_process)  # SQLAlchemy's defaults when they fit, else the share
    held = (f", {others} of them held by other accounts now, which this budget leaves to them" if shared else "")
    if per_process < 1:
        add("pool_size", "urgent", "fewer processes, or a higher limit",
            f"{processes} processes cannot each have a connection within a limit of {limit}{held}.")
    else:
        severity = "urgent" if total_default > budget else "advice"
        overflow = min(10, per_process - pool_size)
        add("pool_size", severity, f"pool_size={pool_size}, max_overflow={overflow}",
            f"{processes} process(es) x (pool_size + max_overflow) must stay within {budget - spare} "
            f"({report['account']['limit_source']} limit {limit}{held}; {spare} kept spare for you to debug "
            f"with). A default pool (5 + 10) would allow {total_default}"
            + (f": more than that, so a busy moment ends in error {REFUSED_WITH[report['account']['limit_source']]}."
               if total_default > budget else "."))
    _hourly_advice(report, add, recycle, pooled=processes * (pool_size if per_process >= 1 else 0))
    django_threads = processes * threads
    max_age = max(min(DJANGO_MAX_AGE, recycle), 0)
    add("django", "urgent" if django_threads > limit else "advice",
        f"WSGI: CONN_MAX_AGE={max_age}, CONN_HEALTH_CHECKS=True; ASGI: CONN_MAX_AGE=0",
        f"Django keeps one connection per thread: {processes} process(es) x {threads} thread(s) = {django_threads} "
        f"connections against a limit of {limit}, each held for up to CONN_MAX_AGE seconds. Under WSGI a modest "
        f"CONN_MAX_AGE saves a connect per request; it must stay below wait_timeout ({wait} s), so at most "
        f"{max(recycle, 0)}. Under ASGI, Django's documentation says persistent connections should be disabled: "
        f"CONN_MAX_AGE=0. Outside the request cycle (commands, Celery) call close_old_connections() yourself, "
        f"between units of work.")
    if report["sessions"]:
        near = sum(group["idle_near_timeout"] for group in report["sessions"])
        if near:
            add("idle_sessions", "advice", "look for leaks",
                f"{near} session(s) idle past {int(NEAR_TIMEOUT * 100)}% of wait_timeout: connections nobody uses "
                f"(a leak, or a pool without pool_recycle); the server will close them and their next use fails.")
    return out


def _hourly_advice(report: dict, add, recycle: int, pooled: int) -> None:
    """The account's hourly quotas: 1226 names each when it is spent, and only the next hour
    lifts it; no leak hunt helps."""
    account = report["account"]
    per_hour = account["max_connections_per_hour"]
    if per_hour:
        opened = math.ceil(pooled * 3600 / max(recycle, 1))
        add("connections_per_hour", "urgent" if opened > per_hour else "advice",
            f"keep connections open: a pool, pool_recycle={recycle} or more",
            f"The account may open {per_hour} connections per hour; then every connect fails with 1226 "
            f"'max_connections_per_hour' until the hour is over. {pooled} pooled connection(s) recycled every "
            f"{recycle} s open about {opened} per hour, before any reconnect after a drop; a connection per "
            f"request (NullPool, no pool) opens one per request.")
    quotas = [f"{account[name]} {_quota_name(name)}" for name in ("max_queries_per_hour", "max_updates_per_hour")
              if account[name]]
    if quotas:
        add("queries_per_hour", "advice", "count statements, or ask for a higher quota",
            f"The account may run {' and '.join(quotas)} per hour; past that, 1226 'max_questions' or "
            f"'max_updates' until the hour is over. That is a quota, not a leak.")


def _quota_name(name: str) -> str:
    """max_queries_per_hour -> queries"""
    return name.removeprefix("max_").removesuffix("_per_hour")


def recycle_seconds(wait_timeout: int) -> int:
    """A pool_recycle safely below wait_timeout: 300 -> 280, 28800 -> 28740."""
    margin = min(max(wait_timeout // 15, 5), 60)
    return wait_timeout - margin


def _number(value: str) -> int | float:
    number = float(value)
    return int(number) if number.is_integer() else number


def _own_limit(create_user: str) -> int:
    return _account_limit(create_user, "max_user_connections")


def _account_limit(create_user: str, name: str) -> int:
    """A limit from SHOW CREATE USER's WITH clause (MAX_QUERIES_PER_HOUR 100 ...); 0 for none."""
    match = re.search(rf"\b{name.upper()} (\d+)", create_user)
    return int(match.group(1)) if match else 0


# The error a connect past each kind of limit gets.
REFUSED_WITH = {
    "account": 1226,
    "server-wide max_user_connections": 1203,
    "max_connections (shared by all accounts)": 1040,
}


def _effective_limit(own: int, global_limit: int, max_connections: int) -> tuple[int, str]:
    if own > 0:
        return own, "account"
    if global_limit > 0:
        return min(global_limit, max_connections), "server-wide max_user_connections"
    return max_connections, "max_connections (shared by all accounts)"


def _sees_all_sessions(grants) -> bool:
    for grant in grants:
        head = grant.split(" TO ")[0]
        if " ON *.*" in head and ("ALL PRIVILEGES" in head or re.search(r"\bPROCESS\b", head)):
            return True
    return False


def _group(sessions, wait_timeout: int) -> list[dict]:
    groups: dict[tuple, list[int]] = defaultdict(list)
    for user, host, command, idle in sessions:
        groups[(user, (host or "").rsplit(":", 1)[0], command)].append(idle or 0)
    return [
        {"user": user, "host": host, "command": command, "count": len(idles), "max_idle_s": max(idles),
         "idle_near_timeout": sum(1 for i in idles if command == "Sleep" and i > NEAR_TIMEOUT * wait_timeout)}
        for (user, host, command), idles in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    ]


def render(report: dict) -> str:
    s, a, v = report["server"], report["account"], report["variables"]
    lines = [
        f"Server      {s['flavour']} {s['version']} at {s['host']}:{s['port']}",
        f"Account     {a['user']}: {a['connections_now']} connection(s) open now (this one included), "
        f"limit {a['effective_max_user_connections']} ({a['limit_source']})",
        "Per hour    " + ", ".join(f"{_quota_name(name)} {a[name]}" for name in HOURLY) + " (0 = no quota)",
        "",
        "Settings    session / global",
        f"  wait_timeout          {v['wait_timeout']['session']} / {v['wait_timeout']['global']} s",
        f"  interactive_timeout   {v['interactive_timeout']['session']} / {v['interactive_timeout']['global']} s",
        f"  max_connections       {v['max_connections']}",
        f"  max_user_connections  {v['max_user_connections']} (server-wide; 0 = none), "
        f"{a['own_max_user_connections']} (this account's own; 0 = none)",
        f"  net_read_timeout      {v['net_read_timeout']} s",
        f"  net_write_timeout     {v['net_write_timeout']} s",
        f"  max_allowed_packet    {v['max_allowed_packet']} bytes",
        f"  {v['statement_timeout']['name']:<21} {v['statement_timeout']['value']} (0 = none)",
        "",
    ]
    if report["sessions"] is None:
        lines.append("Sessions    not visible: " + "; ".join(report["not_visible"]))
    else:
        lines.append("Sessions    user / host / command: count, longest idle")
        for g in report["sessions"]:
            flag = f"  <- {g['idle_near_timeout']} idle near wait_timeout" if g["idle_near_timeout"] else ""
            lines.append(f"  {g['user']} / {g['host']} / {g['command']}: {g['count']}, {g['max_idle_s']} s{flag}")
    w = report["workload"]
    lines += ["", f"Recommendations for {w['processes']} process(es) x {w['threads_per_process']} thread(s)"]
    for r in report["recommendations"]:
        lines.append(f"  [{r['severity']}] {r['setting']}")
        lines.append(f"      {r['why']}")
    lines += ["", f"Status      {report['status']}"]
    return "\n".join(lines)
