"""A small loopback TCP proxy that injects network faults, for tests.

Put it between a client and a server (point the client's endpoint at
``proxy.url``) and it forwards bytes both ways, except that, following a
:class:`FaultPlan`, some connections are

* refused: accepted, then reset at once (RST) without reaching the server;
* reset: RST after N bytes in one direction (upstream = client to server,
  downstream = server to client);
* stalled: nothing moves in either direction for S seconds after N bytes;
* dripped: after N bytes, one direction moves at a fixed small rate (bytes per
  second) for the rest of the connection, the other normally (a server that sends
  its headers and then trickles its body, or reads an upload that slowly);
* truncated: closed cleanly (FIN) after N response (downstream) bytes;
* answered: never forwarded; once the client's request headers have arrived, it
  gets a canned HTTP response (say a 403 or a 503) and the connection is closed;

and every forwarded chunk can be delayed by a fixed latency.
:meth:`Proxy.drop_connections` resets the connections open at that moment, so that
a client's next request opens a new one (which then draws a fault from the plan).

Decisions are random but reproducible: connection number ``i`` (counted from
the last :meth:`Proxy.set_plan`) draws from ``random.Random(f"{seed}/{generation}/{i}")``,
so the same seed and the same order of connections give the same faults. A
connection gets at most one fault. ``FaultPlan.max_faults`` caps how many
faults fire in all (counted across all connections), and :meth:`Proxy.set_plan`
with a clean plan heals the proxy, cancelling faults not yet fired on open
connections too.

Bounded by design: it listens on 127.0.0.1 only, uses one accept thread and
one thread per connection (at most ``max_connections``), every loop wakes at
least every 50 ms to notice :meth:`Proxy.stop` or the optional hard time
limit, and ``stop()`` joins every thread with a timeout and closes every
socket. A reset is SO_LINGER 0, then ``shutdown(SHUT_RD)``, then ``close()``
(see docs/testing.md, "Faults", and :func:`reset_socket` for why not
SHUT_RDWR).
Standard library only.
"""

from __future__ import annotations

import random
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

from .servers import LOOPBACK

CHUNK = 64 * 1024
MAX_BUFFER = 256 * 1024  # stop reading a side while this much waits to be written to the other
TICK = 0.05  # every loop wakes at least this often
PENDING_DRAIN_LIMIT = 2.0  # a fault waiting for its prefix to be delivered fires after this anyway
UP, DOWN = "up", "down"
FAULT_KINDS = ("refuse", "reset", "stall", "drip", "truncate", "respond")

_POLLIN = select.POLLIN
_POLLOUT = select.POLLOUT
_POLLERRS = select.POLLERR | select.POLLHUP | select.POLLNVAL


@dataclass(frozen=True)
class FaultPlan:
    """What to do to each new connection; probabilities are per connection and exclusive.

    The probabilities of the FAULT_KINDS must not add up to more than 1. Byte thresholds
    are drawn uniformly from the inclusive ``(low, high)`` ranges and count
    bytes on that connection in the fault's direction (a keep-alive connection
    carries many requests, so the fault may land in any of them).
    """

    refuse: float = 0.0
    reset: float = 0.0
    reset_after: tuple[int, int] = (0, 64 * 1024)
    reset_direction: str = "any"  # "up", "down" or "any" (drawn per connection)
    stall: float = 0.0
    stall_after: tuple[int, int] = (0, 64 * 1024)
    stall_seconds: float = 1.0
    stall_direction: str = "any"
    drip: float = 0.0
    drip_after: tuple[int, int] = (0, 0)
    drip_rate: float = 1.0  # bytes per second, once dripping
    drip_direction: str = DOWN
    truncate: float = 0.0
    truncate_after: tuple[int, int] = (0, 64 * 1024)
    respond: float = 0.0
    response: bytes = b""  # the whole canned answer (status line, headers, body) for ``respond``
    latency: float = 0.0  # seconds added before forwarding each chunk, both ways
    spread: str = "uniform"  # how byte thresholds are drawn in their range: "uniform" or "log" (log-uniform,
    #                          so small and large thresholds are alike likely: a fault hits small and large bodies)
    max_faults: int | None = None  # no more faults once this many have fired (all kinds, all connections)
    spare_first: int = 0  # the first N connections under this plan are never faulted
    armed_after_up: int = 0  # a connection's fault is armed only once it has carried this many bytes
    #                          upstream; its threshold then counts from that point (e.g. to hit the
    #                          response to a large upload rather than the small requests before it)

    def __post_init__(self) -> None:
        for name in FAULT_KINDS:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"FaultPlan.{name} must be a probability in [0, 1], not {value!r}")
        if sum(getattr(self, name) for name in FAULT_KINDS) > 1.0 + 1e-9:
            raise ValueError(f"FaultPlan: {' + '.join(FAULT_KINDS)} must not exceed 1")
        for name in ("reset_after", "stall_after", "drip_after", "truncate_after"):
            low, high = getattr(self, name)
            if not 0 <= low <= high:
                raise ValueError(f"FaultPlan.{name} must be (low, high) with 0 <= low <= high, not {(low, high)!r}")
        for name in ("reset_direction", "stall_direction", "drip_direction"):
            if getattr(self, name) not in (UP, DOWN, "any"):
                raise ValueError(f"FaultPlan.{name} must be 'up', 'down' or 'any'")
        if self.spread not in ("uniform", "log"):
            raise ValueError("FaultPlan.spread must be 'uniform' or 'log'")
        if self.stall_seconds < 0 or self.latency < 0:
            raise ValueError("FaultPlan: stall_seconds and latency must not be negative")
        if not self.drip_rate > 0:
            raise ValueError("FaultPlan.drip_rate must be a positive number of bytes per second")
        if self.respond > 0 and not self.response.startswith(b"HTTP/"):
            raise ValueError("FaultPlan.response must be a whole HTTP response when respond > 0")
        if self.max_faults is not None and self.max_faults < 0:
            raise ValueError("FaultPlan.max_faults must not be negative")
        if self.spare_first < 0 or self.armed_after_up < 0:
            raise ValueError("FaultPlan.spare_first and armed_after_up must not be negative")

    @property
    def is_clean(self) -> bool:
        """True if this plan never injects anything (no faults, no latency)."""
        return self.latency == 0 and all(getattr(self, name) == 0 for name in FAULT_KINDS)


NO_FAULTS = FaultPlan()


@dataclass(frozen=True)
class ProxyStats:
    """Counters across all connections since the proxy started."""

    connections: int
    active: int
    bytes_up: int
    bytes_down: int
    faults: dict[str, int] = field(default_factory=dict)

    @property
    def faults_injected(self) -> int:
        return sum(self.faults.values())

    def since(self, earlier: ProxyStats) -> ProxyStats:
        """What happened between ``earlier`` and these counters (``active`` is the current value)."""
        return ProxyStats(
            self.connections - earlier.connections, self.active, self.bytes_up - earlier.bytes_up,
            self.bytes_down - earlier.bytes_down,
            {kind: count - earlier.faults.get(kind, 0) for kind, count in self.faults.items()},
        )


@dataclass(frozen=True)
class _Fault:
    kind: str  # one of FAULT_KINDS
    direction: str = DOWN
    after: int = 0  # bytes in ``direction`` once armed
    seconds: float = 0.0  # a stall's length; for a drip, seconds per byte
    armed_after_up: int = 0
    response: bytes = b""


def _draw(plan: FaultPlan, rng: random.Random, index: int) -> _Fault | None:
    """The fault (if any) for connection ``index`` under ``plan``: always the same draws for the same rng."""
    u = rng.random()
    direction_draw = rng.random()
    amount_draw = rng.random()
    if index < plan.spare_first:
        return None

    def pick(bounds: tuple[int, int]) -> int:
        low, high = bounds
        if high <= low:
            return low
        if plan.spread == "log":  # log-uniform over [low + 1, high + 1), shifted back by one
            return min(high, int((low + 1) * ((high + 1) / (low + 1)) ** amount_draw) - 1)
        return low + int(amount_draw * (high - low + 1))

    def direction(setting: str) -> str:
        if setting == "any":
            return UP if direction_draw < 0.5 else DOWN
        return setting

    arm = plan.armed_after_up
    edge = plan.refuse
    if u < edge:
        return _Fault("refuse")
    edge += plan.reset
    if u < edge:
        return _Fault("reset", direction(plan.reset_direction), pick(plan.reset_after), armed_after_up=arm)
    edge += plan.stall
    if u < edge:
        return _Fault("stall", direction(plan.stall_direction), pick(plan.stall_after), plan.stall_seconds, arm)
    edge += plan.drip
    if u < edge:
        return _Fault("drip", direction(plan.drip_direction), pick(plan.drip_after), 1.0 / plan.drip_rate, arm)
    edge += plan.truncate
    if u < edge:
        return _Fault("truncate", DOWN, pick(plan.truncate_after), armed_after_up=arm)
    edge += plan.respond
    if u < edge:
        return _Fault("respond", response=plan.response)
    return None


def reset_socket(sock: socket.socket) -> None:
    """Abort a TCP connection so the peer sees ECONNRESET at once: SO_LINGER 0, shutdown, close.

    The shutdown is of the *read* side only: it wakes any thread blocked on
    the socket (so close() really releases it and sends the RST) without
    sending anything. ``shutdown(SHUT_RDWR)`` would send a FIN first, and a
    peer that reads that FIN before the RST sees a clean EOF, not a reset
    (Linux returns 0 from recv() once a FIN is queued, before reporting the
    error).
    """
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.shutdown(socket.SHUT_RD)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def _close_quietly(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass


class Proxy:
    """A running proxy; build it with :func:`start_proxy`."""

    def __init__(
        self,
        target_host: str,
        target_port: int,
        plan: FaultPlan,
        seed: int,
        *,
        listen_port: int = 0,
        time_limit: float | None = None,
        max_connections: int = 128,
        connect_timeout: float = 5.0,
    ) -> None:
        self.target = (target_host, target_port)
        self._plan = plan
        self._seed = seed
        self._generation = 0
        self._index = 0  # connections accepted under the current plan
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._deadline = time.monotonic() + time_limit if time_limit is not None else None
        self._max_connections = max_connections
        self._connect_timeout = connect_timeout
        self._sockets: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._connections = 0
        self._bytes = {UP: 0, DOWN: 0}
        self._faults = dict.fromkeys(FAULT_KINDS, 0)
        self._faults_under_plan = 0
        self.timed_out = False  # True once the hard time limit stopped it

        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._listener.bind((LOOPBACK, listen_port))
            self._listener.listen(64)
            self._listener.settimeout(TICK)
        except BaseException:
            self._listener.close()
            raise
        self.host, self.port = self._listener.getsockname()[:2]
        self.url = f"http://{self.host}:{self.port}"
        self._acceptor = threading.Thread(target=self._accept_loop, name=f"faultproxy-accept-{self.port}", daemon=True)
        self._acceptor.start()

    # ------------------------------------------------------------------ public

    @property
    def plan(self) -> FaultPlan:
        return self._plan

    def set_plan(self, plan: FaultPlan, seed: int | None = None) -> None:
        """Apply ``plan`` to new connections and cancel faults not yet fired on open ones.

        Open connections (a client's keep-alive pool) get no fault from the new
        plan; only connections accepted from now on draw one. Connection
        numbering (and the ``max_faults`` count) restart from zero, so
        ``set_plan(plan, seed)`` makes what follows reproducible on its own.
        """
        with self._lock:
            self._plan = plan
            if seed is not None:
                self._seed = seed
            self._generation += 1
            self._index = 0
            self._faults_under_plan = 0

    def heal(self) -> None:
        """No faults and no latency from now on, on open connections too."""
        self.set_plan(NO_FAULTS)

    def drop_connections(self) -> None:
        """Reset every connection open now (both ends), so that a client's next request
        needs a new connection, which draws its fault from the current plan."""
        with self._lock:
            sockets = list(self._sockets)
            threads = list(self._threads)
        for sock in sockets:
            reset_socket(sock)
        for thread in threads:  # each notices within a tick; then the resets have surely been sent
            thread.join(PENDING_DRAIN_LIMIT)

    def stats(self) -> ProxyStats:
        with self._lock:
            active = sum(1 for thread in self._threads if thread.is_alive())
            return ProxyStats(self._connections, active, self._bytes[UP], self._bytes[DOWN], dict(self._faults))

    def threads(self) -> list[threading.Thread]:
        """The proxy's threads that are still alive."""
        with self._lock:
            candidates = [self._acceptor, *self._threads]
        return [thread for thread in candidates if thread.is_alive()]

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, reset open connections, join every thread, close every socket.

        Raises RuntimeError if a thread is still alive after ``timeout`` seconds.
        Safe to call twice.
        """
        self._stopping.set()
        deadline = time.monotonic() + timeout
        _close_quietly(self._listener)
        self._acceptor.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            sockets = list(self._sockets)
            self._sockets.clear()
        for sock in sockets:
            reset_socket(sock)
        alive = self.threads()
        if alive:
            raise RuntimeError(f"fault proxy on port {self.port}: threads still alive after stop(): {[t.name for t in alive]}")

    def __enter__(self) -> Proxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- internals

    def _should_stop(self) -> bool:
        if self._stopping.is_set():
            return True
        if self._deadline is not None and time.monotonic() >= self._deadline:
            self.timed_out = True
            self._stopping.set()
            return True
        return False

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def _forget(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)

    def _count(self, direction: str, amount: int) -> None:
        with self._lock:
            self._bytes[direction] += amount

    def _claim_fault(self, kind: str, generation: int) -> bool:
        """Record that a fault fires now, unless the plan changed or its max_faults is used up."""
        with self._lock:
            if generation != self._generation:
                return False
            limit = self._plan.max_faults
            if limit is not None and self._faults_under_plan >= limit:
                return False
            self._faults_under_plan += 1
            self._faults[kind] += 1
            return True

    def _accept_loop(self) -> None:
        while not self._should_stop():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._should_stop():
                    break
                time.sleep(TICK)  # e.g. EMFILE: don't spin
                continue
            with self._lock:
                self._threads = {thread for thread in self._threads if thread.is_alive()}
                too_many = len(self._threads) >= self._max_connections
                self._connections += 1
                number = self._connections
                index = self._index
                self._index += 1
                generation = self._generation
                plan = self._plan
                rng = random.Random(f"{self._seed}/{generation}/{index}")
            if too_many or self._stopping.is_set():
                reset_socket(client)
                continue
            fault = _draw(plan, rng, index)
            self._track(client)
            thread = threading.Thread(
                target=self._serve, args=(client, fault, generation),
                name=f"faultproxy-conn-{self.port}-{number}", daemon=True,
            )
            with self._lock:  # started under the lock: whoever sees it in _threads may join it
                self._threads.add(thread)
                thread.start()
        _close_quietly(self._listener)

    def _serve(self, client: socket.socket, fault: _Fault | None, generation: int) -> None:
        upstream: socket.socket | None = None
        try:
            if fault is not None and fault.kind == "refuse" and self._claim_fault("refuse", generation):
                reset_socket(client)
                return
            if fault is not None and fault.kind == "respond" and self._claim_fault("respond", generation):
                _answer(client, fault.response, self._stopping)
                return
            try:
                upstream = socket.create_connection(self.target, timeout=self._connect_timeout)
            except OSError:
                reset_socket(client)
                return
            self._track(upstream)
            if self._stopping.is_set():
                return
            _Relay(self, client, upstream, fault, generation).run()
        except Exception:  # noqa: BLE001 - a proxy bug must not leave sockets open; reset both ends
            reset_socket(client)
            if upstream is not None:
                reset_socket(upstream)
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    if sock.fileno() != -1:
                        reset_socket(sock)
                    self._forget(sock)


def _answer(client: socket.socket, response: bytes, stopping: threading.Event) -> None:
    """Read the client's request headers (a few seconds at most), send ``response``, close.
    A request body is read for a moment too, so that the client sees the answer rather
    than a reset for unread data."""
    client.settimeout(TICK)
    received = bytearray()
    deadline = time.monotonic() + PENDING_DRAIN_LIMIT
    while b"\r\n\r\n" not in received and time.monotonic() < deadline and not stopping.is_set():
        try:
            data = client.recv(CHUNK)
        except TimeoutError:
            continue
        except OSError:
            return
        if not data:
            break
        received += data
    try:
        client.sendall(response)
        client.shutdown(socket.SHUT_WR)
        drain_until = time.monotonic() + 0.2
        while time.monotonic() < drain_until and client.recv(CHUNK):
            pass
    except OSError:
        pass
    _close_quietly(client)


class _Relay:
    """Moves bytes both ways on one connection, in one thread, with poll()."""

    def __init__(self, proxy: Proxy, client: socket.socket, upstream: socket.socket, fault: _Fault | None, generation: int) -> None:
        self.proxy = proxy
        self.sock = {UP: client, DOWN: upstream}  # the socket each direction *reads* from
        self.buf = {UP: bytearray(), DOWN: bytearray()}  # read in that direction, waiting to be written
        self.seen = {UP: 0, DOWN: 0}  # bytes read in each direction
        self.eof = {UP: False, DOWN: False}  # the reading side sent FIN
        self.shut = {UP: False, DOWN: False}  # we sent FIN on the writing side
        self.fault = fault if fault is not None and fault.kind != "refuse" else None
        self.generation = generation
        self.pending: _Fault | None = None  # a fault waiting for its prefix to be delivered
        self.deferred: tuple[str, bytes] | None = None  # bytes read past the pending fault's point
        self.armed_at: dict[str, int] | None = None  # byte counts when the fault was armed
        self.pending_since = 0.0
        self.hold_until = 0.0  # nothing moves before this (stall, latency)
        self.drip: dict[str, float] = {}  # direction -> seconds per byte, once a drip fault fired
        self.next_drip = {UP: 0.0, DOWN: 0.0}  # when the next dripped byte may go
        for sock in (client, upstream):
            sock.setblocking(False)

    @staticmethod
    def _writer(direction: str) -> str:
        """Direction whose *reading* socket is where ``direction``'s bytes are written."""
        return DOWN if direction == UP else UP

    def _out_sock(self, direction: str) -> socket.socket:
        return self.sock[self._writer(direction)]

    def run(self) -> None:
        proxy = self.proxy
        client, upstream = self.sock[UP], self.sock[DOWN]
        poller = select.poll()
        while True:
            if proxy._should_stop():
                self._abort()
                return
            if proxy._generation != self.generation:
                self._replan()
            now = time.monotonic()
            if self.pending is not None:
                drained = not self.buf[self.pending.direction]
                if drained or now - self.pending_since > PENDING_DRAIN_LIMIT:
                    if self._fire(self.pending):
                        return
                    continue
            if self.hold_until > now:
                proxy._stopping.wait(min(TICK, self.hold_until - now))
                continue
            for direction in (UP, DOWN):
                if self.eof[direction] and not self.buf[direction] and not self.shut[direction]:
                    try:
                        self._out_sock(direction).shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    self.shut[direction] = True
            if self.shut[UP] and self.shut[DOWN]:
                for sock in (client, upstream):
                    _close_quietly(sock)
                return

            masks = {client.fileno(): 0, upstream.fileno(): 0}
            for direction in (UP, DOWN):
                if not self.eof[direction] and self.pending is None and len(self.buf[direction]) < MAX_BUFFER:
                    masks[self.sock[direction].fileno()] |= _POLLIN
                if self.buf[direction] and self.next_drip[direction] <= now:
                    masks[self._out_sock(direction).fileno()] |= _POLLOUT
            for fd, mask in masks.items():
                poller.register(fd, mask)
            try:
                events = dict(poller.poll(TICK * 1000))
            except InterruptedError:
                continue
            for direction in (UP, DOWN):
                out = self._out_sock(direction)
                if self.buf[direction] and events.get(out.fileno(), 0) & (_POLLOUT | _POLLERRS):
                    if not self._send(direction):
                        return
            for direction in (UP, DOWN):
                src = self.sock[direction]
                revents = events.get(src.fileno(), 0)
                if revents & (_POLLIN | _POLLERRS) and not self.eof[direction] and self.pending is None:
                    if not self._recv(direction):
                        return
                elif revents & _POLLERRS and self.eof[direction] and not self.buf[self._writer(direction)]:
                    # The peer is gone both ways and nothing is left for it: finish the connection.
                    self.eof[DOWN if direction == UP else UP] = True

    def _replan(self) -> None:
        """The plan changed (e.g. healed): faults not yet fired on this connection are cancelled."""
        self.generation = self.proxy._generation
        self.fault = None
        self.pending = None
        self.hold_until = 0.0
        self.drip.clear()
        self.next_drip = {UP: 0.0, DOWN: 0.0}
        self._release_deferred()

    def _release_deferred(self) -> None:
        if self.deferred is not None:
            direction, data = self.deferred
            self.deferred = None
            self.seen[direction] += len(data)
            self.proxy._count(direction, len(data))
            self.buf[direction] += data

    def _send(self, direction: str) -> bool:
        out = self._out_sock(direction)
        seconds_per_byte = self.drip.get(direction)
        limit = len(self.buf[direction])
        if seconds_per_byte is not None:
            # As many bytes as the rate allows per tick (at least one), then wait.
            limit = max(1, int(TICK / seconds_per_byte))
            self.next_drip[direction] = time.monotonic() + max(TICK, seconds_per_byte)
        try:
            sent = out.send(self.buf[direction][:limit])
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            self._broken(out)
            return False
        del self.buf[direction][:sent]
        return True

    def _recv(self, direction: str) -> bool:
        src = self.sock[direction]
        try:
            data = src.recv(CHUNK)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            self._broken(src)
            return False
        if not data:
            self.eof[direction] = True
            return True
        fault = self.fault
        if fault is not None and self.armed_at is None:
            if direction == UP and self.seen[UP] + len(data) >= fault.armed_after_up:
                self.armed_at = dict(self.seen)
                self.armed_at[UP] = fault.armed_after_up
            elif fault.armed_after_up == 0:
                self.armed_at = dict(self.seen)
        if (
            fault is not None and self.armed_at is not None and fault.direction == direction
            and self.seen[direction] + len(data) > self.armed_at[direction] + fault.after
        ):
            # Deliver exactly the first ``after`` bytes, then fire; the rest waits in
            # ``deferred`` (sent after a stall, or if the fault is cancelled; dropped by a reset).
            keep = max(0, self.armed_at[direction] + fault.after - self.seen[direction])
            self.deferred = (direction, data[keep:])
            data = data[:keep]
            self.fault = None
            self.pending = fault
            self.pending_since = time.monotonic()
        self.seen[direction] += len(data)
        self.proxy._count(direction, len(data))
        self.buf[direction] += data
        latency = self.proxy._plan.latency
        if latency > 0 and data:
            self.hold_until = time.monotonic() + latency
        return True

    def _fire(self, fault: _Fault) -> bool:
        """Carry out a pending fault; True if the connection is finished."""
        self.pending = None
        if not self.proxy._claim_fault(fault.kind, self.generation):
            self._release_deferred()
            return False  # healed or out of budget: carry on as if nothing happened
        if fault.kind == "stall":
            self.hold_until = time.monotonic() + fault.seconds
            self._release_deferred()
            return False
        if fault.kind == "drip":
            self.drip[fault.direction] = fault.seconds
            self._release_deferred()
            return False
        if fault.kind == "truncate":
            client, upstream = self.sock[UP], self.sock[DOWN]
            try:
                client.shutdown(socket.SHUT_WR)  # a clean FIN where the response stops
            except OSError:
                pass
            _close_quietly(client)
            reset_socket(upstream)
            return True
        self._abort()  # reset
        return True

    def _abort(self) -> None:
        for sock in (self.sock[UP], self.sock[DOWN]):
            reset_socket(sock)

    def _broken(self, failed: socket.socket) -> None:
        """One side failed (reset, broken pipe): reset the other so it sees a failure too."""
        for sock in (self.sock[UP], self.sock[DOWN]):
            reset_socket(sock)


def start_proxy(
    target_host: str,
    target_port: int,
    faults: FaultPlan = NO_FAULTS,
    seed: int = 0,
    *,
    listen_port: int = 0,
    time_limit: float | None = None,
    max_connections: int = 128,
    connect_timeout: float = 5.0,
) -> Proxy:
    """Start a proxy on 127.0.0.1 (``listen_port``, or a free one) forwarding to the target.

    ``time_limit`` (seconds) is a hard limit: once it passes, the proxy stops
    accepting and resets every connection (``proxy.timed_out`` becomes True);
    ``stop()`` must still be called to join its threads.
    """
    if target_host not in (LOOPBACK, "localhost", "::1"):
        raise ValueError(f"the fault proxy only forwards to loopback, not {target_host!r}")
    return Proxy(
        target_host, target_port, faults, seed,
        listen_port=listen_port, time_limit=time_limit,
        max_connections=max_connections, connect_timeout=connect_timeout,
    )


__all__ = ["FaultPlan", "NO_FAULTS", "Proxy", "ProxyStats", "reset_socket", "start_proxy"]
