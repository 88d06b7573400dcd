"""The server's own view of connections. Read-only: every query here is a SELECT.

Each call opens a short admin connection and closes it, so looking never
leaves a connection behind (and never counts itself).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from .connection import connect

PROCESSLIST = """
    SELECT id, user, host, db, command, time AS idle_s, state, info
    FROM information_schema.processlist
    WHERE id <> CONNECTION_ID() {where}
    ORDER BY id
"""


def _select(sql: str, params: Iterable = ()) -> tuple[list[str], list[tuple]]:
    with connect("admin", database=None) as conn, conn.cursor() as cur:
        cur.execute(sql, tuple(params))
        return [d[0] for d in cur.description], list(cur.fetchall())


def processlist(user: str | None = None) -> tuple[list[str], list[tuple]]:
    """(columns, rows) of the server's sessions, optionally of one user only."""
    if user is None:
        return _select(PROCESSLIST.format(where=""))
    return _select(PROCESSLIST.format(where="AND user = %s"), (user,))


def connection_count(user: str | None = None) -> int:
    return len(processlist(user)[1])


def wait_for_count(user: str | None, expected: int, timeout: float = 5.0) -> int:
    """Poll until `user` has `expected` connections (the server ends sessions a moment
    after the client goes) or the timeout passes; return the last count seen."""
    deadline = time.monotonic() + timeout
    while True:
        count = connection_count(user)
        if count == expected or time.monotonic() > deadline:
            return count
        time.sleep(0.02)


# What a session is doing, from the processlist's Command column: the states a scenario
# waits for instead of sleeping and hoping the server got there.
SESSION_STATES = {"Sleep": "idle", "Query": "running", "Execute": "running"}


def session_state(session_id: int, cur) -> tuple[str, str]:
    """("running", "idle", "gone" or the server's own word for anything else, such as "killed";
    and the processlist's State column: what the statement is doing, e.g. "User sleep")."""
    cur.execute("SELECT command, state FROM information_schema.processlist WHERE id = %s", (session_id,))
    row = cur.fetchone()
    if row is None:
        return "gone", ""
    return SESSION_STATES.get(row[0], row[0].lower()), row[1] or ""


def wait_for_session(session_id: int, *states: str, doing: str | None = None, timeout: float = 15.0,
                     port: int | None = None) -> str:
    """Wait until the server shows session `session_id` in one of `states` and return the
    state seen: "running" (a statement executes), "idle" (it waits for the client) or
    "gone" (the server has ended it). `doing` also requires the statement's State, e.g.
    "User sleep": a statement is "running" from the moment the server reads it, and a
    KILL QUERY that lands before it starts executing is forgotten. The server's own view,
    polled every 10 ms from one admin connection:
    `SELECT command, state FROM information_schema.processlist WHERE id = %s`.
    Raises TimeoutError, naming the state last seen, after `timeout` seconds."""
    if not states or not set(states) <= {"running", "idle", "gone"}:
        raise ValueError(f"wait for 'running', 'idle' or 'gone', not {states!r}")
    with connect("admin", database=None, **({"port": port} if port else {})) as admin, admin.cursor() as cur:
        deadline = time.monotonic() + timeout
        while True:
            state, detail = session_state(session_id, cur)
            if state in states and (doing is None or detail == doing):
                return state
            if time.monotonic() > deadline:
                wanted = " or ".join(states) + (f" ({doing})" if doing else "")
                raise TimeoutError(f"session {session_id} was still {state!r} ({detail or 'no state'}) "
                                   f"after {timeout:.0f} s, not {wanted}")
            time.sleep(0.01)


def connections_of_pids(pids: Iterable[int]) -> list[tuple]:
    """Server sessions opened by these client processes (the `_pid` connect attribute
    that PyMySQL and libmysqlclient send; needs performance_schema)."""
    pids = [str(p) for p in pids]
    if not pids:
        return []
    marks = ", ".join(["%s"] * len(pids))
    return _select(
        f"""SELECT p.id, p.user, a.attr_value AS pid, p.command, p.time
            FROM performance_schema.session_connect_attrs a
            JOIN information_schema.processlist p ON p.id = a.processlist_id
            WHERE a.attr_name = '_pid' AND a.attr_value IN ({marks}) AND p.id <> CONNECTION_ID()""",
        pids,
    )[1]


def connections_left_by(pids: Iterable[int], settle: float = 5.0) -> list[tuple]:
    """Sessions these processes still hold, once the server has had up to `settle`
    seconds to end the ones they closed (it does so a moment after the client goes)."""
    pids = list(pids)
    deadline = time.monotonic() + settle
    while True:
        rows = connections_of_pids(pids)
        if not rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def show_rows(columns: list[str], rows: list[tuple]) -> None:
    """Print rows as an aligned text table (what `mysql` prints, without the boxes)."""
    cells = [[("NULL" if v is None else str(v))[:60] for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip())
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
    print(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")


def _like(text: str) -> str:
    """`text` as a LIKE pattern that matches it literally."""
    return text.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")


def _wait_for_rows(where: str, params: tuple, timeout: float, what: str) -> tuple[list[str], list[tuple]]:
    """Poll the processlist every 10 ms until `where` selects a session; raise TimeoutError,
    saying `what` never showed, after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        columns, rows = _select(PROCESSLIST.format(where=where), params)
        if rows:
            return columns, rows
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not show within {timeout} s")
        time.sleep(0.01)


def wait_for_statement(connection_id: int, starts_with: str, timeout: float = 5.0) -> tuple:
    """Poll until session `connection_id` is running a statement that starts with
    `starts_with` (then it is on the server, and its client is waiting for the answer);
    return that session's processlist row. Raises TimeoutError if it never shows."""
    return _wait_for_rows("AND id = %s AND info LIKE %s", (connection_id, _like(starts_with) + "%"), timeout,
                          f"session {connection_id} running {starts_with!r}")


def wait_for_statement_of(user: str, containing: str, timeout: float = 30.0) -> int:
    """The id of a session of `user` that runs a statement containing `containing` (a
    comment, a name of the run's own), once the server shows one. For a statement whose
    connection the caller cannot see: a helper that opens its own. Raises TimeoutError."""
    _, rows = _wait_for_rows("AND user = %s AND info LIKE %s", (user, f"%{_like(containing)}%"), timeout,
                             f"a statement of {user} containing {containing!r}")
    return rows[0][0]
