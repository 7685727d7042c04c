"""The port the surfaces (web API, WebSocket, ``ml314 lcd``) use on a running ``ml314 run``: views out, requests in.

The run loop is synchronous on the main thread and the links run on their own threads; a surface runs on yet
another (the web server's event loop). So a surface never touches the engine: after every tick the run loop calls
:meth:`Surface.on_tick`, which first applies the requests queued since the last tick (a button pressed, DIP
switches moved, the breaker switched) and then publishes one immutable :class:`LiveView` (the bank as the master
presents it, every module's own status, its front panel, the faults, the links' health and the event log). Readers
take the latest view with :meth:`Surface.view`; nothing they do can block the run loop or a link thread.

Requests come back as :class:`concurrent.futures.Future` objects the run loop completes when it applied them.
Changes behind the device's technician PIN (the protocol selection, the parameter set) are storage operations
that take effect at the next start, as on the product (manual 10.1.5); they run on the caller's thread.

Modules are named by their DIP ID as their BMS read it at the last start or RESET (``module_id``); the DIP switches
a surface moves are read at the next RESET of that module only (manual 6.3 note 2, 8.5).
"""

from __future__ import annotations

import abc
import math
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from queue import Empty, SimpleQueue
from typing import Any, ClassVar

from ml314.bms.events import EVENT_KINDS, Event
from ml314.bms.leds import FAULT_ROWS, LED_ROW_BY_MODE, LedMode, LedRow, led_outputs
from ml314.bms.parameters import BmsParameters, default_parameters_text
from ml314.domain.battery_status import BankStatus, BatteryView, ModuleStatus
from ml314.domain.faults import SystemFault
from ml314.domain.leds import LedOutputs
from ml314.domain.link_health import LinkHealthSnapshot
from ml314.errors import AccessDeniedError, ConfigError, InputError, Ml314Error
from ml314.protocols.base import Transport
from ml314.protocols.registry import Entry, resolve
from ml314.runtime.run import Runner
from ml314.storage.acks import ACKS_FILE, AckStore, fingerprint
from ml314.storage.data_dir import DataDir
from ml314.storage.identity import DeviceIdentity, PinGrant
from ml314.storage.parameter_store import read_parameters_text
from ml314.storage.settings_store import DEFAULT_SETTINGS_PATH, ProtocolSelection, load_selection, save_selection
from ml314.system.addressing import wiring_from_ids
from ml314.twin import kernel as k
from ml314.twin.frontpanel import DIP_SWITCH_COUNT, DipSwitches

__all__ = [
    "ConflictError",
    "EventQuery",
    "LiveView",
    "ModulePanel",
    "NotFoundError",
    "NotReadyError",
    "PinRefusedError",
    "PinRequiredError",
    "ProtocolChange",
    "Surface",
    "SurfaceError",
    "SurfacePort",
]


# ------------------------------------------------------------------------------------------------------ errors
class SurfaceError(Ml314Error):
    """A request a surface cannot have: ``code`` for machines, the message for people, ``field`` the input at
    fault (None: the request as a whole). Subclasses fix the kind (the web layer maps each to its status)."""

    code = "bad_request"

    def __init__(self, message: str, field: str | None = None, *, code: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        if code is not None:
            self.code = code


class NotFoundError(SurfaceError):
    code = "not_found"


class ConflictError(SurfaceError):
    code = "conflict"


class NotReadyError(SurfaceError):
    """The bank is not running (yet, or any more)."""

    code = "not_ready"


class PinRequiredError(SurfaceError):
    code = "pin_required"


class PinRefusedError(SurfaceError):
    """A wrong PIN, or the PIN check locked after too many (``retry_after_s`` > 0)."""

    code = "pin_wrong"

    def __init__(self, message: str, retry_after_s: float = 0.0) -> None:
        super().__init__(message, "pin", code="pin_locked" if retry_after_s > 0 else "pin_wrong")
        self.retry_after_s = retry_after_s


# ------------------------------------------------------------------------------------------------------- views
@dataclass(frozen=True, slots=True)
class ModulePanel:
    """One module's front panel as the run loop left it (manual 6.2.2, 6.4): what its LEDs show and why (the row
    of Table 6-4 with its flash patterns, the fault code of Table 12-2), its switches and its breaker."""

    index: int  # chain position, 0 = first
    module_id: int  # the ID its BMS read at its last start or RESET (0: no valid ID)
    online: bool  # a member of the bank the master presents (no bank link: its BMS runs)
    link_state: str  # on the bank link as the master sees it: master, online, waiting, lost, absent; none (no link)
    powered: bool  # its BMS runs (not shut down)
    led_row: LedRow
    leds: LedOutputs  # lit at ``t_s`` of the view
    fault_started_s: float | None
    fault_code: int | None  # the row of Table 12-2 the LEDs show (5..8), None: no fault code
    dip: tuple[bool, ...]  # the switches as the BMS read them (switch 1 first, True = ON)
    dip_pending: tuple[bool, ...] | None  # moved since, read at the next RESET
    termination_on: bool
    breaker_closed: bool


@dataclass(frozen=True, slots=True)
class LiveView:
    """Everything a surface shows, at one tick. ``seq`` grows by one per published view; ``wall_s`` is the
    wall-clock time (``time.time()``) it was published, so a client can tell how old it is."""

    seq: int
    t_s: float
    wall_s: float
    bank: BankStatus
    modules: tuple[ModuleStatus, ...]  # every module's own status, chain order
    panels: tuple[ModulePanel, ...]  # chain order
    faults: tuple[SystemFault, ...]
    links: tuple[LinkHealthSnapshot, ...]
    events: tuple[Event, ...]  # the BMS event log, oldest first
    first_event_id: int  # the id of ``events[0]`` (ids count every event since the log began)
    peer: BatteryView | None  # what the built-in inverter peer decoded
    can_protocol: str | None
    rs485_protocol: str | None

    @property
    def modules_total(self) -> int:
        return len(self.modules)

    @property
    def modules_online(self) -> int:
        return sum(p.online for p in self.panels)

    def index_of(self, module_id: int) -> int:
        """The chain position of the module with DIP ID ``module_id``; NotFoundError, ConflictError when two share
        it."""
        found = [p.index for p in self.panels if p.module_id == module_id]
        if not found:
            ids = ", ".join(str(p.module_id) for p in self.panels)
            raise NotFoundError(f"no module with ID {module_id} (the bank has {ids})", "module")
        if len(found) > 1:
            raise ConflictError(f"{len(found)} modules have ID {module_id}: set a unique ID and press RESET", "module")
        return found[0]


@dataclass(frozen=True, slots=True)
class EventQuery:
    """A filter of the event log (every bound optional); ``t_s`` is the simulated time of the event."""

    module_id: int | None = None
    kind: str | None = None
    from_s: float | None = None
    to_s: float | None = None
    unacknowledged: bool = False
    limit: int = 1000


@dataclass(frozen=True, slots=True)
class ProtocolChange:
    """The selection after a change (each port's protocol), effective at the next start."""

    can: Entry
    rs485: Entry
    restart_required: bool = True


# ---------------------------------------------------------------------------------------------------- requests
@dataclass(frozen=True, slots=True)
class _Request:
    kind: str  # a key of Surface._APPLY
    index: int
    value: Any = None


class SurfacePort(abc.ABC):
    """What every surface reads and asks of one bank, whoever runs it: a :class:`Surface` on a running
    ``ml314 run``, or :class:`~ml314.runtime.monitor_surface.MonitorSurface` on a battery read over its wire.

    The views, their listeners and the event log's filter and acknowledgements live here; an implementation
    publishes each new view with :meth:`_emit` and answers the requests (a request the bank cannot take is a
    :class:`SurfaceError` of its kind, never a crash)."""

    def __init__(self, acks: AckStore | None = None) -> None:
        self._view: LiveView | None = None
        self._listeners: list[Callable[[LiveView], None]] = []
        self._acks = AckStore(None) if acks is None else acks

    # ---------------------------------------------------------------------------------------------- reading
    def view(self) -> LiveView:
        """The latest view; NotReadyError before the bank runs."""
        view = self._view
        if view is None:
            raise NotReadyError(self._not_ready())
        return view

    def _not_ready(self) -> str:
        return "the bank is starting"

    def subscribe(self, listener: Callable[[LiveView], None]) -> Callable[[], None]:
        """Call ``listener`` with every new view, on the run loop's thread (it must return at once: hand the view
        to another thread, e.g. ``loop.call_soon_threadsafe``); returns the function that unsubscribes."""
        self._listeners = [*self._listeners, listener]

        def unsubscribe() -> None:
            self._listeners = [x for x in self._listeners if x is not listener]

        return unsubscribe

    def _emit(self, view: LiveView, warn: Callable[[str], None]) -> None:
        """Publish ``view`` and hand it to every listener (a listener's failure is reported with ``warn``)."""
        self._view = view
        for listener in self._listeners:
            try:
                listener(view)
            except Exception as exc:  # a surface's fault must never end the run loop
                warn(f"ml314: warning: a surface failed on a new view: {exc}")

    def module(self, module_id: int) -> tuple[ModuleStatus, ModulePanel]:
        """The module with DIP ID ``module_id``: its own status and its panel."""
        view = self.view()
        i = view.index_of(module_id)
        return view.modules[i], view.panels[i]

    def events(self, query: EventQuery) -> list[tuple[int, Event, bool]]:
        """The event log filtered by ``query``: (id, event, acknowledged), oldest first, at most ``query.limit``
        of the newest that match."""
        if query.kind is not None and query.kind not in EVENT_KINDS:
            raise SurfaceError(f"kind {query.kind!r}: one of {', '.join(EVENT_KINDS)}", "kind")
        if query.from_s is not None and query.to_s is not None and query.to_s < query.from_s:
            raise SurfaceError(f"to {query.to_s:g} is before from {query.from_s:g}", "to")
        if not 1 <= query.limit <= 100_000:
            raise SurfaceError(f"limit {query.limit}: must be 1..100000", "limit")
        view = self.view()
        acks = self._acks.acked()
        out = []
        for i, e in enumerate(view.events):
            if query.module_id is not None and e.module_id != query.module_id:
                continue
            if query.kind is not None and e.kind != query.kind:
                continue
            if (query.from_s is not None and e.t_s < query.from_s) or (query.to_s is not None and e.t_s > query.to_s):
                continue
            eid = view.first_event_id + i
            acked = acks.get(eid) == fingerprint(e)
            if query.unacknowledged and acked:
                continue
            out.append((eid, e, acked))
        return out[-query.limit :]

    def acknowledge(self, event_id: int) -> tuple[int, Event]:
        """Mark event ``event_id`` acknowledged (kept in the data dir's ``acks.json`` across restarts, in memory
        without a data dir); NotFoundError when the log has no such id."""
        view = self.view()
        i = event_id - view.first_event_id
        if not 0 <= i < len(view.events):
            last = view.first_event_id + len(view.events) - 1
            raise NotFoundError(f"no event {event_id} in the log (it holds ids {view.first_event_id}..{last})", "id")
        self._acks.add(event_id, view.events[i])
        return event_id, view.events[i]

    # ---------------------------------------------------------------------------------------------- requests
    @abc.abstractmethod
    def press_reset(self, module_id: int) -> Future[dict[str, Any]]: ...

    @abc.abstractmethod
    def press_power(self, module_id: int, *, long: bool = False) -> Future[dict[str, Any]]: ...

    @abc.abstractmethod
    def set_dip(self, module_id: int, switches: tuple[bool, ...]) -> Future[dict[str, Any]]: ...

    @abc.abstractmethod
    def set_breaker(self, module_id: int, closed: bool) -> Future[dict[str, Any]]: ...

    @abc.abstractmethod
    def protocols(self) -> ProtocolSelection: ...

    @abc.abstractmethod
    def set_protocols(self, pin: str | None, can: str | None, rs485: str | None) -> ProtocolChange: ...

    @abc.abstractmethod
    def parameters(self) -> tuple[BmsParameters, str, str]: ...

    @abc.abstractmethod
    def install_parameters(self, pin: str | None, text: str) -> BmsParameters: ...


class Surface(SurfacePort):
    """The thread-safe port of a :class:`Runner` (see the module docstring). Create it after :meth:`Runner.start`
    (it registers itself as a tick hook); ``settings_path`` is the file with the protocol selection."""

    def __init__(self, runner: Runner, *, settings_path: Path = DEFAULT_SETTINGS_PATH) -> None:
        self.data_dir = None if runner.config.data_dir is None else DataDir(runner.config.data_dir)
        super().__init__(AckStore(None if self.data_dir is None else self.data_dir.path / ACKS_FILE))
        if self._acks.problem is not None:
            runner.echo(f"ml314: warning: {self._acks.problem}")
        self.runner = runner
        self.settings_path = Path(settings_path)
        self._requests: SimpleQueue[tuple[_Request, Future[dict[str, Any]]]] = SimpleQueue()
        self._seq = 0
        self._events_key: tuple[int, int, int] = (-1, -1, -1)
        self._events: tuple[Event, ...] = ()
        n = runner.config.modules
        c = runner.config
        wiring = wiring_from_ids(list(c.module_ids or range(1, n + 1)), c.termination)
        self._dips = [_dip_of(m.module_id, m.termination_on) for m in wiring.modules]
        self._pending: dict[int, DipSwitches] = {}
        self._ids = [m.module_id if m.id_valid else 0 for m in wiring.modules]
        runner.tick_hooks.append(self.on_tick)
        if runner.live is not None:
            self._publish()

    # -------------------------------------------------------------------------------------------- requests
    def press_reset(self, module_id: int) -> Future[dict[str, Any]]:
        """RESET on a module: its BMS restarts and reads its DIP switches (a moved switch takes effect now)."""
        return self._submit(_Request("reset", self.view().index_of(module_id)))

    def press_power(self, module_id: int, *, long: bool = False) -> Future[dict[str, Any]]:
        """The ON/OFF switch: a short press starts a BMS that is off or asleep; ``long`` (held 3 s) shuts it down."""
        return self._submit(_Request("power", self.view().index_of(module_id), long))

    def set_dip(self, module_id: int, switches: tuple[bool, ...]) -> Future[dict[str, Any]]:
        """Move a module's 8 DIP switches (switch 1 first, True = ON); its BMS reads them at its next RESET."""
        if len(switches) != DIP_SWITCH_COUNT:
            raise SurfaceError(f"switches: {len(switches)} given, the module has {DIP_SWITCH_COUNT}", "switches")
        return self._submit(_Request("dip", self.view().index_of(module_id), DipSwitches(tuple(switches))))

    def set_breaker(self, module_id: int, closed: bool) -> Future[dict[str, Any]]:
        """Close or open a module's DC breaker (open: no DC output, manual 12.2 #2)."""
        return self._submit(_Request("breaker", self.view().index_of(module_id), bool(closed)))

    def _submit(self, request: _Request) -> Future[dict[str, Any]]:
        if self.runner.stop_event.is_set():
            raise NotReadyError("the bank is stopping")
        future: Future[dict[str, Any]] = Future()
        self._requests.put((request, future))
        return future

    # ---------------------------------------------------------------------------------- protected changes
    def grant(self, pin: str | None) -> PinGrant:
        """The device's PIN checked (the lockout of ``identity.py`` applies): PinRequiredError, PinRefusedError."""
        if self.data_dir is None:
            raise ConflictError("this run has no data dir, so no device PIN: start it with --data-dir")
        if not pin:
            raise PinRequiredError("this change needs the device's technician PIN", "pin")
        identity, _ = self.data_dir.identity()
        now = time.time()
        try:
            return identity.check_pin(pin, now)
        except AccessDeniedError as exc:
            raise self._refused(exc, now) from None

    def _refused(self, exc: AccessDeniedError, now_s: float) -> PinRefusedError:
        assert self.data_dir is not None
        locked = DeviceIdentity.load(self.data_dir.path).locked_until_s
        return PinRefusedError(str(exc), retry_after_s=max(0.0, math.ceil(locked - now_s)))

    def protocols(self) -> ProtocolSelection:
        """The selection in the settings file (what the next start runs)."""
        return load_selection(self.settings_path)

    def set_protocols(self, pin: str | None, can: str | None, rs485: str | None) -> ProtocolChange:
        """Select the CAN and/or RS485 protocol (any spelling ``ml314 protocols`` takes; None: keep), with the PIN;
        effective at the next start. Each name is checked before the PIN is."""
        if can is None and rs485 is None:
            raise SurfaceError("name a protocol for can, rs485 or both", "can")
        chosen: list[Entry] = []
        for key, text, transport in (("can", can, Transport.CAN), ("rs485", rs485, Transport.RS485)):
            if text is None:
                continue
            try:
                entry = resolve(text)
            except InputError as exc:
                raise SurfaceError(str(exc), key) from None
            if entry.transport is not transport:
                raise SurfaceError(f"{text!r} is a {entry.transport.value} protocol, not {transport.value}", key)
            chosen.append(entry)
        grant = self.grant(pin)
        selection = self.protocols()
        for entry in chosen:
            selection = save_selection(self.settings_path, entry, grant)
        return ProtocolChange(selection.can, selection.rs485)

    def parameters(self) -> tuple[BmsParameters, str, str]:
        """The set the BMS runs with, the text of the set the next start runs, and where that text is."""
        running = self.runner.config.params
        if self.data_dir is not None and self.data_dir.parameters_path.exists():
            path = self.data_dir.parameters_path
            return running, read_parameters_text(path), str(path)
        return running, default_parameters_text(), "bms/data/default.toml (shipped)"

    def install_parameters(self, pin: str | None, text: str) -> BmsParameters:
        """Install a parameter set (TOML text) with the PIN, validated exactly as ``--params`` is (consistency and
        the safety envelope, before anything is written); the BMS runs it from the next start."""
        if self.data_dir is None:
            raise ConflictError("this run has no data dir to install a parameter set in: start it with --data-dir")
        if not pin:
            raise PinRequiredError("installing a parameter set needs the device's technician PIN", "pin")
        now = time.time()
        try:
            return self.data_dir.install_parameters(text, "parameters", pin, now, no_pin="no PIN")
        except AccessDeniedError as exc:
            raise self._refused(exc, now) from None
        except (InputError, ConfigError) as exc:
            raise SurfaceError(str(exc), "text") from None

    # --------------------------------------------------------------------------------------- the run loop
    def on_tick(self) -> None:
        """On the run loop's thread: apply the queued requests, publish the new view, then complete the requests
        (so whoever waited on one finds its effect in the view)."""
        done: list[tuple[Future[dict[str, Any]], dict[str, Any] | Exception]] = []
        while True:
            try:
                request, future = self._requests.get_nowait()
            except Empty:
                break
            if not future.set_running_or_notify_cancel():
                continue
            try:
                done.append((future, self._APPLY[request.kind](self, request)))
            except Exception as exc:  # a request must never end the run loop
                done.append((future, exc))
        self._publish()
        for future, outcome in done:
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    def drain(self, reason: str = "the bank stopped") -> None:
        """Fail every queued request (the run loop ended before it applied them)."""
        while True:
            try:
                _, future = self._requests.get_nowait()
            except Empty:
                return
            if future.set_running_or_notify_cancel():
                future.set_exception(NotReadyError(reason))

    def _reset(self, r: _Request) -> dict[str, Any]:
        old = self._ids[r.index]
        dip = self._pending.pop(r.index, None)
        self.runner.reset_module(r.index, dip)
        if dip is not None:
            self._dips[r.index] = dip
            self._ids[r.index] = dip.module_id if dip.id_valid else 0
        return {"module_id": self._ids[r.index], "previous_id": old, "dip_read": dip is not None}

    def _power(self, r: _Request) -> dict[str, Any]:
        live = self._live()
        if r.value:
            live.system.press([r.index], long=True)
        else:
            live.system.press([r.index], power=True)
        return {"module_id": self._ids[r.index], "long": bool(r.value)}

    def _dip(self, r: _Request) -> dict[str, Any]:
        dip: DipSwitches = r.value
        if dip.positions == self._dips[r.index].positions:
            self._pending.pop(r.index, None)
        else:
            self._pending[r.index] = dip
        pending = self._pending.get(r.index)
        return {
            "module_id": self._ids[r.index],
            "dip_pending": None if pending is None else list(pending.positions),
            "id_at_reset": dip.module_id,
            "id_valid": dip.id_valid,
        }

    def _breaker(self, r: _Request) -> dict[str, Any]:
        self._live().system.bank.set_breaker(r.index, closed=bool(r.value))
        return {"module_id": self._ids[r.index], "closed": bool(r.value)}

    _APPLY: ClassVar[dict[str, Callable[[Surface, _Request], dict[str, Any]]]] = {
        "reset": _reset,
        "power": _power,
        "dip": _dip,
        "breaker": _breaker,
    }

    def _live(self) -> Any:
        live = self.runner.live
        if live is None:
            raise NotReadyError("the bank is not running")
        return live

    def _publish(self) -> None:
        runner = self.runner
        live = runner.live
        if live is None:
            return
        system = live.system
        status = live.status
        modules = live.snapshot
        t_s = live.t_s
        found = {m.address for m in status.modules} if live.linked is not None else None
        link_states = self._link_states()
        breakers = system.bank.mod_par[k.MP_BREAKER_CLOSED]
        panels = []
        for i, m in enumerate(modules):
            mode = LedMode(int(system.led_mode_ids[i]))
            started = system.fault_started[i]
            fault_started = None if math.isnan(started) else float(started)
            pending = self._pending.get(i)
            powered = m.state != "shutdown"
            panels.append(
                ModulePanel(
                    index=i,
                    module_id=self._ids[i],
                    online=(m.address in found) if found is not None else m.state not in ("shutdown", "sleep"),
                    link_state="none" if link_states is None else link_states.get(self._ids[i], "absent"),
                    powered=powered,
                    led_row=LED_ROW_BY_MODE[mode],
                    leds=led_outputs(mode, m.soc_pct / 100.0, t_s, fault_started) if powered else LedOutputs(),
                    fault_started_s=fault_started,
                    fault_code=_FAULT_CODE_OF_MODE.get(mode),
                    dip=self._dips[i].positions,
                    dip_pending=None if pending is None else pending.positions,
                    termination_on=self._dips[i].termination_on,
                    breaker_closed=bool(breakers[i] > 0.5),
                )
            )
        log = system.bms.events
        key = (id(log), len(log), log.dropped)
        if key != self._events_key:  # copied on this thread only: the run loop appends to the log
            self._events_key, self._events = key, tuple(log)
        c = runner.config
        self._seq += 1
        view = LiveView(
            seq=self._seq,
            t_s=t_s,
            wall_s=time.time(),
            bank=status,
            modules=modules,
            panels=tuple(panels),
            faults=tuple(runner.faults()),
            links=runner.link_health(),
            events=self._events,
            first_event_id=log.dropped,
            peer=runner.peer_view(),
            can_protocol=None if c.can_protocol is None or runner.can_battery is None else c.can_protocol.name,
            rs485_protocol=None if c.rs485_protocol is None or runner.rs485_server is None else c.rs485_protocol.name,
        )
        self._emit(view, runner.echo)

    def _link_states(self) -> dict[int, str] | None:
        """Each ID's state on the bank link as the master knew it at this tick (None: no bank link runs)."""
        return None if self.runner.master_loop is None else self.runner.link_states


_FAULT_CODE_OF_MODE = {row.led_mode: int(row.code) for row in FAULT_ROWS}


def _dip_of(module_id: int, termination: bool) -> DipSwitches:
    """The switches that give ``module_id`` (an ID the 6 switches cannot hold shows as all ID switches off)."""
    try:
        return DipSwitches.from_id(module_id, termination)
    except ValueError:
        return DipSwitches.from_id(0, termination)
