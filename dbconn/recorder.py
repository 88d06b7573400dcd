"""Record what the server sees while a scenario runs: its sessions (user, command,
idle time, state), Threads_connected and Aborted_clients, sampled every `interval`
seconds from one admin connection of its own, with timestamps. The plots
(dbconn.plots) are drawn from these samples. Read-only; stops by itself.

    with Recorder(users={account.user}) as rec:
        ...                        # the scenario
        rec.mark("3rd connect refused")
    rec.sessions_of(account.user)  # [(t, count), ...]
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from .connection import connect

# TIME_MS (MariaDB) gives idle time to the millisecond; MySQL has whole seconds in TIME.
# Sessions the server holds, not connections it is still accepting or refusing (a 1226
# shows for a moment as a third 'Connect' of an account limited to 2) or tearing down.
_SESSIONS = """
    SELECT id, user, command, {idle} AS idle_s, COALESCE(state, '')
    FROM information_schema.processlist WHERE id <> CONNECTION_ID() AND command NOT IN ('Connect', 'Killed')
"""
_STATUS = "SHOW GLOBAL STATUS WHERE Variable_name IN ('Threads_connected', 'Aborted_clients')"


@dataclass(frozen=True)
class Session:
    id: int
    user: str
    command: str  # Sleep (idle), Query, ...
    idle_s: float  # seconds in the current command
    state: str


@dataclass(frozen=True)
class Sample:
    t: float  # seconds since the recording started
    sessions: tuple[Session, ...]
    threads_connected: int
    aborted_clients: int


@dataclass
class Recorder:
    users: set[str] | None = None  # None: every user's sessions
    interval: float = 0.05
    max_seconds: float = 60.0  # stops by itself, even if the scenario never ends
    samples: list[Sample] = field(default_factory=list)
    marks: list[tuple[float, str]] = field(default_factory=list)  # (t, what the scenario did)
    points: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # client-side series

    def __enter__(self) -> Recorder:
        self._conn = connect("admin", database=None)
        with self._conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM information_schema.columns "
                        "WHERE table_schema = 'information_schema' AND table_name = 'PROCESSLIST' "
                        "AND column_name = 'TIME_MS'")
            self._idle = "time_ms / 1000" if cur.fetchone()[0] else "time"
        self._stop = threading.Event()
        self._start = time.monotonic()
        self._sample()  # the state before the scenario's first step
        self._thread = threading.Thread(target=self._run, name="dbconn-recorder", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        try:
            self._sample()  # and after its last
        finally:
            self._conn.close()

    def now(self) -> float:
        return time.monotonic() - self._start

    def mark(self, label: str) -> None:
        """Note a moment of the scenario (a refused connect, a failed query, a checkout)."""
        self.marks.append((self.now(), label))

    def point(self, series: str, value: float) -> None:
        """Note a client-side value over time (e.g. rows received so far)."""
        self.points.setdefault(series, []).append((self.now(), value))

    def _run(self) -> None:
        while not self._stop.wait(self.interval) and self.now() < self.max_seconds:
            self._sample()

    def _sample(self) -> None:
        t = self.now()  # when it was asked: a slow answer does not move the sample later
        with self._conn.cursor() as cur:
            cur.execute(_SESSIONS.format(idle=self._idle))
            sessions = tuple(Session(int(i), u, c, float(s or 0), st) for i, u, c, s, st in cur.fetchall()
                             if self.users is None or u in self.users)
            cur.execute(_STATUS)
            status = dict(cur.fetchall())
        self.samples.append(Sample(t, sessions, int(status["Threads_connected"]),
                                   int(status["Aborted_clients"])))

    # --- what the plots read ---------------------------------------------------------

    def sessions_of(self, user: str) -> list[tuple[float, int]]:
        """(t, how many sessions `user` had) for each sample."""
        return [(s.t, sum(1 for x in s.sessions if x.user == user)) for s in self.samples]

    def idle_of(self, session_id: int) -> list[tuple[float, float | None]]:
        """(t, idle seconds of one session), None once the server has closed it."""
        out = []
        for s in self.samples:
            found = [x for x in s.sessions if x.id == session_id]
            out.append((s.t, found[0].idle_s if found and found[0].command == "Sleep" else
                        0.0 if found else None))
        return out

    def ended_at(self, session_id: int) -> float | None:
        """When the session was first seen gone, after being seen."""
        seen = False
        for s in self.samples:
            present = any(x.id == session_id for x in s.sessions)
            if present:
                seen = True
            elif seen:
                return s.t
        return None
