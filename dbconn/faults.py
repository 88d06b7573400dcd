"""A network between client and server that the lab controls: a TCP proxy on
127.0.0.1 that passes traffic, or breaks it the way real devices do.

    with FaultProxy() as net:                     # in front of the lab's server
        conn = pymysql.connect(**settings.pymysql_args(port=net.port))
        flow = net.flows[-1]                      # that connection, as the proxy sees it
        flow.drop()                               # a middlebox forgets it: nothing arrives, nothing is refused
        net.idle_timeout(1.5, "mysql8")           # MySQL 8's inactivity disconnect, replayed

Faults on open connections: ``set_latency``, ``reset`` (an RST each way),
``drop`` (silence), ``cut_after`` (the result stops after N bytes), and
``idle_timeout`` (what a NAT gateway, a load balancer or MySQL 8 does to a
connection idle for N seconds). Faults on new connections: ``refuse``,
``blackhole`` (no answer at all), ``stall`` (the server's greeting never comes)
and ``cut`` (closed before it); ``caching_sha2`` replays MySQL 8's
authentication; ``accept()`` lets them through again.

It runs in daemon threads of the process that starts it: it dies with the
notebook's kernel or the test, ``close()`` (the end of the ``with``) closes
every socket it holds, and it closes itself after ``max_seconds`` in any case.
Nothing here needs root. What it cannot do: a userspace proxy's own TCP stack
acknowledges what it receives, so a client's kernel never retransmits into
the void as it would behind a device that drops packets (see ``drop``).
"""

from __future__ import annotations

import collections
import errno
import selectors
import socket
import struct
import threading
import time
from dataclasses import dataclass

from . import settings
from .connection import connect
from .mysql8 import MYSQL8_INACTIVITY, HandshakeFailed, RsaKey, caching_sha2_exchange, packet, read_packet

# What each device does to a connection idle for longer than its timeout.
IDLE_ACTIONS = {
    "drop": "forgets it silently: nothing arrives, nothing is refused",
    "forget": "forgets it, then answers the next packet from either side with an RST",
    "reset": "sends an RST to both ends at the timeout",
    "mysql8": "sends MySQL 8's ERR 4031 (sequence 0) to the client, then closes",
}
NEW_CONNECTIONS = {
    "accept": "go through",
    "refuse": "refused (nothing listens)",
    "blackhole": "unanswered (the SYN is dropped)",
    "stall": "accepted, but the server's greeting never comes",
    "cut": "accepted, then closed before the server's greeting",
    "caching_sha2": "authenticated as MySQL 8 does with caching_sha2_password (replayed), then passed through",
}


class FaultProxyError(Exception):
    """The proxy cannot do what was asked; the message says what to do."""


@dataclass(frozen=True)
class Event:
    t: float  # seconds since the proxy started
    flow: int | None
    what: str

    def __str__(self) -> str:
        where = f"connection {self.flow}" if self.flow is not None else "proxy"
        return f"{self.t:6.2f} s  {where}: {self.what}"


class FaultProxy:
    """A TCP proxy on 127.0.0.1 in front of a MySQL server (default: the lab's)."""

    def __init__(self, upstream_port: int | None = None, upstream_host: str | None = None, *,
                 max_seconds: float = 300.0):
        self.upstream = (upstream_host or settings.HOST, upstream_port or settings.PORT)
        self.max_seconds = max_seconds
        self.flows: list[Flow] = []
        self.events: list[Event] = []
        self.latency = 0.0  # seconds added to every chunk, each way
        self.idle: tuple[float, str] | None = None  # (seconds, action)
        self.new_connections = "accept"
        self._started = time.monotonic()
        self._changed = threading.Condition()
        self._listener: socket.socket | None = None
        self._full_queue: tuple[socket.socket, ...] = ()
        self._mode_lock = threading.Lock()
        self._sha2: tuple[bool, dict[str, str], RsaKey] | None = None
        self._closed = False
        self.port = 0
        self._listen()
        self._watchdog = threading.Timer(max_seconds, self._expire)
        self._watchdog.daemon = True
        self._watchdog.start()

    # --- lifecycle -------------------------------------------------------------------

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the listener and every connection (the server's sessions end with them)."""
        with self._mode_lock:  # the watchdog may close it while its owner does
            if self._closed:
                return
            self._closed = True
            self._stop_listening()
            self._close_full_queue()
        self._watchdog.cancel()
        for flow in list(self.flows):
            flow.close()
        for flow in list(self.flows):
            flow.join(5)
        self._log(None, "closed")

    def _expire(self) -> None:
        self._log(None, f"closing itself after max_seconds={self.max_seconds:g}")
        self.close()

    def __repr__(self) -> str:
        return f"<FaultProxy 127.0.0.1:{self.port} -> {self.upstream[0]}:{self.upstream[1]}>"

    # --- what the network does ---------------------------------------------------------

    def set_latency(self, seconds: float) -> None:
        """Delay every chunk, each way, by `seconds` (a long or congested path)."""
        self.latency = max(0.0, float(seconds))
        self._log(None, f"latency {self.latency * 1000:.0f} ms each way")

    def idle_timeout(self, seconds: float | None, action: str = "drop") -> None:
        """What happens to a connection that carries nothing for `seconds`
        (None: nothing). `action`: one of IDLE_ACTIONS. For "mysql8" the clock runs
        only while the server waits for the client's next command, as MySQL's
        wait_timeout does; for the others, whenever nothing crosses the device."""
        if seconds is None:
            self.idle = None
            self._log(None, "no idle timeout")
            return
        if action not in IDLE_ACTIONS:
            raise FaultProxyError(f"unknown idle action {action!r}: use one of {', '.join(IDLE_ACTIONS)}")
        self.idle = (float(seconds), action)
        self._log(None, f"idle timeout {seconds:g} s: {IDLE_ACTIONS[action]}")
        self._wake_all()

    def accept(self) -> None:
        """New connections go through (the default)."""
        self._set_new_connections("accept")

    def refuse(self) -> None:
        """Nothing listens: a new connection is refused (ECONNREFUSED), as when the
        server is down, not up yet, or the port is wrong."""
        self._set_new_connections("refuse")

    def blackhole(self) -> None:
        """Nothing answers a new connection's SYN: the client's connect() waits until its
        connect timeout, as behind a firewall that drops the packets, a security group
        that does not allow the port, or an address where no host answers. (A listener
        whose accept queue is full, and that never accepts: the kernel drops the SYNs.)"""
        self._set_new_connections("blackhole")

    def stall(self) -> None:
        """New connections are accepted but nothing ever answers: the client waits for
        the server's greeting until its connect timeout."""
        self._set_new_connections("stall")

    def cut(self) -> None:
        """New connections are accepted, then closed before the server's greeting."""
        self._set_new_connections("cut")

    def caching_sha2(self, cached: bool = False, passwords: dict[str, str] | None = None) -> None:
        """New connections authenticate as they would on MySQL 8 with an account
        IDENTIFIED WITH caching_sha2_password (a replay of the server's side of that
        exchange, dbconn.mysql8), then go through to the server. `cached`: the server
        has the account in its cache (fast authentication), as after a first login
        since it started; otherwise the client must do full authentication.
        `passwords`: the replay's accounts (default: the lab's)."""
        if passwords is None:
            passwords = {account.user: account.password for account in settings.ACCOUNTS.values()}
        self._sha2 = (cached, dict(passwords), self._sha2[2] if self._sha2 else RsaKey())
        self._set_new_connections("caching_sha2")
        self._log(None, "the account is in the server's cache: fast authentication" if cached
                  else "the account is not in the server's cache: full authentication")

    def _set_new_connections(self, mode: str) -> None:
        with self._mode_lock:  # a timer may change it while the notebook does
            if self._closed:
                raise FaultProxyError("this proxy is closed: start a new one")
            previous, self.new_connections = self.new_connections, mode
            unanswered = ("refuse", "blackhole")  # modes in which nothing accepts
            if previous == "blackhole":
                self._close_full_queue()
            if previous not in unanswered and mode in unanswered:
                self._stop_listening()
            if mode == "blackhole":
                self._fill_accept_queue()
            if previous in unanswered and mode not in unanswered:
                self._listen(self.port)
        self._log(None, f"new connections: {NEW_CONNECTIONS[mode]}")

    def _fill_accept_queue(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(0)  # room for one connection that is never accepted
        filler = socket.create_connection(("127.0.0.1", self.port), timeout=2)
        self._full_queue = (listener, filler)

    def _close_full_queue(self) -> None:
        for sock in self._full_queue:
            sock.close()
        self._full_queue = ()

    # --- looking -----------------------------------------------------------------------

    def wait(self, predicate, timeout: float = 10.0) -> bool:
        """Wait until predicate() is true (checked at every change the proxy makes)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, 0.1))
        return True

    def wait_for_flows(self, count: int, timeout: float = 10.0) -> Flow:
        """The `count`-th connection, once it has arrived."""
        if not self.wait(lambda: len(self.flows) >= count, timeout):
            raise FaultProxyError(f"no connection #{count} reached the proxy within {timeout:g} s")
        return self.flows[count - 1]

    def log(self, since: int = 0) -> list[str]:
        return [str(e) for e in self.events[since:]]

    # --- internals ---------------------------------------------------------------------

    def _now(self) -> float:
        return time.monotonic() - self._started

    def _log(self, flow: int | None, what: str) -> None:
        with self._changed:
            self.events.append(Event(round(self._now(), 3), flow, what))
            self._changed.notify_all()

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def _wake_all(self) -> None:
        for flow in list(self.flows):
            flow._wake()

    def _listen(self, port: int = 0) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind(("127.0.0.1", port))
        except OSError as exc:
            listener.close()
            raise FaultProxyError(f"cannot listen on 127.0.0.1:{port} again ({exc.strerror}): "
                                  f"start a new proxy") from None
        listener.listen(64)
        self._listener = listener
        self.port = listener.getsockname()[1]
        threading.Thread(target=self._accept_loop, args=(listener,), daemon=True,
                         name=f"fault-proxy-{self.port}-accept").start()

    def _stop_listening(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone may not.
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed: refuse(), or close()
            if self._closed:
                client.close()
                return
            flow = Flow(self, len(self.flows) + 1, client)
            with self._changed:
                self.flows.append(flow)
                self._changed.notify_all()
            flow.start(self.new_connections)


class Flow:
    """One client connection through the proxy, and the proxy's connection to the server.

    ``client_port`` is the client's own port; ``server_port`` is the proxy's port
    towards the server; ``connection_id`` is the session's id on the server, read
    from the server's greeting as it passes: the same connection, seen from both ends."""

    def __init__(self, proxy: FaultProxy, number: int, client: socket.socket):
        self.proxy = proxy
        self.number = number
        self.client_port = client.getpeername()[1]
        self.server_port: int | None = None
        self.connection_id: int | None = None  # the session's id, from the server's greeting
        self.state = "starting"  # open | stalled | dropped | forgotten | closed
        self.sent = {"client": 0, "server": 0}  # bytes delivered to each side
        self.discarded = 0  # bytes that went nowhere (dropped)
        self.last_activity = time.monotonic()
        self._turn = "client"  # whose turn to speak next: the server answered last
        self._socks: dict[str, socket.socket | None] = {"client": client, "server": None}
        self._out = {"client": bytearray(), "server": bytearray()}
        self._delayed: dict[str, collections.deque] = {"client": collections.deque(), "server": collections.deque()}
        self._cut: tuple[int, str] | None = None  # (bytes still allowed to the client, how)
        self._cut_base: int | None = None  # bytes sent to the client when cut_after() was called
        self._close_after_flush: str | None = None  # "fin" | "rst": what to do once the client has its bytes
        self._requests: collections.deque = collections.deque()
        self._wake_r, self._wake_w = socket.socketpair()
        self._selector: selectors.BaseSelector | None = None
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"fault-proxy-{proxy.port}-{number}")

    def __repr__(self) -> str:
        return (f"<connection {self.number}: client port {self.client_port}, server port {self.server_port}, "
                f"{self.state}>")

    # --- faults, from any thread --------------------------------------------------------

    def reset(self) -> None:
        """An RST to both ends now: a firewall, a load balancer or a proxy that kills the flow."""
        self._request("reset")

    def drop(self) -> None:
        """From now on, nothing crosses, and neither side is told: the client's bytes
        stay unread in the proxy (a large write fills the buffers and blocks), the
        server's are thrown away. (Through a real device the client's kernel would
        retransmit and give up after about 15 minutes; here the proxy's kernel
        acknowledges the bytes, so only the client's own timeouts end the wait.)"""
        self._request("drop")

    def cut_after(self, nbytes: int, how: str = "rst") -> None:
        """Let `nbytes` more bytes reach the client, then cut both ends: "rst" (reset)
        or "fin" (an orderly close, as when a proxy or the server's host goes away)."""
        if how not in ("rst", "fin"):
            raise FaultProxyError(f"how must be 'rst' or 'fin', not {how!r}")
        self._request("cut", (int(nbytes), how))

    @property
    def sent_since_cut(self) -> int | None:
        """Bytes sent to the client since cut_after() was called (None before)."""
        return None if self._cut_base is None else self.sent["client"] - self._cut_base

    def close(self) -> None:
        """Close both ends (an orderly close), as the proxy's end does."""
        self._request("close")

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def wait_closed(self, timeout: float = 10.0) -> bool:
        return self.proxy.wait(lambda: self.state == "closed", timeout)

    def server_session(self) -> dict | None:
        """This connection's session on the server, as its processlist shows it, or None
        when the server has none. Found by the id the server announced in its greeting
        (the host column would not do: behind Docker's port mapping it is not the proxy's)."""
        if self.connection_id is None:
            return None
        host, port = self.proxy.upstream
        with connect("admin", host=host, port=port, database=None) as admin, admin.cursor() as cur:
            cur.execute("SELECT id, command, time, state, info FROM information_schema.processlist WHERE id = %s",
                        (self.connection_id,))
            row = cur.fetchone()
        return None if row is None else dict(zip(("id", "command", "seconds", "state", "info"), row))

    def wait_server_session(self, present: bool, timeout: float = 10.0) -> dict | None:
        """Poll the server until this connection's session is there (present=True) or
        gone (False): the server ends a session a moment after its socket closes."""
        deadline = time.monotonic() + timeout
        while True:
            session = self.server_session()
            if (session is not None) == present or time.monotonic() > deadline:
                return session
            time.sleep(0.02)

    # --- the flow's own thread ------------------------------------------------------------

    def start(self, mode: str) -> None:
        self._thread.start()
        self._requests.append(("start", mode))
        self._wake()

    def _request(self, what: str, arg=None) -> None:
        if self.state == "closed":
            return
        done = threading.Event()
        self._requests.append((what, arg, done))
        self._wake()
        if threading.current_thread() is not self._thread:
            done.wait(5)

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"!")
        except OSError:
            pass

    def _log(self, what: str) -> None:
        self.proxy._log(self.number, what)

    def _set_state(self, state: str) -> None:
        self.state = state
        self.proxy._notify()

    def _run(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        try:
            while self.state != "closed":
                self._update()
                for key, mask in self._selector.select(self._timeout()):
                    if key.data == "wake":
                        self._wake_r.recv(4096)
                        continue
                    if mask & selectors.EVENT_WRITE:
                        self._flush(key.data)
                    if mask & selectors.EVENT_READ and self._socks.get(key.data) is not None:
                        self._receive(key.data)
                self._handle_requests()
                self._deliver_delayed()
                self._check_idle()
        except Exception as exc:  # noqa: BLE001 - a broken flow must never take the proxy down
            self._log(f"proxy error: {exc!r}")
        finally:
            for side in ("client", "server"):
                self._shut(side, "fin")
            self._set_state("closed")
            for request in self._requests:
                if len(request) > 2:
                    request[2].set()
            self._selector.close()
            self._wake_r.close()
            self._wake_w.close()

    def _update(self) -> None:
        """Watch each open end for bytes, and for room to send when bytes wait for it."""
        registered = self._selector.get_map()
        for side, sock in self._socks.items():
            if sock is None:
                continue
            # A dropped connection leaves the client's bytes unread, as a device that drops
            # packets never acknowledges them: a large write fills the buffers and blocks.
            reading = 0 if side == "client" and self.state == "dropped" else selectors.EVENT_READ
            events = reading | (selectors.EVENT_WRITE if self._out[side] else 0)
            key = registered.get(sock)
            if key is None and events:
                self._selector.register(sock, events, side)
            elif key is not None and not events:
                self._selector.unregister(sock)
            elif key is not None and key.events != events:
                self._selector.modify(sock, events, side)

    def _timeout(self) -> float:
        timeout = 0.05
        for queue in self._delayed.values():
            if queue:
                timeout = min(timeout, max(0.0, queue[0][0] - time.monotonic()))
        return timeout

    def _handle_requests(self) -> None:
        while self._requests:
            request = self._requests.popleft()
            what, arg = request[0], request[1]
            try:
                getattr(self, f"_do_{what}")(arg)
            finally:
                if len(request) > 2:
                    request[2].set()

    def _do_start(self, mode: str) -> None:
        if mode == "stall":
            self._set_state("stalled")
            self._log("accepted; the greeting never comes (stalled)")
            return
        if mode == "cut":
            self._log("accepted, then closed before the greeting")
            self._shut("client", "fin")
            self._set_state("closed")
            return
        try:
            server = socket.create_connection(self.proxy.upstream, timeout=5)
        except OSError as exc:
            self._log(f"the server does not answer ({exc.strerror or exc}); closed the client's connection")
            self._shut("client", "fin")
            self._set_state("closed")
            return
        self._socks["server"] = server
        self.server_port = server.getsockname()[1]
        if mode == "caching_sha2" and not self._replay_caching_sha2(*self.proxy._sha2):
            return
        server.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socks["client"].setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for sock in (server, self._socks["client"]):
            sock.setblocking(False)
        self.last_activity = time.monotonic()
        self._set_state("open")
        self._log(f"client port {self.client_port} <-> server, via port {self.server_port}")

    def _replay_caching_sha2(self, cached: bool, passwords: dict[str, str], key: RsaKey) -> bool:
        """Between the server's greeting and its OK, play MySQL 8's caching_sha2_password;
        then let the real server check the client's first answer, and pass its OK on
        with the sequence number the client expects. False when the exchange failed."""
        client, server = self._socks["client"], self._socks["server"]
        for sock in (client, server):
            sock.settimeout(5)
        try:
            sequence, greeting = read_packet(server)
            self.connection_id = greeting_connection_id(packet(greeting, sequence))
            client.sendall(packet(greeting, sequence))
            if greeting.rstrip(b"\0").endswith(b"caching_sha2_password"):
                self._log("caching_sha2_password replay: not needed, the server is MySQL 8 and does it itself")
                return True
            response, ok_sequence, said = caching_sha2_exchange(client, passwords, key, cached=cached)
            server.sendall(packet(response, 1))
            _, reply = read_packet(server)
            client.sendall(packet(reply, ok_sequence))
        except (HandshakeFailed, OSError) as exc:
            self._log(f"caching_sha2_password replay: {exc}")
            self._shut("client", "fin")
            self._shut("server", "fin")
            self._set_state("closed")
            return False
        for line in said:
            self._log(f"caching_sha2_password replay: {line}")
        return True

    def _do_reset(self, _=None) -> None:
        self._log("reset (RST to both ends)")
        self._shut("client", "rst")
        self._shut("server", "rst")
        self._set_state("closed")

    def _do_drop(self, _=None) -> None:
        if self.state in ("open", "stalled"):
            self._log("dropped: from now on nothing crosses, and neither end is told")
            self._set_state("dropped")

    def _do_cut(self, arg) -> None:
        self._cut = arg
        # Counted here, in the thread that sends: every byte before this point has been sent.
        self._cut_base = self.sent["client"] + len(self._out["client"]) + sum(
            len(data) for _, data in self._delayed["client"])
        self._log(f"will cut after {arg[0]:,} more bytes to the client ({arg[1].upper()})")

    def _do_close(self, _=None) -> None:
        self._shut("client", "fin")
        self._shut("server", "fin")
        self._set_state("closed")

    def _shut(self, side: str, how: str) -> None:
        sock, self._socks[side] = self._socks[side], None
        self._out[side].clear()
        self._delayed[side].clear()
        if sock is None:
            return
        if self._selector is not None and sock in self._selector.get_map():
            self._selector.unregister(sock)
        try:
            if how == "rst":
                # SO_LINGER with a zero timeout: close() sends an RST instead of a FIN.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                sock.setblocking(True)
                sock.settimeout(1)
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        sock.close()

    def _other(self, side: str) -> str:
        return "server" if side == "client" else "client"

    def _receive(self, side: str) -> None:
        sock = self._socks[side]
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return
        except OSError as exc:
            reset = exc.errno == errno.ECONNRESET
            self._log(f"{side} {'reset' if reset else 'failed: ' + str(exc)}")
            if self.state == "open":
                self._shut(self._other(side), "rst" if reset else "fin")
            self._shut(side, "fin")
            self._end_if_both_gone()
            return
        if not data:
            self._on_eof(side)
            return
        self.last_activity = time.monotonic()
        self._turn = "server" if side == "client" else "client"
        if self.state == "open":
            self._forward(self._other(side), data)
        elif self.state == "forgotten":
            # A NAT gateway or load balancer that forgot the flow answers with an RST.
            self._log(f"{side} sent {len(data)} bytes on a forgotten connection: RST to the {side}")
            self._shut(side, "rst")
            self._end_if_both_gone()
        else:  # dropped or stalled: the bytes go nowhere
            self.discarded += len(data)

    def _on_eof(self, side: str) -> None:
        other = self._other(side)
        self._shut(side, "fin")
        if self.state == "open":
            self._log(f"the {side} closed its end; closing the {other}'s")
            self._close_after_flush = self._close_after_flush or "fin"
        elif self._socks[other] is None:
            self._log(f"the {side} closed its end")
            self._set_state("closed")
        else:
            # Nobody is told: the other end keeps its connection until it gives up, or
            # until the proxy closes (the server's session lingers like this behind NAT).
            self._log(f"the {side} closed its end; the {other} is not told ({self.state})")

    def _end_if_both_gone(self) -> None:
        if self._socks["client"] is None and self._socks["server"] is None:
            self._set_state("closed")
        elif self.state == "open":
            self._close_after_flush = self._close_after_flush or "fin"

    def _forward(self, to: str, data: bytes) -> None:
        if to == "client" and self.connection_id is None:
            self.connection_id = greeting_connection_id(data)
        if self._close_after_flush:
            self.discarded += len(data)  # the connection is being cut or closed: nothing more crosses
            return
        if to == "client" and self._cut is not None:
            allowed, how = self._cut
            if len(data) >= allowed:
                data = data[:allowed]
                self._cut = None
                self._close_after_flush = how
                self._log(f"cut: the last {len(data):,} bytes go to the client, then {how.upper()} to both ends")
            else:
                self._cut = (allowed - len(data), how)
        if self.proxy.latency:
            self._delayed[to].append((time.monotonic() + self.proxy.latency, data))
        else:
            self._out[to] += data
            self._flush(to)

    def _deliver_delayed(self) -> None:
        now = time.monotonic()
        for side, queue in self._delayed.items():
            while queue and queue[0][0] <= now:
                self._out[side] += queue.popleft()[1]
            if self._out[side]:
                self._flush(side)
        pending = any(self._out[side] or self._delayed[side] for side in self._socks if self._socks[side])
        if self._close_after_flush and not pending:
            how, self._close_after_flush = self._close_after_flush, None
            self._shut("client", how)
            self._shut("server", how)
            self._set_state("closed")

    def _flush(self, side: str) -> None:
        sock, out = self._socks[side], self._out[side]
        if sock is None:
            out.clear()
            return
        while out:
            try:
                sent = sock.send(out)
            except BlockingIOError:
                return
            except OSError as exc:
                self._log(f"sending to the {side} failed ({exc.strerror or exc})")
                self._shut(side, "fin")
                self._end_if_both_gone()
                return
            del out[:sent]
            self.sent[side] += sent

    def _check_idle(self) -> None:
        if self.proxy.idle is None or self.state != "open":
            return
        seconds, action = self.proxy.idle
        if time.monotonic() - self.last_activity < seconds:
            return
        if action == "mysql8":
            if self._turn != "client":
                return  # the server is working on a query: MySQL's wait_timeout does not run
            self._log(f"idle {seconds:g} s: sent MySQL 8's ERR 4031 (sequence 0, {len(MYSQL8_INACTIVITY)} bytes), "
                      f"then closed")
            self._out["client"] += MYSQL8_INACTIVITY
            self._flush("client")
            self._close_after_flush = "fin"
        elif action == "drop":
            self._log(f"idle {seconds:g} s: forgotten silently")
            self._set_state("dropped")
        elif action == "forget":
            self._log(f"idle {seconds:g} s: forgotten; the next packet from either end gets an RST")
            self._set_state("forgotten")
        else:
            self._log(f"idle {seconds:g} s: RST to both ends")
            self._do_reset()


def greeting_connection_id(data: bytes) -> int | None:
    """The connection id in a server's greeting (HandshakeV10: protocol version 10, the
    server's version and a NUL, then the id in 4 bytes), or None if `data` is not one."""
    if len(data) < 5 or data[3] != 0 or data[4] != 10:
        return None
    end = data.find(b"\0", 5)
    if end < 0 or len(data) < end + 5:
        return None
    return struct.unpack("<I", data[end + 1:end + 5])[0]


def tcp_quiet_ms(sock: socket.socket) -> tuple[int, int] | None:
    """(ms since this socket last received an ACK, ms since it last received data),
    from Linux's TCP_INFO; None elsewhere. An answered keepalive probe resets the
    first and not the second: this is how to see probes flow."""
    if not hasattr(socket, "TCP_INFO"):
        return None
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    # struct tcp_info: 8 one-byte fields, then 32-bit fields; tcpi_last_data_recv is
    # at byte 52 and tcpi_last_ack_recv at byte 56 (include/uapi/linux/tcp.h).
    return struct.unpack_from("<I", info, 56)[0], struct.unpack_from("<I", info, 52)[0]
