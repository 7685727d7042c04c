"""``ml314 run``: the bank in real time (or ``speed`` times faster) with its protocols live on their links.

One main loop advances the :class:`LiveBank` on an absolute wall-clock schedule and prints the status; the links
run on their own threads and read the latest status snapshot. The built-in inverter peer joins a link that ends
in this process (the virtual CAN bus, the TCP listener) unless told otherwise; when it runs, the home inverter
obeys the limits it decoded. :meth:`Runner.stop` (SIGINT, SIGTERM) ends everything cleanly: threads joined, buses
shut down, logs closed.

With a data dir the bank continues where it stopped: :meth:`Runner.start` restores the stored bank (or moves it
aside with ``fresh``), the loop saves it at most ``save_every_s`` wall-clock seconds apart and :meth:`Runner.close`
saves it once more, each save atomic (``storage/bank_state.py``), so a SIGKILL loses at most the last interval.
"""

from __future__ import annotations

import contextlib
import math
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from ml314.adapters.can_link import CanSpec, CanTrafficLog, open_bus
from ml314.adapters.serial_link import (
    ByteStream,
    PtyNullModem,
    Rs485Spec,
    Rs485TrafficLog,
    SocketStream,
    TcpListener,
    open_serial,
    parse_rs485_spec,
)
from ml314.bms.parameters import BmsParameters
from ml314.cloud.mqtt_url import parse_mqtt_url
from ml314.domain.battery_status import AlarmKind, BankStatus, BatteryView
from ml314.domain.faults import SystemFault, SystemFaultKind
from ml314.domain.link_health import LinkHealthSnapshot
from ml314.errors import InputError, TransportError
from ml314.protocols.base import CanCodec, CanFrame, Rs485Codec
from ml314.protocols.keepalive import LinkState
from ml314.protocols.registry import Entry, create
from ml314.runtime.bank_link_runtime import MasterLoop, ModulesSide, PacedStream
from ml314.runtime.can_links import CanBatteryLink, CanInverterPeer
from ml314.runtime.closing import close_newest_first, open_history
from ml314.runtime.live_bank import LiveBank
from ml314.runtime.modbus_links import ModbusBatteryService, ModbusInverterPeer, is_register_codec
from ml314.runtime.rs485_links import (
    DEFAULT_IDLE_TIMEOUT_S,
    DEFAULT_MAX_CLIENTS,
    Rs485BatteryServer,
    Rs485InverterPeer,
)
from ml314.runtime.simulation import SimulationRequest
from ml314.storage.bank_state import BankShape, clock_text, load_bank_state, restore, save_bank_state
from ml314.storage.data_dir import DataDir
from ml314.storage.history import HistoryRetention, HistoryStore, history_url, sample_from
from ml314.twin.frontpanel import DipSwitches

__all__ = [
    "BAUD_RATES",
    "DEFAULT_HTTP",
    "DEFAULT_RS485",
    "STATUS_WIDTH",
    "RunConfig",
    "Runner",
    "fault_detail",
    "parse_http",
]

#: the live status line fits an 80-column terminal
STATUS_WIDTH = 80
#: where RS485 listens when a protocol is chosen for it but no port named
DEFAULT_RS485 = "tcp://127.0.0.1:8485"
#: where the web application listens unless told otherwise (``--http off`` disables it)
DEFAULT_HTTP = "127.0.0.1:8314"
#: the RS485 baud rates an inverter port may be set to
BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)


@dataclass(frozen=True)
class RunConfig:
    """What ``ml314 run`` was asked for (validated by the CLI)."""

    params: BmsParameters
    modules: int = 1
    can_protocol: Entry | None = None
    rs485_protocol: Entry | None = None
    can: CanSpec = field(default_factory=lambda: CanSpec("virtual", "ml314"))
    rs485: Rs485Spec | None = None
    speed: float = 1.0
    peer: bool | None = None  # None: where the link ends in this process
    can_log: Path | None = None
    rs485_log: Path | None = None
    seed: int = 1
    initial_soc: float = 0.5
    duration_s: float | None = None  # wall-clock seconds, None: until stopped
    bank_link: str | None = None  # None/"pty": a pty null modem; "tcp://HOST:PORT"; "DEV1,DEV2"
    link_baud: int = 115_200
    rs485_baud: int | None = None  # None: the protocol's own (9600 for every RS485 protocol here)
    module_ids: tuple[int, ...] | None = None
    termination: tuple[bool, ...] | None = None
    module_capacity_ah: tuple[float, ...] | None = None
    # state across restarts (None: nothing is kept); the CLI holds the data dir's lock
    data_dir: Path | None = None
    fresh: bool = False  # start over: move the stored bank aside
    save_every_s: float = 10.0  # wall-clock seconds between saves (at most 10)
    legacy_secrets: bool = False  # the manual's universal PIN / AP password are accepted: the status warns
    rs485_max_clients: int = DEFAULT_MAX_CLIENTS  # TCP clients served at once on the RS485 listener
    rs485_idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S  # a silent TCP client is closed after this
    http: str = DEFAULT_HTTP  # HOST:PORT of the web application (port 0: a free one), or "off"
    db: str | None = None  # history: None = history.sqlite in the data dir, "off", or a database URL
    history: HistoryRetention = field(default_factory=HistoryRetention)  # [run.history] in ml314.toml
    mqtt: str | None = None  # mqtt://HOST:PORT or mqtts://... (cloud/mqtt_url.py): telemetry, events, HA discovery
    ap: str = "off"  # HOST:PORT of the device's AP-mode API (the app's AP mode; docs/app-device.md), or "off"
    mdns: bool = True  # announce the device by mDNS and let the app's local mode scan (on --http's interfaces)

    @property
    def shape(self) -> BankShape:
        """What makes a stored bank this bank."""
        return BankShape(self.modules, self.seed, self.module_capacity_ah)

    def validate(self) -> None:
        """Refuse values ``ml314 run`` cannot run with, naming the option (the bank's own checks come at start)."""
        if not 1 <= self.modules <= 16:
            raise InputError(f"--modules {self.modules}: must be 1..16")
        if not (math.isfinite(self.speed) and 0.0 < self.speed <= 100_000.0):
            raise InputError(f"--speed {self.speed}: must be in (0, 100000]")
        if not 0.0 <= self.initial_soc <= 1.0:
            raise InputError(f"--initial-soc {self.initial_soc}: must be 0..1")
        if self.rs485_baud is not None and self.rs485_baud not in BAUD_RATES:
            raise InputError(f"--rs485-baud {self.rs485_baud}: one of {', '.join(map(str, BAUD_RATES))}")
        if self.duration_s is not None and not self.duration_s > 0.0:
            raise InputError(f"--for {self.duration_s}: must be positive")
        if not 0.0 < self.save_every_s <= 10.0:
            raise InputError(
                f"--save-every {self.save_every_s:g}s: more than 0 s and at most 10 s (a kill may lose this)"
            )
        if not 1 <= self.rs485_max_clients <= 1024:
            raise InputError(f"--rs485-max-clients {self.rs485_max_clients}: must be 1..1024")
        if not (math.isfinite(self.rs485_idle_timeout_s) and self.rs485_idle_timeout_s > 0.0):
            raise InputError(f"--rs485-idle-timeout {self.rs485_idle_timeout_s:g}s: must be longer than 0 s")
        history_url(self.db, self.data_dir)  # names --db if it is no database URL
        if self.mqtt is not None:
            parse_mqtt_url(self.mqtt)  # names --mqtt and what is wrong with it
        parse_http(self.http)
        parse_http(self.ap, "--ap")

    @property
    def http_address(self) -> tuple[str, int] | None:
        """Where the web application listens (None: ``--http off``)."""
        return parse_http(self.http)

    @property
    def ap_address(self) -> tuple[str, int] | None:
        """Where the AP-mode API listens (None: ``--ap off``, the device has no AP)."""
        return parse_http(self.ap, "--ap")


def parse_http(text: str, option: str = "--http") -> tuple[str, int] | None:
    """``HOST:PORT`` (port 0: the system picks a free one; ``[::1]:PORT`` for IPv6) or ``off``; InputError naming
    ``option`` otherwise."""
    if text.strip().lower() == "off":
        return None
    host, sep, port = text.strip().rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise InputError(f"{option} {text!r}: HOST:PORT (e.g. {DEFAULT_HTTP}; port 0 picks a free one) or off")
    return host, int(port)


class Runner:
    """Owns the live bank and every link; :meth:`run` blocks until :meth:`stop`."""

    def __init__(self, config: RunConfig, echo: Callable[[str], None] = print) -> None:
        self.config = config
        self.echo = echo
        self.stop_event = threading.Event()
        self.live: LiveBank | None = None
        self.can_battery: CanBatteryLink | None = None
        self.can_peer: CanInverterPeer | None = None
        self.rs485_server: Rs485BatteryServer | ModbusBatteryService | None = None
        self.rs485_peer: Rs485InverterPeer | ModbusInverterPeer | None = None
        self.listener: TcpListener | None = None
        self._can_log: CanTrafficLog | None = None
        self._rs485_log: Rs485TrafficLog | None = None
        self._closers: list[Callable[[], None]] = []
        self._t0 = time.monotonic()
        self.master_loop: MasterLoop | None = None
        self.modules_side: ModulesSide | None = None
        self.saves = 0
        self._save_error = ""
        self._wiring_faults: tuple[SystemFault, ...] = ()
        self._master_faults: tuple[SystemFault, ...] = ()
        #: each ID on the bank link as the master knows it (master, online, waiting, lost), as of the last tick
        self.link_states: dict[int, str] = {}
        self._shown_faults: dict[tuple[SystemFaultKind, int | None, str | None, str], SystemFault] = {}
        #: called on the run loop's thread after every tick (the surfaces' port applies requests, publishes views)
        self.tick_hooks: list[Callable[[], None]] = []
        self.history: HistoryStore | None = None
        self._sampled_t = 0

    # ------------------------------------------------------------------ start
    def start(self) -> list[str]:
        """Open every link and start the threads; return the lines describing what runs where."""
        c = self.config
        lines: list[str] = []
        request = SimulationRequest(
            modules=c.modules,
            seed=c.seed,
            initial_soc=c.initial_soc,
            module_ids=c.module_ids,
            termination=c.termination,
            link_baud=c.link_baud,
            module_capacity_ah=c.module_capacity_ah,
        )
        request.validate()
        self.live = live = LiveBank(request, c.params)
        self._closers.append(live.close)
        if c.data_dir is not None:
            try:
                lines.append(self._restore(live, DataDir(c.data_dir)))
            except BaseException:
                self.close()
                raise
            self._closers.append(self.save_state)  # after the links stop, before the bank closes
        self.history = open_history(c.db, c.data_dir, c.history, self.close)
        if self.history is not None:
            self._closers.append(self.history.close)
            lines.append(f"history: {self.history.where} (--db off disables)")
        self._t0 = time.monotonic()
        if live.linked is not None:
            try:
                lines.append(self._start_bank_link(live))
            except BaseException:
                self.close()
                raise

        status = self._status
        if live.linked is not None and live.linked.master is None:
            lines.append("no master module: nothing talks to the inverter (manual 12.2 #1); protocols not started")
            return lines
        try:
            if c.can_protocol is not None:
                lines.append(self._start_can(c.can_protocol, status))
            if c.rs485_protocol is not None and c.rs485 is not None:
                lines.append(self._start_rs485(c.rs485_protocol, c.rs485, status))
        except BaseException:
            self.close()
            raise
        peer = self.can_peer or self.rs485_peer
        if peer is not None:
            live.peer_view = peer.current_view
            lines.append(f"the home inverter obeys what the built-in peer decodes on {peer.codec.info.name}")
        else:
            lines.append("no built-in peer: the home inverter obeys the limits the bank presents")
        return lines

    def _restore(self, live: LiveBank, data: DataDir) -> str:
        """Continue the stored bank (or move it aside with ``fresh``); the line that says which."""
        c = self.config
        if c.fresh:
            moved = data.discard_state()
            kept = f" (the stored bank is kept as {moved[0].name})" if moved else ""
            return f"--fresh: starting over with a new bank in {data.path}{kept}"
        stored = load_bank_state(data.state_path, c.shape)
        if stored.source == "empty":
            unusable = [e.message for e in stored.events if e.key == "store.unusable"]
            if unusable:
                return f"state: {unusable[0]} (damaged files kept as *.corrupt)"
            return f"state: none saved in {data.path} yet, a new bank starts"
        restore(live.system.bank, live.system.bms, stored)
        live.republish()
        where = "its backup" if stored.source == "backup" else str(data.state_path)
        return (
            f"state restored from {where}: t {clock_text(live.t_s)}, SOC {live.status.soc_pct:.1f} %, "
            f"{len(live.system.bms.events)} events (--fresh starts over)"
        )

    def save_state(self) -> None:
        """Store the bank in the data dir now (a failed save is reported once and the bank goes on)."""
        c = self.config
        if c.data_dir is None or self.live is None:
            return
        system = self.live.system
        try:
            save_bank_state(DataDir(c.data_dir).state_path, system.bank, system.bms, c.shape)
        except (InputError, OSError) as exc:
            if str(exc) != self._save_error:
                self._save_error = str(exc)
                self.echo(f"ml314: warning: the bank's state was not saved: {exc}")
            return
        self._save_error = ""
        self.saves += 1

    def link_clock(self) -> float:
        return time.monotonic() - self._t0

    def _start_bank_link(self, live: LiveBank) -> str:
        """The master and the other modules at the two ends of a real serial line."""
        linked = live.linked
        assert linked is not None
        c = self.config
        baud = c.link_baud
        spec = c.bank_link or "pty"
        if spec == "pty":
            modem = PtyNullModem()
            self._closers.append(modem.close)
            master_url, modules_url = modem.paths
            modules_stream: ByteStream = open_serial(modules_url, baud)
            master_stream: ByteStream = open_serial(master_url, baud)
            where = f"pty null modem {master_url} <-> {modules_url}"
        elif spec.startswith("tcp://"):
            listen = parse_rs485_spec(spec).listen
            assert listen is not None
            listener = TcpListener(*listen)
            self._closers.append(listener.close)
            host, port = listener.address
            master_stream = open_serial(f"socket://{host}:{port}", baud)
            accepted = listener.accept(5.0)
            if accepted is None:
                raise TransportError(f"bank link tcp://{host}:{port}: the master could not connect")
            modules_stream = accepted
            where = f"tcp://{host}:{port}"
        else:
            parts = spec.split(",")
            if len(parts) != 2:
                raise InputError(f"--bank-link {spec!r}: pty, tcp://HOST:PORT or two devices DEV1,DEV2")
            master_stream, modules_stream = open_serial(parts[0], baud), open_serial(parts[1], baud)
            where = f"{parts[0]} (master) <-> {parts[1]} (modules)"
        side = ModulesSide(linked.endpoints, PacedStream(modules_stream, baud), self.link_clock)
        self._closers.append(side.close)
        side.start()
        self.modules_side = side
        self._wiring_faults = linked.report.records()
        faults = [f.details for f in self._wiring_faults]
        if linked.master is None:
            return f"bank link {where} at {baud} baud: NO MASTER - " + "; ".join(faults)
        loop = MasterLoop(linked.master, PacedStream(master_stream, baud), self.link_clock)
        self._closers.append(loop.close)
        loop.start()
        self.master_loop = loop
        live.bank_status = lambda now: self._master_status(loop, now, self._wiring_alarms())
        live.status = live.bank_status(self.link_clock())  # from now on only what the master has found
        text = f"bank link {where} at {baud} baud: master ID {linked.master.master_id}, {c.modules} modules"
        return text + "".join(f"\n  wiring: {f}" for f in faults)

    def _wiring_alarms(self) -> frozenset[AlarmKind]:
        return frozenset({AlarmKind.INTERNAL_COMMUNICATION}) if self._wiring_faults else frozenset()

    def reset_module(self, index: int, dip: DipSwitches | None = None) -> None:
        """RESET on module ``index`` (chain position, 0 first), on the run loop's thread: its BMS restarts and reads
        its DIP switches, ``dip`` when they were moved since (manual 6.3). On a bank link the module answers under
        its new ID, and a RESET of the master (or a new lowest ID) makes a new master with a fresh discovery scan."""
        assert self.live is not None, "start() first"
        live = self.live
        if dip is not None:
            ids = list(live.builder.module_ids)
            ids[index] = dip.module_id if dip.id_valid else 0
            live.builder.module_ids = tuple(ids)
        linked = live.linked
        if linked is None:
            live.system.press([index], reset=True)
            live.republish()  # the new ID shows from now on
            return
        loop = self.master_loop
        with loop.lock if loop is not None else contextlib.nullcontext():
            if dip is not None:
                linked.set_switches(index, dip)
            linked.press_reset(index)
            if loop is not None and linked.master is not None:
                loop.master = linked.master
        if self.modules_side is not None:
            self.modules_side.reindex(linked.endpoints)
        self._wiring_faults = linked.report.records()
        live.republish()

    def _master_status(self, loop: MasterLoop, now_s: float, extra: frozenset[AlarmKind]) -> BankStatus:
        """The bank the master presents, and (under the same lock) what the master knows is wrong."""
        with loop.lock:
            status = loop.master.bank_status(now_s, extra)
            self._master_faults = (*loop.master.fault_records(), *loop.master.mix_cautions())
            states = {mid: m.state.value for mid, m in loop.master.members.items()}
            states[loop.master.master_id] = "master"
            self.link_states = states
        return status

    def _status(self) -> BankStatus:
        assert self.live is not None
        return self.live.status

    def _start_can(self, entry: Entry, status: Callable[[], BankStatus]) -> str:
        c = self.config
        codec = create(entry)
        assert isinstance(codec, CanCodec)
        if c.can_log is not None:
            self._can_log = CanTrafficLog(c.can_log, channel=c.can.channel if not c.can.is_virtual else "vcan0")
            self._closers.append(self._can_log.close)
        bus = open_bus(c.can, codec.info.bitrate)
        reopen = lambda: open_bus(c.can, codec.info.bitrate)  # noqa: E731 - a lost device is opened again
        self.can_battery = CanBatteryLink(codec, bus, status, self._can_log, reopen=reopen)
        self._closers.append(self.can_battery.close)
        self.can_battery.start()
        with_peer = c.peer if c.peer is not None else c.can.is_virtual
        if with_peer:
            peer_codec = create(entry)
            assert isinstance(peer_codec, CanCodec)
            self.can_peer = CanInverterPeer(peer_codec, open_bus(c.can, codec.info.bitrate), reopen=reopen)
            self._closers.append(self.can_peer.close)
            self.can_peer.start()
        return f"CAN {c.can}: {_describe(codec)}" + (" + built-in inverter peer" if with_peer else "")

    def _rs485_codec(self, entry: Entry) -> Rs485Codec:
        codec = create(entry)
        assert isinstance(codec, Rs485Codec)
        if self.config.rs485_baud is not None:
            codec.info = replace(codec.info, baud=self.config.rs485_baud)
        return codec

    def _start_rs485(self, entry: Entry, spec: Rs485Spec, status: Callable[[], BankStatus]) -> str:
        c = self.config
        codec = self._rs485_codec(entry)
        with_peer = c.peer if c.peer is not None else spec.listen is not None
        if is_register_codec(codec):
            return self._start_modbus(entry, codec, spec, status, with_peer)
        if c.rs485_log is not None:
            self._rs485_log = Rs485TrafficLog(c.rs485_log)
            self._closers.append(self._rs485_log.close)
        server = Rs485BatteryServer(
            codec,
            status,
            self._rs485_log,
            max_clients=c.rs485_max_clients,
            idle_timeout_s=c.rs485_idle_timeout_s,
        )
        self.rs485_server = server
        self._closers.append(server.close)
        if spec.listen is not None:
            self.listener = TcpListener(*spec.listen)
            self._closers.append(self.listener.close)
            server.serve_listener(self.listener)
            host, port = self.listener.address
            where = f"listening on tcp://{host}:{port}"
            if with_peer:
                try:
                    sock = socket.create_connection((host, port), timeout=2.0)
                except OSError as exc:
                    raise TransportError(f"the built-in peer cannot reach tcp://{host}:{port}: {exc}") from None
                self._start_rs485_peer(entry, SocketStream(sock, f"{host}:{port}"))
        else:
            server.serve_device(lambda: open_serial(spec.url, codec.info.baud))
            where = f"on {spec.url} at {codec.info.baud} baud"
            if with_peer:
                where += " (no built-in peer on a serial port: the inverter is at the other end)"
                with_peer = False
        return f"RS485 {where}: {_describe(codec)}" + (" + built-in inverter peer" if with_peer else "")

    def _start_modbus(
        self, entry: Entry, codec: Rs485Codec, spec: Rs485Spec, status: Callable[[], BankStatus], with_peer: bool
    ) -> str:
        """A standard Modbus RTU register map: served through the codec's RTU rules, polled by pymodbus as the peer."""
        if self.config.rs485_log is not None:
            self._rs485_log = Rs485TrafficLog(self.config.rs485_log)
            self._closers.append(self._rs485_log.close)
        service = ModbusBatteryService(
            codec,
            status,
            spec.url,
            self._rs485_log,
            max_clients=self.config.rs485_max_clients,
            idle_timeout_s=self.config.rs485_idle_timeout_s,
        )
        self.rs485_server = service
        self._closers.append(service.close)
        address = service.address
        where = f"listening on tcp://{address[0]}:{address[1]}" if address else f"on {spec.url}"
        if with_peer and address is not None:
            peer_codec = self._rs485_codec(entry)
            peer = ModbusInverterPeer(peer_codec, f"tcp://{address[0]}:{address[1]}")
            self.rs485_peer = peer
            self._closers.append(peer.close)
            peer.start()
        else:
            with_peer = False
        return f"RS485 {where} (Modbus RTU): {_describe(codec)}" + (" + built-in inverter peer" if with_peer else "")

    def _start_rs485_peer(self, entry: Entry, stream: SocketStream) -> None:
        peer_codec = self._rs485_codec(entry)
        self.rs485_peer = Rs485InverterPeer(peer_codec, stream)
        self._closers.append(self.rs485_peer.close)
        self.rs485_peer.start()

    # ------------------------------------------------------------------- loop
    def run(
        self,
        status_every_s: float = 1.0,
        on_status: Callable[[str], None] | None = None,
        on_detail: Callable[[str], None] | None = None,
        width: int | None = STATUS_WIDTH,
    ) -> None:
        """Advance the bank until stopped (or ``duration_s``); call ``on_status`` with the live line (fitted to
        ``width`` columns) and ``on_detail`` with one line per fault that appears or clears."""
        assert self.live is not None, "start() first"
        c = self.config
        tick_s = 1.0 / c.speed if c.speed <= 20.0 else 0.05
        steps = max(1, round(c.speed * tick_s))
        t0 = time.monotonic()
        due = t0
        next_status = t0
        next_save = t0 + min(c.save_every_s, 10.0)
        next_sample = t0
        while not self.stop_event.is_set():
            now = time.monotonic()
            if c.duration_s is not None and now - t0 >= c.duration_s:
                break
            if now < due:
                self.stop_event.wait(due - now)
                continue
            self.live.tick(steps, self.link_clock())
            for hook in self.tick_hooks:
                hook()
            due += tick_s
            if now - due > 5 * tick_s:  # the machine could not keep up: do not race to catch up
                due = now + tick_s
            if c.data_dir is not None and now >= next_save:
                self.save_state()
                next_save = time.monotonic() + min(c.save_every_s, 10.0)
            if self.history is not None and now >= next_sample:
                self.record_history()
                next_sample = max(next_sample + 1.0, now)
            if on_detail is not None:
                for line in self.fault_changes():
                    on_detail(line)
            if on_status is not None and now >= next_status:
                on_status(self.status_line(width))
                next_status += status_every_s

    def record_history(self) -> None:
        """Hand this second's snapshots to the history (queued: never waits for the database)."""
        assert self.live is not None and self.history is not None
        t = int(time.time())
        if t > self._sampled_t:
            self._sampled_t = t
            self.history.append(sample_from(t, self.live.status, self.live.snapshot, self.peer_view()))
        notice = self.history.notice()
        if notice is not None:
            self.echo(f"ml314: warning: {notice}")

    def stop(self) -> None:
        self.stop_event.set()

    def close(self) -> None:
        """Stop threads and release links, the newest first."""
        self.stop_event.set()
        close_newest_first(self._closers, self.echo)

    # ----------------------------------------------------------------- status
    def link_health(self) -> tuple[LinkHealthSnapshot, ...]:
        """Every running link's health (counters, errors by kind, open faults), for the status line and summary."""
        links = (self.can_battery, self.can_peer, self.rs485_server, self.master_loop, self.modules_side)
        return tuple(x.health_snapshot() for x in links if x is not None)

    def heard(self) -> tuple[tuple[CanFrame, ...], tuple[bytes, ...]]:
        """What the battery's links received lately: CAN frames and RS485 byte chunks (the inverter detective's
        input; copied at once, so the link threads go on)."""
        can = tuple(self.can_battery.heard.copy()) if self.can_battery is not None else ()
        rs485 = tuple(self.rs485_server.heard.copy()) if self.rs485_server is not None else ()
        return can, rs485

    def peer_view(self) -> BatteryView | None:
        peer = self.can_peer or self.rs485_peer
        return None if peer is None else peer.current_view()

    def faults(self) -> list[SystemFault]:
        """What is wrong now, outside the BMS's own alarms: wiring, the master's view, lost inverters; most severe
        first."""
        out = [*self._wiring_faults, *self._master_faults]
        links: list[tuple[str, CanBatteryLink | Rs485BatteryServer | ModbusBatteryService | None]] = [
            ("CAN", self.can_battery),
            ("RS485", self.rs485_server),
        ]
        for name, link in links:
            if link is None:
                continue
            state = link.link_state()
            if state is not LinkState.OK:
                details = f"{name} {link.codec.info.name}: {_state(link).lower()} (the keep-alive stopped)"
                out.append(SystemFault(SystemFaultKind.INVERTER_LOST, details, link=name))
        out += [f for h in self.link_health() for f in h.faults]
        if self.config.legacy_secrets:
            details = "the manual's PIN 123456 and AP password 12345678 are accepted (--no-legacy-secrets)"
            out.append(SystemFault(SystemFaultKind.LEGACY_SECRETS, details))
        out.sort(key=lambda f: -f.severity)
        return out

    def fault_changes(self) -> list[str]:
        """One detail line per fault that appeared or cleared since the last call (the status line has no room)."""
        now = {(f.kind, f.module_id, f.link, f.details): f for f in self.faults()}
        lines = [fault_detail(f) for key, f in now.items() if key not in self._shown_faults]
        lines += [f"cleared: {f.label}" for key, f in self._shown_faults.items() if key not in now]
        self._shown_faults = now
        return lines

    def status_line(self, width: int | None = STATUS_WIDTH) -> str:
        """The live line: alarms and faults first, then the bank, then the links; fitted to ``width`` columns by
        leaving out the least important parts (None: everything)."""
        assert self.live is not None
        s = self.live.status
        t = int(self.live.t_s)
        alarms = [a.value for a in sorted(s.protections, key=lambda a: a.value)]
        alarms += [a.value for a in sorted(s.alarms - s.protections, key=lambda a: a.value)]
        faults = list(dict.fromkeys(f.label for f in self.faults()))  # one label per kind and module
        head = _alarm_head(faults + alarms, width)
        parts = []
        if self.master_loop is not None or self.config.modules > 1:
            parts.append(f"bank {s.module_count}/{self.config.modules}")
        clock = f"{t // 3600:02d}:{t // 60 % 60:02d}:{t % 60:02d}"
        parts.append(f"{clock} SOC {s.soc_pct:.1f}% {s.voltage_v:.2f}V {s.current_a:+.1f}A")
        parts.append(f"{s.temperature_c:.1f}C")
        if self.can_battery is not None:
            parts.append(f"CAN {self.can_battery.sent} {_short_state(self.can_battery)}")
        if self.rs485_server is not None:
            parts.append(f"RS485 {self.rs485_server.requests} {_short_state(self.rs485_server)}")
        if self.master_loop is not None:
            m = self.master_loop.master
            if m.last_cycle_s is not None:
                parts.append(f"refresh {m.last_cycle_s:.2f}s")
        view = self.peer_view()
        lim = None if view is None else view.limits()
        if lim is not None:
            parts.append(f"peer {lim.cvl_v:.1f}V {lim.ccl_a:.0f}/{lim.dcl_a:.0f}A")
        line = head
        for part in parts:
            candidate = f"{line} | {part}" if line else part
            if width is not None and len(candidate) > width:
                break
            line = candidate
        return line if width is None else line[:width]


def fault_detail(fault: SystemFault) -> str:
    """A fault on a line of its own: severity, label, details and the manual's section."""
    return f"{fault.severity.name.lower()}: {fault.label}: {fault.details} [manual {fault.manual_ref}]"


def _alarm_head(labels: list[str], width: int | None) -> str:
    """The alarms part of the status line: as many labels as fit in half the width, then how many more."""
    if not labels:
        return ""
    room = None if width is None else max(20, width // 2)
    shown: list[str] = []
    for i, label in enumerate(labels):
        rest = len(labels) - i - 1
        candidate = "!! " + ", ".join([*shown, label]) + (f" +{rest}" if rest else "")
        if room is not None and len(candidate) > room and shown:
            return "!! " + ", ".join(shown) + f" +{len(labels) - len(shown)}"
        shown.append(label)
    return "!! " + ", ".join(shown)


def _short_state(link: CanBatteryLink | Rs485BatteryServer | ModbusBatteryService) -> str:
    return {LinkState.OK: "ok", LinkState.LOST: "LOST", LinkState.TIMED_OUT: "TIMEOUT"}[link.link_state()]


def _state(link: CanBatteryLink | Rs485BatteryServer | ModbusBatteryService) -> str:
    st = link.link_state()
    return {LinkState.OK: "inverter ok", LinkState.LOST: "INVERTER LOST", LinkState.TIMED_OUT: "INVERTER TIMEOUT"}[st]


def _describe(codec: CanCodec | Rs485Codec) -> str:
    i = codec.info
    code = f"{i.transport.value}:{i.code}" if i.code else i.name
    mode = f" - compatibility mode: {i.compatibility}" if i.compatibility else ""
    return f"{code} {i.brand} ({i.name}){mode}"
