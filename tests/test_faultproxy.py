"""The fault-injecting proxy itself, against tiny local echo and HTTP servers (no artver)."""

from __future__ import annotations

import http.client
import http.server
import os
import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from tests.support.faultproxy import NO_FAULTS, FaultPlan, Proxy, start_proxy

BODY = os.urandom(200_000)


class _EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.settimeout(10)
        try:
            while data := self.request.recv(65536):
                self.request.sendall(data)
        except OSError:
            pass


class _HttpHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args: object) -> None:
        pass


class _ThreadingTCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False


@pytest.fixture(scope="module")
def echo_server() -> Iterator[tuple[str, int]]:
    server = _ThreadingTCPServer(("127.0.0.1", 0), _EchoHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[:2]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class _QuietHttpServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client the proxy reset on purpose: expected, not worth a traceback on stderr


@pytest.fixture(scope="module")
def http_server() -> Iterator[tuple[str, int]]:
    server = _QuietHttpServer(("127.0.0.1", 0), _HttpHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[:2]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def proxies() -> Iterator[list[Proxy]]:
    """Collects the proxies a test starts and stops them all, whatever happens."""
    started: list[Proxy] = []
    try:
        yield started
    finally:
        errors = []
        for proxy in started:
            try:
                proxy.stop()
            except RuntimeError as error:
                errors.append(error)
        assert not errors, errors


def proxy_to(proxies: list[Proxy], address: tuple[str, int], plan: FaultPlan = NO_FAULTS, seed: int = 0, **options: object) -> Proxy:
    proxy = start_proxy(address[0], address[1], plan, seed, **options)  # type: ignore[arg-type]
    proxies.append(proxy)
    return proxy


def connect(proxy: Proxy, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection((proxy.host, proxy.port), timeout=timeout)


def echo_roundtrip(proxy: Proxy, payload: bytes, timeout: float = 5.0) -> bytes:
    with connect(proxy, timeout) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        received = bytearray()
        while chunk := sock.recv(65536):
            received += chunk
        return bytes(received)


def http_get(proxy: Proxy, timeout: float = 5.0) -> bytes:
    connection = http.client.HTTPConnection(proxy.host, proxy.port, timeout=timeout)
    try:
        connection.request("GET", "/blob")
        response = connection.getresponse()
        assert response.status == 200
        return response.read()
    finally:
        connection.close()


def proxy_threads(proxy: Proxy) -> list[str]:
    """The threads of this proxy still alive (other proxies, e.g. the session's in front of
    the test servers, may be running too)."""
    mine = (f"faultproxy-accept-{proxy.port}", f"faultproxy-conn-{proxy.port}-")
    return [thread.name for thread in threading.enumerate() if thread.name.startswith(mine)]


# ------------------------------------------------------------------ pass-through


def test_pass_through_echo_and_http(proxies, echo_server, http_server) -> None:
    echo = proxy_to(proxies, echo_server)
    payload = os.urandom(1_000_000)
    assert echo_roundtrip(echo, payload) == payload
    web = proxy_to(proxies, http_server)
    for _ in range(3):
        assert http_get(web) == BODY
    stats = echo.stats()
    assert stats.connections == 1 and stats.bytes_up == stats.bytes_down == len(payload)
    assert stats.faults_injected == 0
    assert web.stats().connections == 3 and web.stats().bytes_down > 3 * len(BODY)
    assert echo.url == f"http://127.0.0.1:{echo.port}"


def test_keep_alive_connection_counts_bytes_across_requests(proxies, http_server) -> None:
    web = proxy_to(proxies, http_server)
    connection = http.client.HTTPConnection(web.host, web.port, timeout=5)
    try:
        for _ in range(3):
            connection.request("GET", "/blob")
            assert connection.getresponse().read() == BODY
    finally:
        connection.close()
    stats = web.stats()
    assert stats.connections == 1 and stats.bytes_down > 3 * len(BODY)


def test_listens_on_loopback_only_and_forwards_to_loopback_only(proxies, echo_server) -> None:
    proxy = proxy_to(proxies, echo_server)
    assert proxy.host == "127.0.0.1"
    with pytest.raises(ValueError):
        start_proxy("192.0.2.1", 80, NO_FAULTS, 0)


# ------------------------------------------------------------------------ faults


def test_reset_downstream_is_a_connection_reset_for_the_client(proxies, echo_server) -> None:
    proxy = proxy_to(proxies, echo_server, FaultPlan(reset=1.0, reset_after=(10_000, 10_000), reset_direction="down"))
    received = bytearray()
    with connect(proxy) as sock:
        sock.sendall(os.urandom(50_000))
        with pytest.raises(ConnectionResetError):
            while True:
                chunk = sock.recv(65536)
                assert chunk, "clean EOF instead of a reset"
                received += chunk
    assert len(received) <= 10_000
    assert proxy.stats().faults["reset"] == 1


def test_reset_upstream_stops_what_reaches_the_server(proxies, echo_server) -> None:
    proxy = proxy_to(proxies, echo_server, FaultPlan(reset=1.0, reset_after=(3_000, 3_000), reset_direction="up"))
    received = bytearray()
    with connect(proxy) as sock:
        with pytest.raises((ConnectionResetError, BrokenPipeError)):
            for _ in range(50):
                sock.sendall(os.urandom(10_000))
                time.sleep(0.01)
            while True:
                chunk = sock.recv(65536)
                assert chunk, "clean EOF instead of a reset"
                received += chunk
    assert proxy.stats().bytes_up == 3_000
    assert len(received) <= 3_000


def test_http_client_sees_reset_mid_body(proxies, http_server) -> None:
    proxy = proxy_to(proxies, http_server, FaultPlan(reset=1.0, reset_after=(50_000, 50_000), reset_direction="down"))
    with pytest.raises(ConnectionResetError):
        http_get(proxy)


def test_refused_connection_is_reset_at_once(proxies, echo_server) -> None:
    proxy = proxy_to(proxies, echo_server, FaultPlan(refuse=1.0))
    # (connect() itself may already see the reset: with a timeout it is non-blocking plus poll)
    with pytest.raises((ConnectionResetError, BrokenPipeError)):
        with connect(proxy) as sock:
            sock.sendall(b"hello")
            time.sleep(0.05)
            sock.sendall(b"hello")
            assert sock.recv(10) != b"", "clean EOF instead of a reset"
    stats = proxy.stats()
    assert stats.faults["refuse"] == 1 and stats.bytes_up == 0


def test_truncate_closes_cleanly_after_n_response_bytes(proxies, http_server) -> None:
    proxy = proxy_to(proxies, http_server, FaultPlan(truncate=1.0, truncate_after=(5_000, 5_000)))
    with connect(proxy) as sock:
        sock.sendall(b"GET /blob HTTP/1.1\r\nHost: x\r\n\r\n")
        received = bytearray()
        while chunk := sock.recv(65536):  # ends with a clean EOF, no reset
            received += chunk
    assert len(received) == 5_000
    with pytest.raises(http.client.IncompleteRead):
        http_get(proxy)
    assert proxy.stats().faults["truncate"] == 2


def test_stall_makes_a_client_time_out_then_data_flows_again(proxies, echo_server) -> None:
    proxy = proxy_to(proxies, echo_server, FaultPlan(stall=1.0, stall_after=(0, 0), stall_direction="down", stall_seconds=1.0))
    with connect(proxy, timeout=0.3) as sock:
        sock.sendall(b"ping")
        started = time.monotonic()
        with pytest.raises(socket.timeout):
            sock.recv(10)
        sock.settimeout(5)
        assert sock.recv(10) == b"ping"
        assert time.monotonic() - started >= 0.9
    assert proxy.stats().faults["stall"] == 1


def test_healing_cancels_a_stall_in_progress(proxies, echo_server) -> None:
    proxy = proxy_to(proxies, echo_server, FaultPlan(stall=1.0, stall_after=(0, 0), stall_direction="up", stall_seconds=30.0))
    with connect(proxy, timeout=0.3) as sock:
        sock.sendall(b"ping")
        with pytest.raises(socket.timeout):
            sock.recv(10)
        proxy.heal()
        sock.settimeout(2)
        assert sock.recv(10) == b"ping"
    assert echo_roundtrip(proxy, b"after healing") == b"after healing"


def test_drip_sends_headers_then_trickles_the_body(proxies, http_server) -> None:
    proxy = proxy_to(proxies, http_server, FaultPlan(drip=1.0, drip_after=(100, 100), drip_rate=10))
    with connect(proxy, timeout=5) as sock:
        sock.sendall(b"GET /blob HTTP/1.1\r\nHost: x\r\n\r\n")
        received = bytearray()
        started = time.monotonic()
        while time.monotonic() - started < 1.0:
            received += sock.recv(65536)
    # The first 100 bytes at once, then about 10 bytes a second: far from the 200 kB body.
    assert 100 < len(received) <= 100 + 20, len(received)
    assert proxy.stats().faults["drip"] == 1


def test_drip_upstream_slows_what_reaches_the_server(proxies, echo_server) -> None:
    proxy = proxy_to(proxies, echo_server, FaultPlan(drip=1.0, drip_after=(0, 0), drip_rate=20, drip_direction="up"))
    with connect(proxy, timeout=0.5) as sock:
        sock.sendall(b"x" * 1000)
        received = bytearray()
        started = time.monotonic()
        while time.monotonic() - started < 1.0:
            try:
                received += sock.recv(65536)
            except TimeoutError:
                pass
    assert 5 <= len(received) <= 40, len(received)


def test_respond_answers_with_the_canned_response_without_the_server(proxies, http_server) -> None:
    answer = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 6\r\nConnection: close\r\n\r\ndenied"
    proxy = proxy_to(proxies, http_server, FaultPlan(respond=1.0, response=answer))
    connection = http.client.HTTPConnection(proxy.host, proxy.port, timeout=5)
    try:
        connection.request("PUT", "/blob", body=b"some body")
        response = connection.getresponse()
        assert (response.status, response.read()) == (403, b"denied")
    finally:
        connection.close()
    assert proxy.stats().faults["respond"] == 1 and proxy.stats().bytes_up == 0


def test_dropped_connections_make_the_next_request_draw_a_fault(proxies, http_server) -> None:
    proxy = proxy_to(proxies, http_server)
    connection = http.client.HTTPConnection(proxy.host, proxy.port, timeout=5)
    try:
        connection.request("GET", "/blob")
        assert connection.getresponse().read() == BODY
        proxy.set_plan(FaultPlan(respond=1.0, response=b"HTTP/1.1 503 Slow Down\r\nContent-Length: 0\r\n\r\n"))
        connection.request("GET", "/blob")  # the open connection keeps its (absent) fault
        assert connection.getresponse().read() == BODY
        proxy.drop_connections()
        time.sleep(0.2)
        connection.close()
        connection.request("GET", "/blob")
        assert connection.getresponse().status == 503
    finally:
        connection.close()


def test_dropping_connections_while_a_new_one_is_being_started(proxies, echo_server, monkeypatch) -> None:
    """Regression: a connection's thread was listed before it was started, so a drop_connections()
    (or stop()) at that moment failed with "cannot join thread before it is started". The start of
    the connection's thread is slowed down here to hold that moment open."""
    from tests.support import faultproxy

    proxy = proxy_to(proxies, echo_server)
    starting = threading.Event()

    class SlowToStart(threading.Thread):
        def start(self) -> None:
            if self.name.startswith("faultproxy-conn-"):
                starting.set()
                time.sleep(0.5)
            super().start()

    monkeypatch.setattr(faultproxy.threading, "Thread", SlowToStart)
    with connect(proxy):
        assert starting.wait(5), "the proxy did not take the connection"
        proxy.drop_connections()  # the connection's thread is listed, and not started yet unless under the lock
    assert proxy.stats().connections == 1


def test_latency_is_added_per_chunk(proxies, echo_server) -> None:
    proxy = proxy_to(proxies, echo_server, FaultPlan(latency=0.2))
    started = time.monotonic()
    assert echo_roundtrip(proxy, b"x") == b"x"
    assert time.monotonic() - started >= 0.4  # one chunk up, one down


def test_faults_are_reproducible_from_the_seed(proxies, echo_server) -> None:
    plan = FaultPlan(refuse=0.5)

    def pattern(seed: int) -> list[bool]:
        proxy = proxy_to(proxies, echo_server, plan, seed)
        outcome = []
        for _ in range(16):
            try:
                outcome.append(echo_roundtrip(proxy, b"hi", timeout=2) == b"hi")
            except OSError:  # reset, broken pipe, or ENOTCONN from shutdown() after the reset
                outcome.append(False)
        assert proxy.stats().faults["refuse"] == outcome.count(False)
        return outcome

    first = pattern(7)
    assert first == pattern(7)
    assert True in first and False in first
    assert first != pattern(8)


def test_max_faults_and_spare_first(proxies, echo_server) -> None:
    proxy = proxy_to(proxies, echo_server, FaultPlan(refuse=1.0, max_faults=2, spare_first=1))
    outcome = []
    for _ in range(5):
        try:
            outcome.append(echo_roundtrip(proxy, b"hi", timeout=2) == b"hi")
        except OSError:
            outcome.append(False)
    assert outcome == [True, False, False, True, True]


def test_a_fault_can_wait_for_a_large_upload(proxies, echo_server) -> None:
    proxy = proxy_to(proxies, echo_server, FaultPlan(truncate=1.0, truncate_after=(10, 10), armed_after_up=1_000))
    with connect(proxy) as sock:
        sock.sendall(b"a" * 500)
        received = bytearray()
        while len(received) < 500:
            received += sock.recv(65536)  # not armed yet: the echo comes back whole
        sock.sendall(b"b" * 1_000)  # arms the fault at 1000 bytes up, then 10 more bytes down
        while chunk := sock.recv(65536):
            received += chunk
    assert bytes(received) == b"a" * 500 + b"b" * 10


def test_thresholds_are_drawn_in_range_reproducibly() -> None:
    import random

    from tests.support.faultproxy import _draw

    for spread in ("uniform", "log"):
        plan = FaultPlan(reset=1.0, reset_after=(0, 3_000_000), spread=spread)
        draws = [_draw(plan, random.Random(f"5/0/{index}"), index) for index in range(400)]
        assert draws == [_draw(plan, random.Random(f"5/0/{index}"), index) for index in range(400)]
        afters = [fault.after for fault in draws if fault is not None]
        assert len(afters) == 400 and all(0 <= after <= 3_000_000 for after in afters)
        small = sum(after < 30_000 for after in afters)
        assert (small > 100) if spread == "log" else (small < 20)


def test_fault_plan_is_validated() -> None:
    with pytest.raises(ValueError):
        FaultPlan(reset=0.7, stall=0.5)
    with pytest.raises(ValueError):
        FaultPlan(refuse=-0.1)
    with pytest.raises(ValueError):
        FaultPlan(reset_after=(10, 5))
    with pytest.raises(ValueError):
        FaultPlan(reset_direction="sideways")
    with pytest.raises(ValueError):
        FaultPlan(drip=1.0, drip_rate=0)
    with pytest.raises(ValueError):
        FaultPlan(respond=1.0)  # no response given
    assert FaultPlan().is_clean and not FaultPlan(latency=0.1).is_clean


# ---------------------------------------------------------------------- bounded


def test_stop_leaves_no_threads_and_closes_the_port(echo_server) -> None:
    before = set(threading.enumerate())
    proxy = start_proxy(*echo_server, FaultPlan(stall=1.0, stall_after=(0, 0), stall_seconds=60.0), 1)
    try:
        idle = connect(proxy)
        stalled = connect(proxy, timeout=0.2)
        stalled.sendall(b"x")
        time.sleep(0.2)
        assert len(proxy.threads()) == 3  # accept + two connections
    finally:
        started = time.monotonic()
        proxy.stop(timeout=5)
    assert time.monotonic() - started < 2
    assert not proxy_threads(proxy)
    # (the echo server's own handler threads may still be finishing; only the proxy's matter)
    assert not [t for t in set(threading.enumerate()) - before
                if "process_request" not in t.name and not t.name.startswith("faultproxy-")]
    with idle, stalled:
        with pytest.raises((ConnectionResetError, BrokenPipeError, OSError)):
            stalled.settimeout(2)
            assert stalled.recv(10) != b""
    with pytest.raises(OSError):
        connect(proxy, timeout=1).close()
    proxy.stop()  # twice is fine


def test_hard_time_limit_stops_the_proxy(echo_server) -> None:
    proxy = start_proxy(*echo_server, NO_FAULTS, 0, time_limit=0.5)
    try:
        assert echo_roundtrip(proxy, b"early") == b"early"
        time.sleep(0.8)
        assert proxy.timed_out
        with pytest.raises(OSError):
            echo_roundtrip(proxy, b"late", timeout=1)
    finally:
        proxy.stop()
    assert not proxy_threads(proxy)
