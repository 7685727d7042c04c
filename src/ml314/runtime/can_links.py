"""The battery and the inverter peer on a python-can bus, each on its own threads.

Battery: a sender thread transmits the codec's cyclic frames on an absolute 1 s (``info.period_s``) schedule, so
the period does not drift with the time spent encoding; a receiver thread answers inverter frames (Growatt 0x301,
Afore 0x305) and feeds the keep-alive watch. Peer: sends the inverter's frames every second and decodes what the
battery sends into a :class:`BatteryView`. Both record to the candump log when one is open.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable

import can

from ml314.adapters.can_link import CanFailure, CanTrafficLog, classify_can_error, to_frame, to_message
from ml314.domain.battery_status import BankStatus, BatteryView
from ml314.domain.faults import SystemFaultKind
from ml314.domain.link_health import LinkHealthSnapshot
from ml314.errors import FrameError
from ml314.protocols.base import CanCodec, CanFrame
from ml314.protocols.keepalive import LinkState, fresh_view, watch_for
from ml314.runtime.supervision import Backoff, LinkHealth, start_supervised

__all__ = ["CanBatteryLink", "CanInverterPeer"]

_RX_POLL_S = 0.05
#: the frames a battery link keeps of what it received lately (the inverter detective reads them)
HEARD_FRAMES = 200
#: this many errors in a row (not bad frames), with no frame between them, mean the device is gone even if python-can
#: does not say so (a driver that keeps raising its own error type)
_FAILURES_TO_LOSE = 50


class _CanEndpoint:
    """One python-can bus shared by a sender and a receiver thread, supervised.

    Every exception of ``recv``/``send`` is classified (:func:`classify_can_error`): a bad frame or an error is
    counted in :attr:`health` and the link goes on; a lost device is shut down, reported as a LINK_LOST fault and,
    when ``reopen`` is given, opened again with backoff (0.1 s doubling to 5 s) by the receiver thread.
    """

    def __init__(
        self,
        bus: can.BusABC,
        log: CanTrafficLog | None,
        *,
        name: str,
        reopen: Callable[[], can.BusABC] | None = None,
    ) -> None:
        self.bus: can.BusABC | None = bus
        self.log = log
        self.reopen = reopen
        self.health = LinkHealth(name)
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.errors: deque[str] = deque(maxlen=20)
        self._bus_lock = threading.Lock()
        self._backoff = Backoff(0.1, 5.0)
        self._next_open_s = 0.0
        self._failures = 0

    @property
    def sent(self) -> int:
        return self.health.frames_out

    @property
    def received(self) -> int:
        return self.health.frames_in

    def health_snapshot(self) -> LinkHealthSnapshot:
        return self.health.snapshot()

    # ------------------------------------------------------------ the bus
    def _lose(self, bus: can.BusABC, exc: BaseException) -> None:
        """``bus`` failed as a lost device: shut it (once, whichever thread saw it first) and report the fault."""
        with self._bus_lock:
            if self.bus is not bus:
                return
            # reported before the bus is let go: the receiver may reopen it as soon as it is None
            self.health.lost(f"{type(exc).__name__}: {exc}")
            self.bus = None
            self._next_open_s = time.monotonic() + self._backoff.next()
        with contextlib.suppress(Exception):
            bus.shutdown()

    def _open_again(self) -> None:
        """Try to reopen a lost bus when its backoff has passed (receiver thread)."""
        if self.reopen is None or time.monotonic() < self._next_open_s:
            self.stop.wait(_RX_POLL_S)
            return
        try:
            bus = self.reopen()
        except Exception as exc:  # still gone: try again later
            self.health.error(SystemFaultKind.LINK_ERROR, f"reopen failed: {exc}", reason="reopen")
            self._next_open_s = time.monotonic() + self._backoff.next()
            return
        with self._bus_lock:
            if self.stop.is_set():
                bus.shutdown()
                return
            self.bus = bus
        self._backoff.reset()
        self._failures = 0
        self.health.reopened(f"{bus.channel_info}")

    def _failed(self, bus: can.BusABC, exc: BaseException, what: str) -> None:
        failure = classify_can_error(exc)
        self.errors.append(f"{what}: {exc}")
        if failure is CanFailure.ERROR:  # bad frames prove the line works: only other errors add up to a loss
            self._failures += 1
        if failure is CanFailure.LOST or self._failures >= _FAILURES_TO_LOSE:
            self._lose(bus, exc)
            return
        kind = SystemFaultKind.LINK_BAD_FRAME if failure is CanFailure.BAD_FRAME else SystemFaultKind.LINK_ERROR
        self.health.error(kind, f"{what}: {type(exc).__name__}: {exc}", reason=type(exc).__name__)
        if failure is CanFailure.ERROR:
            self.stop.wait(min(1.0, 0.01 * self._failures))  # a failing driver must not spin

    def send(self, frame: CanFrame) -> None:
        bus = self.bus
        if bus is None:
            return  # lost: the receiver thread reopens it; the cycle goes on on schedule
        try:
            bus.send(to_message(frame))
        except Exception as exc:  # classified: counted, or the device is lost
            self._failed(bus, exc, f"send {frame}")
            return
        self.health.frame_out()
        if self.log is not None:
            self.log.record(frame, timestamp=time.time(), sent=True)

    def receive(self) -> CanFrame | None:
        bus = self.bus
        if bus is None:
            self._open_again()
            return None
        try:
            msg = bus.recv(_RX_POLL_S)
        except Exception as exc:  # classified: counted, or the device is lost
            self._failed(bus, exc, "receive")
            return None
        if msg is None:
            return None
        self._failures = 0
        frame = to_frame(msg)
        if frame is None:
            return None
        self.health.frame_in()
        if self.log is not None:
            self.log.record(frame, timestamp=time.time(), sent=False)
        return frame

    def start_thread(self, step: Callable[[], None], name: str) -> None:
        """Run ``step`` over and over on a supervised thread until :meth:`close`."""
        self.threads.append(start_supervised(step, self.stop, self.health, name))

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=2.0)
        with self._bus_lock:
            bus, self.bus = self.bus, None
        if bus is not None:
            bus.shutdown()


class CanBatteryLink(_CanEndpoint):
    """The battery side of one CAN protocol on ``bus``; ``status`` returns the latest bank snapshot."""

    def __init__(
        self,
        codec: CanCodec,
        bus: can.BusABC,
        status: Callable[[], BankStatus],
        log: CanTrafficLog | None = None,
        *,
        reopen: Callable[[], can.BusABC] | None = None,
    ) -> None:
        super().__init__(bus, log, name=f"CAN {codec.info.name}", reopen=reopen)
        self.codec = codec
        self.status = status
        info = codec.info
        self.watch = watch_for(info, time.monotonic())
        self.cycle_starts: deque[float] = deque(maxlen=100_000)
        self.heard: deque[CanFrame] = deque(maxlen=HEARD_FRAMES)  # received lately, the inverter's frames
        self._due = time.monotonic()

    def link_state(self) -> LinkState:
        return self.watch.state(time.monotonic())

    def current_status(self) -> BankStatus:
        return self.watch.apply(self.status(), time.monotonic())

    def start(self) -> None:
        self._due = time.monotonic()
        if self.codec.info.period_s > 0:
            self.start_thread(self._send_step, f"can-battery-tx-{self.codec.info.name}")
        self.start_thread(self._receive_step, f"can-battery-rx-{self.codec.info.name}")

    def _send_step(self) -> None:
        """Wait for the next cycle and send it (the schedule is absolute: a late cycle does not shift the rest)."""
        period = self.codec.info.period_s
        now = time.monotonic()
        if now < self._due:
            self.stop.wait(self._due - now)
            return
        self._due += period
        if time.monotonic() - self._due > period:  # fell behind (suspended): resynchronise, do not burst
            self._due = time.monotonic() + period
        self.cycle_starts.append(time.monotonic())
        for frame in self.codec.battery_cycle(self.current_status()):
            self.send(frame)

    def _receive_step(self) -> None:
        frame = self.receive()
        if frame is None:
            return
        self.heard.append(frame)
        if self.codec.is_inverter_alive(frame):
            self.watch.seen(time.monotonic())
        try:
            answers = self.codec.battery_answer(frame, self.current_status())
        except FrameError as exc:
            self.errors.append(str(exc))
            self.health.error(SystemFaultKind.LINK_BAD_FRAME, str(exc), reason="FrameError")
            return
        for a in answers:
            self.send(a)


class CanInverterPeer(_CanEndpoint):
    """The built-in inverter on ``bus``: keep-alives every second, the battery's frames decoded into :attr:`view`."""

    def __init__(
        self,
        codec: CanCodec,
        bus: can.BusABC,
        log: CanTrafficLog | None = None,
        *,
        reopen: Callable[[], can.BusABC] | None = None,
    ) -> None:
        super().__init__(bus, log, name=f"CAN peer {codec.info.name}", reopen=reopen)
        self.codec = codec
        self.view = BatteryView()
        self.last_frame_s: float | None = None
        self.decode_errors = 0
        self._due = time.monotonic()

    def current_view(self) -> BatteryView:
        """What the inverter acts on: its decoded view, or nothing once the battery has gone silent."""
        return fresh_view(self.view, self.last_frame_s, time.monotonic())

    def start(self) -> None:
        self._due = time.monotonic()
        self.start_thread(self._send_step, f"can-peer-tx-{self.codec.info.name}")
        self.start_thread(self._receive_step, f"can-peer-rx-{self.codec.info.name}")

    def _send_step(self) -> None:
        now = time.monotonic()
        if now < self._due:
            self.stop.wait(self._due - now)
            return
        self._due = max(self._due + 1.0, now)
        for frame in self.codec.inverter_cycle(self.view):
            self.send(frame)

    def _receive_step(self) -> None:
        frame = self.receive()
        if frame is None:
            return
        try:
            self.view = self.view.merge(self.codec.decode(frame))
        except FrameError as exc:
            self.decode_errors += 1
            self.errors.append(str(exc))
            self.health.error(SystemFaultKind.LINK_BAD_FRAME, str(exc), reason="FrameError")
            return
        self.last_frame_s = time.monotonic()
