"""The bank link on a real serial line: the master on one end, the other modules on the other, at the baud rate.

``ml314 run --modules N`` (N >= 2) joins the master module and the others by a real byte link: by default a pty
null modem (two kernel serial devices, pyserial on both ends); ``--bank-link tcp://HOST:PORT`` puts the modules on
a TCP listener and the master on a pyserial ``socket://`` client; ``--bank-link DEV1,DEV2`` uses two serial devices
(two USB-RS485 adapters wired A-A, B-B). Every byte is written at the pace the baud rate allows (8N1, 10 bits a
character), so a poll of 16 modules takes the time it would on the real pair.

The modules' side is one thread for the whole RS485 segment: it hears every request, lets each module's endpoint
answer its own ADR, and lets two answers to one ADR collide, as two drivers on one pair do.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from ml314.adapters.serial_link import ByteStream
from ml314.domain.battery_status import AlarmKind, BankStatus
from ml314.errors import TransportError
from ml314.system import bank_link as link
from ml314.system.bank_bus import ModuleEndpoint, collide, frame_adr
from ml314.system.bank_master import BankMaster

__all__ = ["MasterLoop", "ModulesSide", "PacedStream"]

_READ_S = 0.002


class PacedStream:
    """A :class:`ByteStream` whose writes take the time ``baud`` allows (chunks of about 1 ms of line time)."""

    def __init__(self, stream: ByteStream, baud: int) -> None:
        self.stream = stream
        self.baud = baud
        self._chunk = max(1, baud // 10 // 1000)

    def read(self, timeout_s: float) -> bytes:
        return self.stream.read(timeout_s)

    def write(self, data: bytes) -> None:
        t0 = time.perf_counter()
        for i in range(0, len(data), self._chunk):
            piece = data[i : i + self._chunk]
            # a character reaches the other end once its 10 bits have been shifted out
            due = t0 + link.wire_time_s(i + len(piece), self.baud)
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            self.stream.write(piece)

    def close(self) -> None:
        self.stream.close()


class ModulesSide:
    """Every module but the master, answering on ``stream`` (one thread, as one RS485 segment)."""

    def __init__(self, endpoints: list[ModuleEndpoint], stream: PacedStream, clock: Callable[[], float]) -> None:
        self.by_id: dict[int, list[ModuleEndpoint]] = {}
        for e in endpoints:
            if not e.is_master:
                self.by_id.setdefault(e.module_id, []).append(e)
        self.endpoints = [e for e in endpoints if not e.is_master]
        self.stream = stream
        self.clock = clock
        self.stop = threading.Event()
        self.errors: deque[str] = deque(maxlen=20)
        self.requests = 0
        self._thread = threading.Thread(target=self._serve, name="bank-link-modules", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _serve(self) -> None:
        buf = bytearray()
        while not self.stop.is_set():
            try:
                data = self.stream.read(0.05)
            except TransportError as exc:
                self.errors.append(str(exc))
                return
            now = self.clock()
            for e in self.endpoints:
                e.watch(now)
            if not data:
                continue
            buf += data
            while (frame := link.take_frame(buf, response=False)) is not None:
                self.requests += 1
                adr = frame_adr(frame)
                heard = self.endpoints if adr is None or adr == link.BROADCAST_ADR else self.by_id.get(adr, [])
                answers = [a for e in heard if (a := e.respond(frame, now)) is not None]
                if answers:
                    time.sleep(link.interframe_gap_s(self.stream.baud))  # the bus turnaround before answering
                    try:
                        self.stream.write(answers[0] if len(answers) == 1 else collide(answers))
                    except TransportError as exc:
                        self.errors.append(str(exc))

    def close(self) -> None:
        self.stop.set()
        self._thread.join(timeout=5.0)
        self.stream.close()


class MasterLoop:
    """The master polling on ``stream`` in real time; :meth:`bank_status` gives the bank it presents."""

    def __init__(self, master: BankMaster, stream: PacedStream, clock: Callable[[], float]) -> None:
        self.master = master
        self.stream = stream
        self.clock = clock
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.errors: deque[str] = deque(maxlen=20)
        self.timeouts = 0
        self._thread = threading.Thread(target=self._loop, name="bank-link-master", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def transact(self, request: bytes, cmd: link.Cid2) -> tuple[bytes | None, float]:
        """Write ``request``, wait for one whole answer frame or the command's response timeout."""
        while self.stream.read(0.0):  # a late answer to an earlier request must not pass for this one's
            pass
        t0 = time.perf_counter()
        self.stream.write(request)
        deadline = time.perf_counter() + link.response_timeout_s(cmd, self.stream.baud)
        buf = bytearray()
        while (left := deadline - time.perf_counter()) > 0:
            data = self.stream.read(min(left, 0.05))
            if not data:
                continue
            buf += data
            frame = link.take_frame(buf, response=True)
            if frame is not None:
                return frame, time.perf_counter() - t0
        self.timeouts += 1
        return None, time.perf_counter() - t0

    def _loop(self) -> None:
        while not self.stop.is_set():
            now = self.clock()
            idle = self.master.idle_until(now)
            if idle is not None:
                self.stop.wait(min(idle - now, 0.05))
                continue
            try:
                with self.lock:
                    self.master.poll(self.transact, now)
            except TransportError as exc:
                self.errors.append(str(exc))
                self.stop.wait(0.1)

    def bank_status(self, now_s: float, extra: frozenset[AlarmKind] = frozenset()) -> BankStatus:
        with self.lock:
            return self.master.bank_status(now_s, extra)

    def close(self) -> None:
        self.stop.set()
        self._thread.join(timeout=5.0)
        self.stream.close()
