"""The bank link on a real serial line: the master on one end, the other modules on the other, at the baud rate.

``ml314 run --modules N`` (N >= 2) joins the master module and the others by a real byte link: by default a pty
null modem (two kernel serial devices, pyserial on both ends); ``--bank-link tcp://HOST:PORT`` puts the modules on
a TCP listener and the master on a pyserial ``socket://`` client; ``--bank-link DEV1,DEV2`` uses two serial devices
(two USB-RS485 adapters wired A-A, B-B). Every byte is written at the pace the baud rate allows (8N1, 10 bits a
character), so a poll of 16 modules takes the time it would on the real pair.

The modules' side is one thread for the whole RS485 segment: it hears every request, lets each module's endpoint
answer its own ADR, and lets two answers to one ADR collide, as two drivers on one pair do.

Both ends run supervised (an exception is counted in the link's health, never the end of the thread). The master
waits for an answer the wire time plus a measured allowance for host scheduling (:class:`SchedulingAllowance`):
twice the latest lateness seen beyond the wire time, doubled after each timeout, so a host busy with other work
(50 inverter clients, another process on every core) makes answers late, not lost; the master retries a
transaction that timed out before it counts a miss (``MasterParams.retries``).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace

from ml314.adapters.serial_link import ByteStream
from ml314.domain.battery_status import AlarmKind, BankStatus
from ml314.domain.faults import SystemFault, SystemFaultKind
from ml314.domain.link_health import LinkHealthSnapshot
from ml314.errors import TransportError
from ml314.runtime.supervision import Backoff, LinkHealth, start_supervised
from ml314.system import bank_link as link
from ml314.system.bank_bus import ModuleEndpoint, collide, frame_adr
from ml314.system.bank_master import BankMaster, Membership

__all__ = ["MasterLoop", "ModulesSide", "PacedStream", "SchedulingAllowance"]

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
        self.endpoints: list[ModuleEndpoint] = []
        self.reindex(endpoints)
        self.stream = stream
        self.clock = clock
        self.stop = threading.Event()
        self.errors: deque[str] = deque(maxlen=20)
        self.requests = 0
        self.health = LinkHealth("bank link (modules)")
        self._buf = bytearray()
        self._backoff = Backoff(0.1, 5.0)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = start_supervised(self._step, self.stop, self.health, "bank-link-modules")

    def reindex(self, endpoints: list[ModuleEndpoint]) -> None:
        """Index the modules on this side by their IDs again (after a RESET read new switches or made another module
        the master); the link thread picks up the new index with its next frame."""
        by_id: dict[int, list[ModuleEndpoint]] = {}
        for e in endpoints:
            if not e.is_master:
                by_id.setdefault(e.module_id, []).append(e)
        self.by_id, self.endpoints = by_id, [e for e in endpoints if not e.is_master]

    def _step(self) -> None:
        """Read what arrived on the segment and answer every whole request in it."""
        try:
            data = self.stream.read(0.05)
        except TransportError as exc:  # the line failed: report it, try again after a pause
            self.errors.append(str(exc))
            self.health.lost(str(exc))
            self.stop.wait(self._backoff.next())
            return
        if self.health.is_lost:
            self._backoff.reset()
            self.health.reopened("the line reads again")
        now = self.clock()
        for e in self.endpoints:
            e.watch(now)
        if not data:
            return
        buf = self._buf
        buf += data
        while (frame := link.take_frame(buf, response=False)) is not None:
            self.requests += 1
            self.health.frame_in()
            adr = frame_adr(frame)
            heard = self.endpoints if adr is None or adr == link.BROADCAST_ADR else self.by_id.get(adr, [])
            answers = [a for e in heard if (a := e.respond(frame, now)) is not None]
            if answers:
                time.sleep(link.interframe_gap_s(self.stream.baud))  # the bus turnaround before answering
                try:
                    self.stream.write(answers[0] if len(answers) == 1 else collide(answers))
                except TransportError as exc:
                    self.errors.append(str(exc))
                    self.health.error(SystemFaultKind.LINK_ERROR, str(exc), reason="write")
                    return
                self.health.frame_out()

    def health_snapshot(self) -> LinkHealthSnapshot:
        return self.health.snapshot()

    def close(self) -> None:
        self.stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self.stream.close()


class SchedulingAllowance:
    """The time allowed on top of the wire time for the host to run both ends of the link, measured.

    Each answer's lateness (its arrival after the end of the request, minus the answer's own wire time) is kept
    for the last ``window`` answers; the allowance is twice the largest of them, never below ``floor_s`` (a
    module's processing time). A timeout doubles it (up to ``ceiling_s``) so the retry of a late answer waits
    long enough; the boost relaxes by 5 % with each answer on time.
    """

    def __init__(self, floor_s: float = link.PROCESSING_ALLOWANCE_S, ceiling_s: float = 1.0, window: int = 256) -> None:
        self.floor_s = floor_s
        self.ceiling_s = ceiling_s
        self._late: deque[float] = deque(maxlen=window)
        self._boost_s = 0.0

    def observe(self, late_s: float) -> None:
        self._late.append(max(0.0, late_s))
        self._boost_s *= 0.95

    def missed(self) -> None:
        self._boost_s = min(self.ceiling_s, max(2.0 * self.allowance_s(), self.floor_s))

    def allowance_s(self) -> float:
        measured = 2.0 * max(self._late, default=0.0)
        return min(self.ceiling_s, max(self.floor_s, measured, self._boost_s))


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
        self.allowance = SchedulingAllowance()
        self.health = LinkHealth("bank link")
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = start_supervised(self._step, self.stop, self.health, "bank-link-master")

    def transact(self, request: bytes, cmd: link.Cid2) -> tuple[bytes | None, float]:
        """Write ``request``, wait for one whole answer frame: its wire time plus the measured allowance."""
        while self.stream.read(0.0):  # a late answer to an earlier request must not pass for this one's
            pass
        baud = self.stream.baud
        t0 = time.perf_counter()
        self.stream.write(request)
        self.health.frame_out()
        written = time.perf_counter()
        answer_wire_s = link.wire_time_s(3 + link.RESPONSE_WIRE_BYTES[cmd], baud)  # turnaround + the answer
        deadline = written + answer_wire_s + self.allowance.allowance_s()
        buf = bytearray()
        while (left := deadline - time.perf_counter()) > 0:
            data = self.stream.read(min(left, 0.05))
            if not data:
                continue
            buf += data
            frame = link.take_frame(buf, response=True)
            if frame is not None:
                done = time.perf_counter()
                self.allowance.observe(done - written - answer_wire_s)
                self.health.frame_in()
                return frame, done - t0
        self.timeouts += 1
        if frame_adr(request) in self.master.members:  # silence at an unused ID is the discovery scan's answer
            self.allowance.missed()
        return None, time.perf_counter() - t0

    def _step(self) -> None:
        now = self.clock()
        idle = self.master.idle_until(now)
        if idle is not None:
            self.stop.wait(min(idle - now, 0.05))
            return
        try:
            with self.lock:
                self.master.poll(self.transact, now)
        except TransportError as exc:
            self.errors.append(str(exc))
            self.health.error(SystemFaultKind.LINK_ERROR, str(exc), reason="TransportError")
            self.stop.wait(0.1)

    def health_snapshot(self) -> LinkHealthSnapshot:
        """The link's counters, with a MODULE_LOST fault for every member the master has lost."""
        snap = self.health.snapshot()
        # without the master's lock: its thread holds it across each transaction (up to a timeout), and the run
        # loop asks every tick; copying the members is one C-level step under the GIL, each state one read
        members = list(self.master.members.values())
        lost = [m.module_id for m in members if m.state is Membership.LOST]
        faults = tuple(
            SystemFault(SystemFaultKind.MODULE_LOST, "no answer on the bank link", module_id=mid, link=snap.link)
            for mid in sorted(lost)
        )
        return replace(snap, faults=snap.faults + faults)

    def bank_status(self, now_s: float, extra: frozenset[AlarmKind] = frozenset()) -> BankStatus:
        with self.lock:
            return self.master.bank_status(now_s, extra)

    def close(self) -> None:
        self.stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self.stream.close()
