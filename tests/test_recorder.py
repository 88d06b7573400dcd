"""dbconn.recorder against the real server, and the plots drawn from its recordings."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

import dbconn
from dbconn import plots
from dbconn.recorder import Recorder


@pytest.fixture
def account():
    acct = dbconn.accounts.create("recorded", max_user_connections=2)
    yield acct
    dbconn.accounts.drop(acct)


def kill(session_id: int) -> None:
    with dbconn.connect("admin", database=None) as admin, admin.cursor() as cur:
        cur.execute("KILL CONNECTION %s", (session_id,))


def test_it_sees_a_session_open_idle_and_end(account):
    before = dbconn.connection_count()
    with Recorder(users={account.user}) as rec:
        time.sleep(0.2)
        conn = dbconn.connect(account)
        session = conn.thread_id()
        time.sleep(0.6)
        rec.mark("killed")
        kill(session)
        time.sleep(0.3)
        conn.close()
    counts = [n for _, n in rec.sessions_of(account.user)]
    assert counts[0] == 0 and max(counts) == 1 and counts[-1] == 0
    idle = [v for _, v in rec.idle_of(session) if v is not None]
    assert idle[-1] >= 0.4 and idle == sorted(idle)  # idle time grows while the session sleeps
    (killed_at, _), = rec.marks
    assert rec.ended_at(session) >= killed_at
    assert len(rec.samples) >= 10  # every 50 ms, over about a second
    assert all(s.threads_connected >= 1 and s.aborted_clients >= 0 for s in rec.samples)
    # The recorder's own connection is neither recorded nor left behind.
    assert dbconn.wait_for_count(None, before) <= before


def test_it_stops_by_itself():
    with Recorder(max_seconds=0.3) as rec:
        time.sleep(0.9)
        taken = len(rec.samples)
        assert rec.samples[-1].t < 0.3 + 0.2
        time.sleep(0.2)
        assert len(rec.samples) == taken  # nothing more once the time is up


def test_a_plot_draws_the_recording_and_says_it_in_its_alt_text(account):
    with Recorder(users={account.user}) as rec:
        first, second = dbconn.connect(account), dbconn.connect(account)
        time.sleep(0.2)
        try:
            dbconn.connect(account)
        except Exception as exc:
            rec.mark(f"{exc.args[0]} refused")
        first.close()
        second.close()
        time.sleep(0.2)
    picture = plots.connections({"leak": (rec, account.user)}, limit=2)
    (label, drawn), = picture.series
    assert drawn == rec.sessions_of(account.user)  # the data drawn are the samples, nothing else
    assert max(n for _, n in drawn) == 2
    assert "leak: at most 2" in picture.alt and "1226 refused" in picture.alt
    image = Image.open(io.BytesIO(picture.png)).convert("RGBA")
    # An opaque white card: the same picture reads on the light and the dark theme.
    assert image.getpixel((0, 0)) == image.getpixel((image.width - 1, image.height - 1)) == (255, 255, 255, 255)
    assert picture._repr_html_().startswith('<img class="timeline" src="data:image/png;base64,')


def test_idle_plot_ends_where_the_server_closed_the_session():
    with Recorder(users={dbconn.settings.APP.user}) as rec:
        conn = dbconn.connect(init_command="SET SESSION wait_timeout = 1")
        session = conn.thread_id()
        dbconn.introspect.wait_for_session(session, "gone")  # idle until the server drops it
    conn.close()
    picture = plots.idle({"idle": (rec, [session])}, timeout=1)
    (_, drawn), = picture.series
    assert drawn == rec.idle_of(session)
    assert drawn[-1][1] is None and rec.ended_at(session) is not None
    assert f"closed connection 1 at {rec.ended_at(session):.2f} s" in picture.alt
