"""The modules' ends of the bank link, and the RS485 pair between them as an in-process bus (pure).

:class:`ModuleEndpoint` is one module's BMS on the link: it answers requests for its DIP ID, applies the master's
commands, and keeps itself off the bus while no master has released it (at power-on, and after
``watchdog_s`` without being polled: a module cut off from its master must not carry current it cannot report).

:class:`SimulatedBus` joins the master and the endpoints for ``ml314 simulate``: every endpoint hears every request;
one answer comes back as sent; two answers at once (modules sharing an ID) collide into garbage; a missing or extra
termination resistor corrupts a fraction of the frames (a seeded error rate). Each transaction costs the time its
characters take on the wire at the baud rate, plus the turnaround gap, or the response timeout when nobody answers.
``ml314 run`` puts a real serial link (pty, TCP, a device) where this bus is.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from ml314.domain.battery_status import BankCommand, ModuleIdentity, ModuleStatus
from ml314.errors import FrameError
from ml314.system import bank_link as link

__all__ = ["ModuleEndpoint", "SimulatedBus", "collide", "frame_adr"]


class ModuleEndpoint:
    """Module ``index`` of the twin answering on the link as DIP ID ``module_id``.

    ``status`` gives the module's own status, ``isolate(on)`` holds its MOSFETs open, ``alive()`` says whether its
    BMS runs (a module switched off answers nothing).
    """

    def __init__(
        self,
        index: int,
        identity: ModuleIdentity,
        status: Callable[[], ModuleStatus],
        isolate: Callable[[bool], None],
        alive: Callable[[], bool],
        *,
        is_master: bool = False,
        watchdog_s: float = 10.0,
    ) -> None:
        self.index = index
        self.identity = identity
        self.module_id = identity.module_id
        self.status = status
        self._isolate = isolate
        self.alive = alive
        self.is_master = is_master
        self.watchdog_s = watchdog_s
        self.connected = True  # the Battery Comm cable is plugged in
        self.last_polled_s: float | None = None
        self.released = is_master  # a slave waits for its master's word before it joins the bus
        self.requests = 0

    def respond(self, request: bytes, now_s: float) -> bytes | None:
        """The answer to one request heard on the bus (None: not for this module, or it cannot answer)."""
        if self.is_master or not self.connected or not self.alive():
            return None
        adr = frame_adr(request)
        if adr is not None and adr not in (self.module_id, link.BROADCAST_ADR):
            return None  # not for this module: no need to parse the frame or read the sensors
        try:
            answer = link.respond(request, self.module_id, self.identity, self.status(), self._command)
        except FrameError:
            return None
        if answer is not None:
            self.requests += 1
            self.last_polled_s = now_s
        return answer

    def readdress(self, identity: ModuleIdentity) -> None:
        """New switches read at RESET: the module answers as ``identity.module_id`` from now on, off the bus
        until its master releases it."""
        self.identity = identity
        self.module_id = identity.module_id
        self.released = self.is_master
        self.last_polled_s = None

    def _command(self, command: BankCommand) -> None:
        self.released = not command.isolate
        self._isolate(command.isolate)

    def watch(self, now_s: float) -> None:
        """The slave's watchdog: off the bus until released, and again after ``watchdog_s`` unpolled."""
        if self.is_master:
            return
        if self.last_polled_s is not None and now_s - self.last_polled_s > self.watchdog_s:
            self.released = False
        if not self.released:
            self._isolate(True)


class SimulatedBus:
    """The bank's RS485 pair in one process; ``clock_s`` is the link's own time, advanced per transaction."""

    def __init__(
        self,
        endpoints: Sequence[ModuleEndpoint],
        baud: int = link.DEFAULT_BAUD,
        *,
        error_rate: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.endpoints = list(endpoints)
        self._by_id: dict[int, list[ModuleEndpoint]] = {}
        self.readdress()
        self.baud = baud
        self.error_rate = error_rate
        self.rng = random.Random(seed)
        self.clock_s = 0.0
        self.bytes_on_wire = 0
        self.collisions = 0
        self.corrupted = 0

    def readdress(self) -> None:
        """Index the endpoints by their IDs again (after a RESET read new switches)."""
        self._by_id = {}
        for e in self.endpoints:  # the receivers that can act on a frame (the others ignore it by its ADR)
            self._by_id.setdefault(e.module_id, []).append(e)

    def transact(self, request: bytes, cmd: link.Cid2) -> tuple[bytes | None, float]:
        """Put ``request`` on the bus; the answer (None: silence) and the time the transaction took."""
        gap = link.interframe_gap_s(self.baud)
        took = link.wire_time_s(len(request), self.baud) + gap
        self.bytes_on_wire += len(request)
        now = self.clock_s + took
        adr = frame_adr(request)
        heard = self.endpoints if adr is None or adr == link.BROADCAST_ADR else self._by_id.get(adr, ())
        answers = [a for e in heard if (a := e.respond(request, now)) is not None]
        if not answers:
            took += link.response_timeout_s(cmd, self.baud)
            self.clock_s += took
            return None, took
        longest = max(len(a) for a in answers)
        self.bytes_on_wire += longest
        took += link.first_byte_timeout_s(self.baud) - link.PROCESSING_ALLOWANCE_S
        took += link.wire_time_s(longest, self.baud) + gap
        self.clock_s += took
        if len(answers) > 1:
            self.collisions += 1
            return collide(answers), took
        answer = answers[0]
        if self.error_rate > 0.0 and self.rng.random() < self.error_rate:
            self.corrupted += 1
            i = self.rng.randrange(1, len(answer) - 1)
            answer = answer[:i] + bytes([answer[i] ^ 0x04]) + answer[i + 1 :]
        return answer, took


def frame_adr(frame: bytes) -> int | None:
    """The ADR field of a frame (characters 3-4), or None when it is not readable hex."""
    try:
        return int(frame[3:5], 16)
    except ValueError:
        return None


def collide(answers: list[bytes]) -> bytes:
    """Two drivers on one pair: where they differ the receiver reads a wired-AND of both (a dominant 0)."""
    n = max(len(a) for a in answers)
    out = bytearray(b"\xff" * n)
    for a in answers:
        for i, byte in enumerate(a):
            out[i] &= byte
    return bytes(out)
