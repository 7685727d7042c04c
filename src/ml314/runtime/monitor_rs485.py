"""``ml314 monitor`` on Pylon RS485: the PC polling every pack of a stack, as Pylon's BatteryView does.

One thread owns the line (RS485 is half duplex: one request, its answer, the next). Each cycle it asks every pack
found so far for its analog values, alarms and management info (:data:`pylon_rs485_poll.POLL`), once per pack
its manufacturer info, serial number and system parameters (:data:`pylon_rs485_poll.ONCE`), and looks for packs
at one address not found yet (all of them on the first pass), so a pack switched on later joins. A pack that
misses ``misses_offline`` polls in a row is offline (kept, with its last values and its last-seen time) and comes
back as soon as it answers again. The transaction itself (write, wait for the answer up to the response timeout,
frame it) is the built-in inverter peer's (:meth:`Rs485InverterPeer.transact`).

A line that fails (a gateway closed the TCP connection, a USB adapter unplugged) is counted as lost in
:attr:`health` and opened again with backoff; its packs go offline as their polls fail.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from ml314.adapters.serial_link import ByteStream
from ml314.domain.faults import SystemFaultKind
from ml314.domain.link_health import LinkHealthSnapshot
from ml314.errors import FrameError, TransportError
from ml314.protocols import pylon_rs485_poll as poll
from ml314.protocols.pylon_rs485 import COMMAND_NAMES, Cid2, Codec
from ml314.protocols.pylon_rs485_poll import PackReading, PackRefusal
from ml314.runtime.rs485_links import Rs485InverterPeer
from ml314.runtime.supervision import Backoff, LinkHealth

__all__ = ["DEFAULT_ADDRESSES", "PackLink", "Rs485Poller"]

#: where packs are looked for: a stack of up to 16 (ADR 2..17)
DEFAULT_ADDRESSES = tuple(range(poll.FIRST_ADR, poll.FIRST_ADR + 16))
#: a pack's identity and system parameters are read again after this many cycles (a pack swapped meanwhile)
IDENTITY_EVERY_CYCLES = 60


@dataclass(frozen=True, slots=True)
class PackLink:
    """One pack as the poller knows it: what it read, whether it answers, and its counters."""

    adr: int
    reading: PackReading
    online: bool = True
    last_seen_s: float | None = None  # wall clock (time.time()) of its last answer
    answers: int = 0
    timeouts: int = 0
    misses: int = 0  # polls in a row without an answer
    refusals: int = 0  # answers with an error RTN
    last_error: str = ""
    needs_identity: bool = True  # ask ONCE at the next cycle
    identity_cycle: int = -1  # the cycle it was last asked ONCE


class Rs485Poller:
    """Polls the packs at ``addresses`` over the stream ``open_stream`` gives (opened again when it fails)."""

    def __init__(
        self,
        open_stream: Callable[[], ByteStream],
        where: str,
        *,
        codec: Codec,
        addresses: tuple[int, ...] = DEFAULT_ADDRESSES,
        interval_s: float = 1.0,
        misses_offline: int = 3,
    ) -> None:
        self.open_stream = open_stream
        self.where = where
        self.codec = codec
        self.addresses = addresses
        self.interval_s = interval_s
        self.misses_offline = misses_offline
        self.health = LinkHealth(f"RS485 {where}")
        self.stop = threading.Event()
        self.cycles = 0
        self.late = 0  # reads of an answer that came after its request timed out (dropped)
        self.searched = False  # every address was asked at least once
        self._packs: dict[int, PackLink] = {}
        self._lock = threading.Lock()
        self._peer: Rs485InverterPeer | None = None
        self._probe = 0
        self._thread: threading.Thread | None = None
        self._backoff = Backoff(0.5, 10.0)

    # ------------------------------------------------------------------------------------------ reading
    def packs(self) -> tuple[PackLink, ...]:
        """Every pack found so far, by address."""
        with self._lock:
            return tuple(self._packs[a] for a in sorted(self._packs))

    def health_snapshot(self) -> LinkHealthSnapshot:
        return self.health.snapshot()

    # ------------------------------------------------------------------------------------------ the line
    def connect(self) -> None:
        """Open the line now (the first time: its error is the caller's, one line)."""
        self._peer = Rs485InverterPeer(self.codec, self.open_stream())
        self.health.connections += 1

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="monitor-rs485", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self._drop_line()

    def _drop_line(self) -> None:
        peer, self._peer = self._peer, None
        if peer is not None:
            with contextlib.suppress(Exception):
                peer.stream.close()

    def _loop(self) -> None:
        due = time.monotonic()
        while not self.stop.is_set():
            if self._peer is None and not self._reconnect():
                continue
            try:
                self.cycle()
            except TransportError as exc:
                self.health.lost(str(exc))
                self._drop_line()
                self._miss_all(str(exc))
                continue
            due = max(due + self.interval_s, time.monotonic())
            self.stop.wait(max(0.0, due - time.monotonic()))

    def _reconnect(self) -> bool:
        if self.stop.wait(self._backoff.next()):
            return False
        try:
            self.connect()
        except TransportError as exc:
            self.health.error(SystemFaultKind.LINK_ERROR, f"reopen failed: {exc}", reason="reopen")
            self._miss_all(str(exc))
            return False
        self._backoff.reset()
        self.health.reopened(self.where)
        return True

    # ------------------------------------------------------------------------------------------ one cycle
    def cycle(self) -> None:
        """Poll every known pack, then look for new ones (every address on the first cycle, one after)."""
        for link in self.packs():
            if self.stop.is_set():
                return
            identity = link.needs_identity or self.cycles - link.identity_cycle >= IDENTITY_EVERY_CYCLES
            wanted = poll.POLL + (poll.ONCE if identity else ())
            answered = [self._ask(link.adr, cid2) for cid2 in wanted]
            if identity and any(answered):
                self._identified(link.adr, self.cycles)
        unknown = [a for a in self.addresses if a not in self._packs]
        if not self.searched:
            probes = unknown
        elif unknown:
            probes = [unknown[self._probe % len(unknown)]]
            self._probe += 1
        else:
            probes = []
        for adr in probes:
            if self.stop.is_set():
                return
            self._ask(adr, Cid2.ANALOG)
        self.searched = True
        self.cycles += 1

    def _ask(self, adr: int, cid2: int) -> bool:
        """One request and its answer; True when the pack answered (an error RTN too)."""
        peer = self._peer
        if peer is None:
            raise TransportError(f"RS485 {self.where}: the line is closed")
        request = poll.request(adr, cid2, ver=self.codec.ver)
        while peer.stream.read(0.0):  # a late answer to an earlier request must not pass for this one's
            self.late += 1
        response = peer.transact(request)
        self.health.frame_out()
        if response is None:
            self._missed(adr, f"no answer to {COMMAND_NAMES.get(cid2, hex(cid2))}")
            return False
        self.health.frame_in()
        try:
            answer = poll.read_answer(request, response)
        except FrameError as exc:
            self.health.error(SystemFaultKind.LINK_BAD_FRAME, f"ADR {adr}: {exc}", reason="FrameError")
            self._missed(adr, str(exc))
            return False
        self._heard(adr, answer)
        return True

    def _heard(self, adr: int, answer: PackReading | PackRefusal) -> None:
        now = time.time()
        with self._lock:
            old = self._packs.get(adr)
            if old is None:
                if isinstance(answer, PackRefusal):
                    return  # a pack that refuses analog values is no pack to monitor
                old = PackLink(adr, PackReading(adr))
            came_back = not old.online
            new = replace(old, online=True, last_seen_s=now, answers=old.answers + 1, misses=0)
            if isinstance(answer, PackRefusal):
                new = replace(new, refusals=old.refusals + 1, last_error=str(answer))
            else:
                new = replace(new, reading=old.reading.merge(answer))
            if came_back:
                new = replace(new, needs_identity=True)
            self._packs[adr] = new

    def _missed(self, adr: int, why: str) -> None:
        with self._lock:
            old = self._packs.get(adr)
            if old is None:
                return
            misses = old.misses + 1
            self._packs[adr] = replace(
                old,
                timeouts=old.timeouts + 1,
                misses=misses,
                online=old.online and misses < self.misses_offline,
                last_error=why,
            )

    def _miss_all(self, why: str) -> None:
        for link in self.packs():
            self._missed(link.adr, why)

    def _identified(self, adr: int, cycle: int) -> None:
        with self._lock:
            if adr in self._packs:
                self._packs[adr] = replace(self._packs[adr], needs_identity=False, identity_cycle=cycle)
