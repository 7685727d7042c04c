"""The battery and the inverter peer on a python-can bus, each on its own threads.

Battery: a sender thread transmits the codec's cyclic frames on an absolute 1 s (``info.period_s``) schedule, so
the period does not drift with the time spent encoding; a receiver thread answers inverter frames (Growatt 0x301,
Afore 0x305) and feeds the keep-alive watch. Peer: sends the inverter's frames every second and decodes what the
battery sends into a :class:`BatteryView`. Both record to the candump log when one is open.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

import can

from ml314.adapters.can_link import CanTrafficLog, to_frame, to_message
from ml314.domain.battery_status import BankStatus, BatteryView
from ml314.errors import FrameError
from ml314.protocols.base import CanCodec, CanFrame
from ml314.protocols.keepalive import LinkState, fresh_view, watch_for

__all__ = ["CanBatteryLink", "CanInverterPeer"]

_RX_POLL_S = 0.05


class _CanEndpoint:
    def __init__(self, bus: can.BusABC, log: CanTrafficLog | None) -> None:
        self.bus = bus
        self.log = log
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.sent = 0
        self.received = 0
        self.errors: deque[str] = deque(maxlen=20)

    def send(self, frame: CanFrame) -> None:
        try:
            self.bus.send(to_message(frame))
        except can.CanError as exc:
            self.errors.append(f"send {frame}: {exc}")
            return
        self.sent += 1
        if self.log is not None:
            self.log.record(frame, timestamp=time.time(), sent=True)

    def receive(self) -> CanFrame | None:
        try:
            msg = self.bus.recv(_RX_POLL_S)
        except can.CanError as exc:
            self.errors.append(f"receive: {exc}")
            self.stop.wait(_RX_POLL_S)
            return None
        if msg is None:
            return None
        frame = to_frame(msg)
        if frame is None:
            return None
        self.received += 1
        if self.log is not None:
            self.log.record(frame, timestamp=time.time(), sent=False)
        return frame

    def start_thread(self, target: Callable[[], None], name: str) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)
        self.threads.append(t)
        t.start()

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=2.0)
        self.bus.shutdown()


class CanBatteryLink(_CanEndpoint):
    """The battery side of one CAN protocol on ``bus``; ``status`` returns the latest bank snapshot."""

    def __init__(
        self, codec: CanCodec, bus: can.BusABC, status: Callable[[], BankStatus], log: CanTrafficLog | None = None
    ) -> None:
        super().__init__(bus, log)
        self.codec = codec
        self.status = status
        info = codec.info
        self.watch = watch_for(info, time.monotonic())
        self.cycle_starts: deque[float] = deque(maxlen=100_000)

    def link_state(self) -> LinkState:
        return self.watch.state(time.monotonic())

    def current_status(self) -> BankStatus:
        return self.watch.apply(self.status(), time.monotonic())

    def start(self) -> None:
        if self.codec.info.period_s > 0:
            self.start_thread(self._send_loop, f"can-battery-tx-{self.codec.info.name}")
        self.start_thread(self._receive_loop, f"can-battery-rx-{self.codec.info.name}")

    def _send_loop(self) -> None:
        period = self.codec.info.period_s
        due = time.monotonic()
        while not self.stop.is_set():
            now = time.monotonic()
            if now < due:
                if self.stop.wait(due - now):
                    return
                continue
            self.cycle_starts.append(time.monotonic())
            for frame in self.codec.battery_cycle(self.current_status()):
                self.send(frame)
            due += period
            if time.monotonic() - due > period:  # fell behind (suspended): resynchronise, do not burst
                due = time.monotonic() + period

    def _receive_loop(self) -> None:
        while not self.stop.is_set():
            frame = self.receive()
            if frame is None:
                continue
            if self.codec.is_inverter_alive(frame):
                self.watch.seen(time.monotonic())
            try:
                answers = self.codec.battery_answer(frame, self.current_status())
            except FrameError as exc:
                self.errors.append(str(exc))
                continue
            for a in answers:
                self.send(a)


class CanInverterPeer(_CanEndpoint):
    """The built-in inverter on ``bus``: keep-alives every second, the battery's frames decoded into :attr:`view`."""

    def __init__(self, codec: CanCodec, bus: can.BusABC, log: CanTrafficLog | None = None) -> None:
        super().__init__(bus, log)
        self.codec = codec
        self.view = BatteryView()
        self.last_frame_s: float | None = None
        self.decode_errors = 0

    def current_view(self) -> BatteryView:
        """What the inverter acts on: its decoded view, or nothing once the battery has gone silent."""
        return fresh_view(self.view, self.last_frame_s, time.monotonic())

    def start(self) -> None:
        self.start_thread(self._send_loop, f"can-peer-tx-{self.codec.info.name}")
        self.start_thread(self._receive_loop, f"can-peer-rx-{self.codec.info.name}")

    def _send_loop(self) -> None:
        due = time.monotonic()
        while not self.stop.is_set():
            for frame in self.codec.inverter_cycle(self.view):
                self.send(frame)
            due += 1.0
            if self.stop.wait(max(0.0, due - time.monotonic())):
                return

    def _receive_loop(self) -> None:
        while not self.stop.is_set():
            frame = self.receive()
            if frame is None:
                continue
            try:
                self.view = self.view.merge(self.codec.decode(frame))
            except FrameError as exc:
                self.decode_errors += 1
                self.errors.append(str(exc))
                continue
            self.last_frame_s = time.monotonic()
