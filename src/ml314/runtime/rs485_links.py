"""The battery and the inverter peer on an RS485 link (serial port, pyserial URL or TCP), half duplex.

Battery: reads bytes, splits frames with the codec, answers each request addressed to it at once (the codec is
pure and the status an immutable snapshot, so several TCP clients may be served side by side). Peer: one polling
cycle per second, each request written, its response awaited up to ``info.response_timeout_s``; the measured
request-to-response times are kept for ``benchmarks/protocols.py``.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from ml314.adapters.serial_link import ByteStream, Rs485TrafficLog, TcpListener
from ml314.domain.battery_status import BankStatus, BatteryView
from ml314.errors import FrameError, TransportError
from ml314.protocols.base import Rs485Codec
from ml314.protocols.keepalive import LinkState, fresh_view, watch_for

__all__ = ["Rs485BatteryServer", "Rs485InverterPeer"]

_READ_S = 0.05
_MAX_BUFFER = 64 * 1024


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


class Rs485BatteryServer:
    """Serves one codec on a stream (device) or on every client of a TCP listener."""

    def __init__(
        self,
        codec: Rs485Codec,
        status: Callable[[], BankStatus],
        log: Rs485TrafficLog | None = None,
    ) -> None:
        self.codec = codec
        self.status = status
        self.log = log
        self.stop = threading.Event()
        self.watch = watch_for(codec.info, time.monotonic())
        self.requests = 0
        self.responses = 0
        self.clients = 0
        self.errors: deque[str] = deque(maxlen=20)
        self._threads: list[threading.Thread] = []
        self._streams: list[ByteStream] = []
        self._lock = threading.Lock()

    def link_state(self) -> LinkState:
        return self.watch.state(time.monotonic())

    def serve_stream(self, stream: ByteStream) -> None:
        """Serve ``stream`` on a thread until :meth:`close` or the stream fails."""
        with self._lock:
            self._streams.append(stream)
        t = threading.Thread(target=self._serve, args=(stream,), name=f"rs485-{self.codec.info.name}", daemon=True)
        self._threads.append(t)
        t.start()

    def serve_listener(self, listener: TcpListener) -> None:
        """Accept clients of ``listener`` on a thread, serving each on its own."""

        def accept() -> None:
            while not self.stop.is_set():
                try:
                    stream = listener.accept(0.2)
                except TransportError as exc:
                    if not self.stop.is_set():
                        self.errors.append(str(exc))
                    return
                if stream is not None:
                    self.clients += 1
                    self.serve_stream(stream)

        t = threading.Thread(target=accept, name="rs485-accept", daemon=True)
        self._threads.append(t)
        t.start()

    def _serve(self, stream: ByteStream) -> None:
        buf = bytearray()
        while not self.stop.is_set():
            try:
                data = stream.read(_READ_S)
            except TransportError as exc:
                self.errors.append(str(exc))
                break
            if not data:
                continue
            buf += data
            if len(buf) > _MAX_BUFFER:
                del buf[: len(buf) - _MAX_BUFFER]
            while (frame := _take(self.codec, buf, response=False, errors=self.errors)) is not None:
                self._answer(stream, frame)
        stream.close()

    def _answer(self, stream: ByteStream, request: bytes) -> None:
        self.requests += 1
        if self.log is not None:
            self.log.record(request, sent=False)
        now = time.monotonic()
        try:
            response = self.codec.respond(request, self.watch.apply(self.status(), now))
        except FrameError as exc:
            self.errors.append(str(exc))
            return
        if response is None:
            return
        self.watch.seen(now)
        try:
            stream.write(response)
        except TransportError as exc:
            self.errors.append(str(exc))
            return
        self.responses += 1
        if self.log is not None:
            self.log.record(response, sent=True)

    def close(self) -> None:
        self.stop.set()
        for t in self._threads:
            t.join(timeout=2.0)


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
