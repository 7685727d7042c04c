"""The battery and the inverter peer on an RS485 link (serial port, pyserial URL or TCP), half duplex.

Battery: reads bytes, splits frames with the codec, answers each request addressed to it at once (the codec is
pure and the status an immutable snapshot, so several TCP clients may be served side by side). Peer: one polling
cycle per second, each request written, its response awaited up to ``info.response_timeout_s``; the measured
request-to-response times are kept for ``benchmarks/protocols.py``.
"""

from __future__ import annotations

import contextlib
import selectors
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ml314.adapters.serial_link import ByteStream, Rs485TrafficLog, SocketStream, TcpListener
from ml314.domain.battery_status import BankStatus, BatteryView
from ml314.domain.faults import SystemFaultKind
from ml314.domain.link_health import LinkHealthSnapshot
from ml314.errors import FrameError, TransportError
from ml314.protocols.base import Rs485Codec
from ml314.protocols.keepalive import LinkState, fresh_view, watch_for
from ml314.runtime.supervision import Backoff, LinkHealth, start_supervised

__all__ = ["DEFAULT_IDLE_TIMEOUT_S", "DEFAULT_MAX_CLIENTS", "Rs485BatteryServer", "Rs485InverterPeer"]

_READ_S = 0.05
_MAX_BUFFER = 64 * 1024
DEFAULT_MAX_CLIENTS = 8  # TCP clients served at once; one more is accepted and closed at once
DEFAULT_IDLE_TIMEOUT_S = 60.0  # a client that sends nothing this long is closed
_CACHE_SIZE = 64
_WRITE_S = 2.0


def _take(codec: Rs485Codec, buf: bytearray, *, response: bool, errors: deque[str]) -> bytes | None:
    """The next whole frame in ``buf``; a malformed one is logged and skipped (at least one byte dropped)."""
    while buf:
        size = len(buf)
        try:
            return codec.take_frame(buf, response=response)
        except FrameError as exc:
            errors.append(str(exc))
            if len(buf) == size:
                del buf[0]
    return None


class _Answers:
    """The answers given from one status snapshot, by request: a flood of the same requests costs one encoding
    each, and every client is served from the same consistent snapshot until the next one is published."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._status: BankStatus | None = None
        self._state: LinkState | None = None
        self._answers: dict[bytes, bytes | None] = {}

    def get(
        self, status: BankStatus, state: LinkState, request: bytes, compute: Callable[[], bytes | None]
    ) -> bytes | None:
        with self._lock:
            if status is self._status and state is self._state and request in self._answers:
                return self._answers[request]
        answer = compute()
        with self._lock:
            if status is not self._status or state is not self._state:
                self._status, self._state, self._answers = status, state, {}
            if len(self._answers) < _CACHE_SIZE:
                self._answers[request] = answer
        return answer


@dataclass(eq=False)
class _Client:
    """One TCP client of the listener: its stream, what it sent that is not a whole frame yet, when it last spoke."""

    key: int
    stream: SocketStream
    heard: float
    buf: bytearray = field(default_factory=bytearray)


class Rs485BatteryServer:
    """Serves one codec on a stream (device) or on every client of a TCP listener, supervised.

    At most ``max_clients`` TCP clients are served at once (one more is accepted and closed at once, counted as
    refused); a client silent for ``idle_timeout_s`` is closed; a client's thread and buffers end with it. A bad
    frame or a failed answer is counted in :attr:`health` and the connection goes on; a device that fails is
    reported lost and opened again with backoff (:meth:`serve_device`).
    """

    def __init__(
        self,
        codec: Rs485Codec,
        status: Callable[[], BankStatus],
        log: Rs485TrafficLog | None = None,
        *,
        max_clients: int = DEFAULT_MAX_CLIENTS,
        idle_timeout_s: float | None = DEFAULT_IDLE_TIMEOUT_S,
    ) -> None:
        self.codec = codec
        self.status = status
        self.log = log
        self.max_clients = max_clients
        self.idle_timeout_s = idle_timeout_s
        self.stop = threading.Event()
        self.watch = watch_for(codec.info, time.monotonic())
        self.health = LinkHealth(f"RS485 {codec.info.name}")
        self.requests = 0
        self.responses = 0
        self.idle_closed = 0
        self.errors: deque[str] = deque(maxlen=20)
        self._threads: list[threading.Thread] = []
        self._active: dict[int, tuple[threading.Thread, ByteStream]] = {}
        self._next_key = 0
        self._lock = threading.Lock()
        self._answers = _Answers()
        self._clients: dict[int, _Client] = {}
        self._on_close: list[Callable[[], None]] = []
        #: the byte chunks received lately, whatever protocol they are (the inverter detective reads them)
        self.heard: deque[bytes] = deque(maxlen=64)

    @property
    def clients(self) -> int:
        """TCP clients accepted so far (not counting those refused over the cap)."""
        return self.health.connections

    @property
    def active_clients(self) -> int:
        """TCP clients connected now."""
        with self._lock:
            return len(self._clients)

    def link_state(self) -> LinkState:
        return self.watch.state(time.monotonic())

    def health_snapshot(self) -> LinkHealthSnapshot:
        return self.health.snapshot()

    # ------------------------------------------------------------ serving
    def _spawn(self, stream: ByteStream, idle_timeout_s: float | None) -> None:
        with self._lock:
            key = self._next_key
            self._next_key += 1
            t = threading.Thread(
                target=self._serve_client,
                args=(stream, key, idle_timeout_s),
                name=f"rs485-{self.codec.info.name}-{key}",
                daemon=True,
            )
            self._active[key] = (t, stream)
        t.start()

    def serve_stream(self, stream: ByteStream) -> None:
        """Serve ``stream`` on a thread until :meth:`close` or the stream fails (no idle timeout)."""
        self._spawn(stream, None)

    def serve_device(self, open_stream: Callable[[], ByteStream]) -> None:
        """Serve the device ``open_stream`` opens; when it fails it is reported lost and opened again with
        backoff (0.1 s doubling to 5 s) until :meth:`close`."""
        first = open_stream()
        backoff = Backoff(0.1, 5.0)
        current: list[ByteStream | None] = [first]

        def step() -> None:
            stream = current[0]
            if stream is None:
                try:
                    stream = open_stream()
                except Exception as exc:
                    self.health.error(SystemFaultKind.LINK_ERROR, f"reopen failed: {exc}", reason="reopen")
                    self.stop.wait(backoff.next())
                    return
                backoff.reset()
                self.health.reopened(str(getattr(stream, "port", stream)))
                current[0] = stream
            try:
                self._serve(stream, None)
            finally:
                with contextlib.suppress(Exception):
                    stream.close()
                current[0] = None
            if not self.stop.is_set():
                self.health.lost(f"{self.errors[-1] if self.errors else 'device failed'}")
                self.stop.wait(backoff.next())

        self._threads.append(start_supervised(step, self.stop, self.health, f"rs485-{self.codec.info.name}"))

    def serve_listener(self, listener: TcpListener) -> None:
        """Serve every client of ``listener`` (up to the cap) from one supervised thread: a selector wakes it for
        a new connection or a client's bytes, so a client costs a socket and a buffer, never a thread."""
        selector = selectors.DefaultSelector()
        selector.register(listener.sock, selectors.EVENT_READ, None)
        clients: dict[int, _Client] = {}
        backoff = Backoff(0.05, 2.0)
        sweep = [time.monotonic()]

        def drop(client: _Client) -> None:
            with contextlib.suppress(KeyError, ValueError, OSError):
                selector.unregister(client.stream.sock)
            with contextlib.suppress(OSError):
                client.stream.close()
            with self._lock:
                self._clients.pop(client.key, None)
            clients.pop(client.key, None)

        def accept() -> None:
            try:
                stream = listener.accept(0.01)
            except TransportError as exc:  # out of descriptors, ...: count it, pause, accept again
                if not self.stop.is_set():
                    self.errors.append(str(exc))
                    self.health.error(SystemFaultKind.LINK_ERROR, str(exc), reason="accept")
                    self.stop.wait(backoff.next())
                return
            backoff.reset()
            if stream is None:
                return
            if len(clients) >= self.max_clients:
                self.health.refused += 1
                stream.close()
                return
            self.health.connections += 1
            stream.sock.settimeout(_WRITE_S)  # an answer a client does not take within this ends that client
            with self._lock:
                key = self._next_key
                self._next_key += 1
                client = _Client(key, stream, time.monotonic())
                self._clients[key] = client
            clients[key] = client
            selector.register(stream.sock, selectors.EVENT_READ, client)

        def serve(client: _Client) -> None:
            try:
                data = client.stream.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self.errors.append(f"TCP client {client.stream.peer}: {exc}")
                drop(client)
                return
            if not data:  # the client closed
                drop(client)
                return
            client.heard = time.monotonic()
            if not self._feed(client.stream, client.buf, data):
                drop(client)

        def step() -> None:
            if listener.sock.fileno() < 0:  # closed at shutdown
                for client in list(clients.values()):
                    drop(client)
                self.stop.wait(0.2)
                return
            for key, _ in selector.select(0.2):
                if key.data is None:
                    accept()
                else:
                    serve(key.data)
            now = time.monotonic()
            if self.idle_timeout_s is not None and now - sweep[0] >= min(1.0, self.idle_timeout_s / 2):
                sweep[0] = now
                for client in [c for c in clients.values() if now - c.heard > self.idle_timeout_s]:
                    self.idle_closed += 1
                    drop(client)

        def close_all() -> None:
            for client in list(clients.values()):
                drop(client)
            selector.close()

        self._on_close.append(close_all)
        self._threads.append(start_supervised(step, self.stop, self.health, "rs485-listener"))

    def _feed(self, stream: ByteStream, buf: bytearray, data: bytes) -> bool:
        """Add ``data`` to ``buf`` and answer every whole request in it; False when the stream failed."""
        self.heard.append(bytes(data))
        buf += data
        if len(buf) > _MAX_BUFFER:
            del buf[: len(buf) - _MAX_BUFFER]
        while (frame := self._take(buf)) is not None:
            try:
                self._answer(stream, frame)
            except TransportError as exc:
                self.errors.append(str(exc))
                return False
            except Exception as exc:  # a request the codec fails on: counted, the next one is answered
                self.health.exception(exc)
        return True

    def _serve_client(self, stream: ByteStream, key: int, idle_timeout_s: float | None) -> None:
        try:
            self._serve(stream, idle_timeout_s)
        except Exception as exc:  # a bug in serving one client ends that client, never the listener
            self.health.exception(exc)
        finally:
            with contextlib.suppress(Exception):
                stream.close()
            with self._lock:
                self._active.pop(key, None)

    def _serve(self, stream: ByteStream, idle_timeout_s: float | None) -> None:
        """Answer requests on ``stream`` until it closes, falls idle, or :meth:`close`."""
        buf = bytearray()
        heard = time.monotonic()
        while not self.stop.is_set():
            try:
                data = stream.read(_READ_S)
            except TransportError as exc:
                self.errors.append(str(exc))
                return
            if not data:
                if idle_timeout_s is not None and time.monotonic() - heard > idle_timeout_s:
                    self.idle_closed += 1
                    return
                continue
            heard = time.monotonic()
            if not self._feed(stream, buf, data):
                return

    def _take(self, buf: bytearray) -> bytes | None:
        bad: deque[str] = deque()
        frame = _take(self.codec, buf, response=False, errors=bad)
        for text in bad:
            self.errors.append(text)
            self.health.error(SystemFaultKind.LINK_BAD_FRAME, text, reason="FrameError")
        return frame

    def _answer(self, stream: ByteStream, request: bytes) -> None:
        self.requests += 1
        self.health.frame_in()
        if self.log is not None:
            self.log.record(request, sent=False)
        now = time.monotonic()
        base = self.status()
        state = self.watch.state(now)
        try:
            response = self._answers.get(
                base, state, request, lambda: self.codec.respond(request, self.watch.apply(base, now))
            )
        except FrameError as exc:
            self.errors.append(str(exc))
            self.health.error(SystemFaultKind.LINK_BAD_FRAME, str(exc), reason="FrameError")
            return
        if response is None:
            return
        self.watch.seen(now)
        stream.write(response)
        self.responses += 1
        self.health.frame_out()
        if self.log is not None:
            self.log.record(response, sent=True)

    def close(self) -> None:
        self.stop.set()
        for t in self._threads:
            t.join(timeout=2.0)
        with self._lock:
            active = list(self._active.values())
        for t, _ in active:
            t.join(timeout=2.0)
        for close in self._on_close:
            close()


class Rs485InverterPeer:
    """The built-in inverter polling the battery over ``stream`` once per ``interval_s``."""

    def __init__(
        self, codec: Rs485Codec, stream: ByteStream, log: Rs485TrafficLog | None = None, interval_s: float = 1.0
    ) -> None:
        self.codec = codec
        self.stream = stream
        self.log = log
        self.interval_s = interval_s
        self.view = BatteryView()
        self.stop = threading.Event()
        self.latencies_s: deque[float] = deque(maxlen=100_000)
        self.timeouts = 0
        self.decode_errors = 0
        self.last_response_s: float | None = None
        self.errors: deque[str] = deque(maxlen=20)
        self._thread: threading.Thread | None = None

    def current_view(self) -> BatteryView:
        """What the inverter acts on: its decoded view, or nothing once the battery has gone silent."""
        return fresh_view(self.view, self.last_response_s, time.monotonic())

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=f"rs485-peer-{self.codec.info.name}", daemon=True)
        self._thread.start()

    def poll_once(self) -> None:
        """One polling cycle: every request of the codec, in order."""
        for request in self.codec.inverter_requests():
            response = self.transact(request)
            if response is None:
                continue
            try:
                self.view = self.view.merge(self.codec.decode_response(request, response))
            except FrameError as exc:
                self.decode_errors += 1
                self.errors.append(str(exc))
                continue
            self.last_response_s = time.monotonic()

    def transact(self, request: bytes) -> bytes | None:
        """Write ``request``, return the response frame or ``None`` after the protocol's response timeout."""
        t0 = time.perf_counter()
        self.stream.write(request)
        if self.log is not None:
            self.log.record(request, sent=True)
        buf = bytearray()
        deadline = t0 + self.codec.info.response_timeout_s
        while (left := deadline - time.perf_counter()) > 0:
            data = self.stream.read(min(left, _READ_S))
            if not data:
                continue
            buf += data
            frame = _take(self.codec, buf, response=True, errors=self.errors)
            if frame is not None:
                self.latencies_s.append(time.perf_counter() - t0)
                if self.log is not None:
                    self.log.record(frame, sent=False)
                return frame
        self.timeouts += 1
        return None

    def _loop(self) -> None:
        due = time.monotonic()
        while not self.stop.is_set():
            try:
                self.poll_once()
            except TransportError as exc:
                self.errors.append(str(exc))
            due += self.interval_s
            if self.stop.wait(max(0.0, due - time.monotonic())):
                break

    def close(self) -> None:
        self.stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self.stream.close()
