"""``ml314 monitor``: the PC software and the history against an external battery, read over RS485 or CAN.

RS485 speaks Pylon LV RS485 as the PC does (:mod:`monitor_rs485`: every pack of a stack polled at its address).
CAN listens to the battery's broadcast with the protocol's inverter side: the built-in inverter peer
(:class:`~ml314.runtime.can_links.CanInverterPeer`) sends the keep-alive and requests the protocol needs and
decodes every frame the battery sends. Once a second :class:`Monitor` turns what was decoded into the project's
snapshots (``system/monitored_bank.py``), publishes them on its :class:`MonitorSurface` and hands them to the
history, exactly as ``ml314 run`` does with its twin.

A monitor keeps watching: a line that fails is opened again with backoff, a pack that stops answering goes
offline and comes back, and until the battery answers the status line and the API say so (docs/monitor.md). Only
a link that cannot be opened at the start (no such device, a refused TCP port) is an error.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from ml314.adapters.can_link import CanSpec, open_bus
from ml314.adapters.serial_link import ByteStream, open_serial, parse_rs485_spec
from ml314.domain.battery_status import BankStatus
from ml314.domain.faults import SystemFault, SystemFaultKind
from ml314.domain.link_health import LinkHealthSnapshot
from ml314.errors import InputError
from ml314.protocols import pylon_rs485
from ml314.protocols.base import CanCodec, Transport
from ml314.protocols.pylon_rs485_poll import Management, module_of
from ml314.protocols.registry import Entry, create
from ml314.runtime.can_links import CanInverterPeer
from ml314.runtime.closing import close_newest_first, open_history
from ml314.runtime.monitor_rs485 import DEFAULT_ADDRESSES, PackLink, Rs485Poller
from ml314.runtime.monitor_surface import Heard, MonitorSurface
from ml314.runtime.run import BAUD_RATES
from ml314.storage.history import HistoryRetention, HistoryStore, history_url, sample_from
from ml314.system.monitored_bank import OFFLINE, bank_from_view, bank_of_packs, module_of_pack

__all__ = ["DEFAULT_RESPONSE_TIMEOUT_S", "Monitor", "MonitorConfig"]

#: how long a pack may take to answer one request (a 0x42 answer is ~150 characters: 160 ms at 9600 baud)
DEFAULT_RESPONSE_TIMEOUT_S = 0.5


@dataclass(frozen=True)
class MonitorConfig:
    """What ``ml314 monitor`` was asked for; exactly one of ``rs485`` and ``can``."""

    protocol: Entry
    rs485: str | None = None  # a device, a pyserial URL, or tcp://HOST:PORT (connected to, not listened on)
    can: CanSpec | None = None
    baud: int | None = None  # None: the protocol's (9600)
    addresses: tuple[int, ...] = DEFAULT_ADDRESSES
    response_timeout_s: float = DEFAULT_RESPONSE_TIMEOUT_S
    misses_offline: int = 3  # polls in a row without an answer: the pack is offline
    offline_after_s: float = 10.0  # CAN: no frame this long and the battery is offline
    interval_s: float = 1.0
    data_dir: Path | None = None
    db: str | None = None
    history: HistoryRetention = field(default_factory=HistoryRetention)
    duration_s: float | None = None

    def validate(self) -> None:
        if (self.rs485 is None) == (self.can is None):
            raise InputError("name the battery's link: --rs485 PORT or --can INTERFACE:CHANNEL (one of them)")
        want = Transport.RS485 if self.rs485 is not None else Transport.CAN
        if self.protocol.transport is not want:
            raise InputError(
                f"--protocol {self.protocol.name} is a {self.protocol.transport.value} protocol and the link is "
                f"{want.value}"
            )
        if want is Transport.RS485 and not isinstance(create(self.protocol), pylon_rs485.Codec):
            raise InputError(
                f"--protocol {self.protocol.name}: over RS485 the monitor reads Pylon LV RS485 (pylon-rs485) only"
            )
        if self.baud is not None and self.baud not in BAUD_RATES:
            raise InputError(f"--baud {self.baud}: one of {', '.join(map(str, BAUD_RATES))}")
        if not self.addresses or not all(1 <= a <= 254 for a in self.addresses):
            raise InputError("--addresses: pack addresses 1..254, e.g. 2-17")
        if not (math.isfinite(self.response_timeout_s) and 0.0 < self.response_timeout_s <= 10.0):
            raise InputError(f"--response-timeout {self.response_timeout_s:g}s: more than 0 s, at most 10 s")
        if self.misses_offline < 1:
            raise InputError(f"--misses {self.misses_offline}: at least 1")
        if self.duration_s is not None and not self.duration_s > 0.0:
            raise InputError(f"--for {self.duration_s}: must be positive")
        history_url(self.db, self.data_dir)


def rs485_url(text: str) -> str:
    """The pyserial URL the monitor opens for ``--rs485``: ``tcp://HOST:PORT`` is connected to (``socket://``)."""
    spec = parse_rs485_spec(text)
    if spec.listen is None:
        return spec.url
    host, port = spec.listen
    return f"socket://{host}:{port}"


class Monitor:
    """Owns the link, the surface and the history; :meth:`run` blocks until :meth:`stop`."""

    def __init__(self, config: MonitorConfig, echo: Callable[[str], None] = print) -> None:
        config.validate()
        self.config = config
        self.echo = echo
        self.stop_event = threading.Event()
        self.poller: Rs485Poller | None = None
        self.can_peer: CanInverterPeer | None = None
        self.history: HistoryStore | None = None
        c = config
        self.where = f"RS485 {c.rs485}" if c.rs485 is not None else f"CAN {c.can}"
        self.surface = MonitorSurface(f"{self.where} ({c.protocol.name})", c.protocol)
        self.view_count = 0
        self._closers: list[Callable[[], None]] = []
        self._sampled_t = 0
        self._last_bank: BankStatus | None = None

    # ------------------------------------------------------------------------------------------ start
    def start(self) -> list[str]:
        """Open the link (a TransportError if it cannot be: one line for the user) and the history."""
        c = self.config
        lines = [self._start_rs485() if c.rs485 is not None else self._start_can()]
        self.history = open_history(c.db, c.data_dir, c.history, self.close)
        if self.history is not None:
            self._closers.append(self.history.close)
            lines.append(f"history: {self.history.where} (--db off disables)")
        return lines

    def _start_rs485(self) -> str:
        c = self.config
        assert c.rs485 is not None
        codec = create(c.protocol)
        assert isinstance(codec, pylon_rs485.Codec)
        codec.info = replace(codec.info, response_timeout_s=c.response_timeout_s)
        baud = c.baud or codec.info.baud
        url = rs485_url(c.rs485)

        def open_stream() -> ByteStream:
            return open_serial(url, baud)

        poller = Rs485Poller(
            open_stream,
            c.rs485,
            codec=codec,
            addresses=c.addresses,
            interval_s=c.interval_s,
            misses_offline=c.misses_offline,
        )
        poller.connect()  # a missing device or a refused port: the caller's one-line error
        self.poller = poller
        self._closers.append(poller.close)
        poller.start()
        first, last = c.addresses[0], c.addresses[-1]
        return (
            f"monitor: RS485 {c.rs485} at {baud} baud, {c.protocol.name}: polling packs at ADR {first}..{last} "
            f"(modules {module_of(first)}..{module_of(last)})"
        )

    def _start_can(self) -> str:
        c = self.config
        assert c.can is not None
        spec = c.can
        codec = create(c.protocol)
        assert isinstance(codec, CanCodec)
        bitrate = codec.info.bitrate
        peer = CanInverterPeer(codec, open_bus(spec, bitrate), reopen=lambda: open_bus(spec, bitrate))
        self.can_peer = peer
        self._closers.append(peer.close)
        peer.start()
        return f"monitor: CAN {spec} at {bitrate // 1000} kbit/s, {c.protocol.name}: as the inverter (keep-alive sent)"

    # ------------------------------------------------------------------------------------------ the loop
    def run(self, on_status: Callable[[str], None] | None = None, status_every_s: float = 10.0) -> None:
        """Publish a view and record the history once per ``interval_s`` until stopped (or ``duration_s``)."""
        c = self.config
        t0 = due = time.monotonic()
        next_status = t0
        while not self.stop_event.is_set():
            now = time.monotonic()
            if c.duration_s is not None and now - t0 >= c.duration_s:
                break
            self.tick()
            if on_status is not None and now >= next_status:
                on_status(self.status_line())
                next_status = now + status_every_s
            due = max(due + c.interval_s, time.monotonic())
            self.stop_event.wait(max(0.0, due - time.monotonic()))

    def tick(self) -> None:
        """One view from what was decoded, handed to the surface and the history."""
        built = self._build()
        if built is None:
            self.surface.set_waiting(self.waiting_reason())
            return
        bank, heard = built
        self._last_bank = bank
        self.surface.publish(bank, heard, self.link_health(), self.faults(), self.echo)
        self.view_count += 1
        if self.history is not None:
            t = int(time.time())
            if t > self._sampled_t:
                self._sampled_t = t
                self.history.append(sample_from(t, bank, [h.status for h in heard]))
            notice = self.history.notice()
            if notice is not None:
                self.echo(f"ml314: warning: {notice}")

    def _build(self) -> tuple[BankStatus, list[Heard]] | None:
        t_s = self.surface.clock()
        if self.poller is not None:
            return self._build_rs485(self.poller.packs(), t_s)
        assert self.can_peer is not None
        peer = self.can_peer
        heard_s = peer.last_frame_s
        online = heard_s is not None and time.monotonic() - heard_s <= self.config.offline_after_s
        bank = bank_from_view(peer.view, t_s)
        if bank is None:
            return None
        modules = bank.modules
        heard = [
            Heard(m if online else replace(m, state=OFFLINE), online, "bank" if online else "offline") for m in modules
        ]
        return replace(bank, modules=modules if online else ()), heard

    def _build_rs485(self, packs: tuple[PackLink, ...], t_s: float) -> tuple[BankStatus, list[Heard]] | None:
        heard: list[Heard] = []
        master: Management | None = None
        now = time.time()
        for p in packs:
            status = module_of_pack(p.reading, p.online)
            if status is None:
                continue
            seen = "never answered" if p.last_seen_s is None else f"last seen {now - p.last_seen_s:.0f} s ago"
            detail = f"ADR {p.adr}, {seen}, {p.timeouts} timeouts" + (f"; {p.last_error}" if p.last_error else "")
            heard.append(Heard(status, p.online, "online" if p.online else "offline", detail))
            if p.adr == pylon_rs485.MASTER_ADR and p.online:
                master = p.reading.management
        bank = bank_of_packs([h.status for h in heard], [h.online for h in heard], t_s, master)
        return None if bank is None else (bank, heard)

    # ------------------------------------------------------------------------------------------ state
    def packs(self) -> tuple[PackLink, ...]:
        """Every pack the RS485 poller found (empty on CAN)."""
        return () if self.poller is None else self.poller.packs()

    def link_health(self) -> tuple[LinkHealthSnapshot, ...]:
        links = (self.poller, self.can_peer)
        return tuple(x.health_snapshot() for x in links if x is not None)

    def faults(self) -> list[SystemFault]:
        """The link's open faults (a lost line, recent errors); a module that does not answer is the surface's."""
        out = [f for h in self.link_health() for f in h.faults]
        if self.can_peer is not None and self._last_bank is not None and not self._last_bank.modules:
            out.append(SystemFault(SystemFaultKind.LINK_LOST, f"no frame from the battery on {self.where}"))
        return out

    def waiting_reason(self) -> str:
        """Why there is no view yet (the status line and the API's 503 say it)."""
        if self.poller is not None and self.poller.searched:
            first, last = self.config.addresses[0], self.config.addresses[-1]
            return (
                f"no pack answers at ADR {first}..{last} on {self.where}: check the wiring (A/B), the baud "
                "(--baud 9600 or 115200) and the pack's address; still looking"
            )
        if self.can_peer is not None and self.can_peer.last_frame_s is not None:
            name = self.config.protocol.name
            return f"frames on {self.where}, but none with the bank's voltage and SOC yet: is it {name}?"
        return f"waiting for the battery on {self.where}"

    def status_line(self) -> str:
        """One line: what answers and the bank's figures, or why nothing does yet."""
        bank = self._last_bank
        if bank is None:
            return self.waiting_reason()
        total = len(self.packs()) if self.poller is not None else bank.module_count
        online = bank.module_count
        head = f"{online}/{total} modules online" if self.poller is not None else f"{online} modules"
        if self.can_peer is not None and not bank.modules:
            head = "battery silent (offline)"
        counts = ""
        if self.poller is not None:
            timeouts = sum(p.timeouts for p in self.packs())
            counts = f" | cycles {self.poller.cycles} timeouts {timeouts}"
        elif self.can_peer is not None:
            counts = f" | frames {self.can_peer.received}"
        return f"{head} | SOC {bank.soc_pct:.1f}% {bank.voltage_v:.2f}V {bank.current_a:+.1f}A{counts}"

    # ------------------------------------------------------------------------------------------ stop
    def stop(self) -> None:
        self.stop_event.set()

    def close(self) -> None:
        """Stop the link and write what the history holds, the newest first."""
        self.stop_event.set()
        close_newest_first(self._closers, self.echo)
