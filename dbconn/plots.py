"""Timelines drawn from recordings (dbconn.recorder), at build time, with matplotlib.

Each figure is an opaque white card with dark ink, so it reads the same in the
site's light and dark themes; Picture puts it on the page with an alt text that
is written from the same data as the lines.
"""

from __future__ import annotations

import base64
import html
import io

import matplotlib

matplotlib.use("Agg")  # no display: figures become PNG bytes

import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402

INK = "#1a1a1a"
COLOURS = ["#0b5cad", "#b3261e", "#1e7b34", "#7a4fa0"]  # blue, red, green, purple: distinct in grey too
STYLES = ["-", "--", "-.", ":"]


def timeline(title: str, ylabel: str, series: list[tuple[str, list[tuple[float, float | None]]]],
             marks: list[tuple[float, str]] = (), levels: list[tuple[float, str]] = (),
             step: bool = False) -> plt.Figure:
    """Lines of (t, value) over time; marks are moments (vertical lines), levels limits (horizontal)."""
    fig, ax = plt.subplots(figsize=(7.5, 3.2), dpi=110, facecolor="white")
    ax.set_facecolor("white")
    for i, (label, points) in enumerate(series):
        ts = [t for t, _ in points]
        vs = [float("nan") if v is None else v for _, v in points]
        draw = ax.step if step else ax.plot
        kwargs = {"where": "post"} if step else {}
        draw(ts, vs, STYLES[i % 4], color=COLOURS[i % 4], linewidth=2, label=label, **kwargs)
    for y, label in levels:
        ax.axhline(y, color=INK, linewidth=1, linestyle=(0, (4, 3)))
        ax.annotate(label, (0, y), xycoords=("axes fraction", "data"), xytext=(4, 3),
                    textcoords="offset points", color=INK, fontsize=9)
    for n, (t, label) in enumerate(marks):
        ax.axvline(t, color=COLOURS[1], linewidth=1.2)
        ax.annotate(label, (t, 1), xycoords=("data", "axes fraction"), xytext=(4, -12 - 12 * (n % 3)),
                    textcoords="offset points", color=COLOURS[1], fontsize=9)
    ax.set_title(title, color=INK, fontsize=11, loc="left")
    ax.set_xlabel("seconds since the recording started", color=INK)
    ax.set_ylabel(ylabel, color=INK)
    ax.tick_params(colors=INK)
    for spine in ax.spines.values():
        spine.set_color(INK)
    top = max([v for _, pts in series for _, v in pts if v is not None] + [y for y, _ in levels] + [1])
    ax.set_ylim(0, top * 1.3)  # room above the highest line for the labels
    if step:
        ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    if len(series) > 1:
        ax.legend(loc="best", fontsize=9, frameon=True, facecolor="white", edgecolor=INK, labelcolor=INK)
    fig.tight_layout()
    return fig


def png(fig: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", facecolor="white")
    plt.close(fig)
    return buffer.getvalue()


class Picture:
    """A figure with its alt text: shown as an <img> in notebooks and on the site.
    `series` is what was drawn, kept so that tests can compare it with the recording."""

    def __init__(self, fig: plt.Figure, alt: str, series: list):
        self.png = png(fig)
        self.alt = alt
        self.series = series

    def _repr_html_(self) -> str:
        data = base64.b64encode(self.png).decode()
        return f'<img class="timeline" src="data:image/png;base64,{data}" alt="{html.escape(self.alt)}">'


# --- one per error page ---------------------------------------------------------------


def _marks(runs: dict[str, tuple]) -> list[tuple[float, str]]:
    """Every run's marks, on one time axis (each recording starts at 0)."""
    return sorted((t, m) for rec, _ in runs.values() for t, m in rec.marks)


def _moments(marks: list[tuple[float, str]]) -> str:
    """The marks, as the alt text says them."""
    return " ".join(f"At {t:.2f} s: {m}." for t, m in marks)


def connections(runs: dict[str, tuple], limit: int) -> Picture:
    """1226: each run's (recording, user): the user's connections over time, the limit,
    and the moments the runs marked (a refused connect)."""
    series = [(label, rec.sessions_of(user)) for label, (rec, user) in runs.items()]
    marks = _marks(runs)
    fig = timeline("Connections the server holds for the account", "connections", series, marks,
                   [(limit, f"MAX_USER_CONNECTIONS {limit}")], step=True)
    parts = [f"{label}: at most {max(v for _, v in points)}" for label, points in series]
    alt = (f"Step chart of the account's open connections over time, against a limit of {limit}. "
           + "; ".join(parts) + ". " + _moments(marks))
    return Picture(fig, alt, series)


def idle(runs: dict[str, tuple], timeout: float) -> Picture:
    """2006: each run's (recording, session ids): how long the server has seen each
    connection idle; a line ends where the server closed the session."""
    series, ends = [], []
    for label, (rec, ids) in runs.items():
        for n, session_id in enumerate(ids):
            series.append((label if len(ids) == 1 else f"{label}, connection {n + 1}", rec.idle_of(session_id)))
            ended = rec.ended_at(session_id)
            if ended is not None:
                ends.append(f"{label}: the server closed connection {n + 1} at {ended:.2f} s")
    marks = _marks(runs)
    fig = timeline(f"Idle time of each connection, as the server sees it: {', '.join(runs)}", "idle seconds",
                   series, marks,
                   [(timeout, f"wait_timeout {timeout:g} s")])
    peaks = [f"{label}: idle up to {max((v or 0) for _, v in pts):.1f} s" for label, pts in series]
    alt = (f"Line chart of each connection's idle time against wait_timeout = {timeout:g} s. "
           + "; ".join(peaks) + ". " + ". ".join(ends) + ("." if ends else "") + " "
           + _moments(marks))
    return Picture(fig, alt, series)


def rows(rec, title: str, session: int | None = None) -> Picture:
    """2013: the client-side series a scenario noted (rows received so far: a count
    that holds until the next batch, hence steps), its marks, and when the server
    ended `session` (seen from the server's side)."""
    series = list(rec.points.items())
    marks = list(rec.marks)
    ended = rec.ended_at(session) if session is not None else None
    if ended is not None:
        marks = sorted(marks + [(ended, "the server has closed the session")])
    fig = timeline(title, "rows received", series, marks, step=True)
    totals = [f"{label}: {int(pts[-1][1]):,} rows by {pts[-1][0]:.2f} s" for label, pts in series if pts]
    alt = ("Step chart of rows received over time. " + "; ".join(totals) + ". "
           + _moments(marks))
    return Picture(fig, alt, series)
