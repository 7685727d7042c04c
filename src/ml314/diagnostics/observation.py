"""What the rules read: one :class:`Observation` of the system at one moment, gathered from what it exposes.

Every field is something the system already has: a module's state, readings and panel (breaker, LED fault code)
from the live view, the history or the time series; the BMS event log (which protections are in force, and the
state changes); the system faults (wiring, lost modules, lost links); the battery's inverter links (keep-alive
state, frames heard, frames recognised as the inverter's); and a short trace of the bank (voltage, current, SOC,
the CVL and CCL the battery asks) for the rules that judge a course over time. A field the source cannot know is
None, and a rule that needs it stays silent.

:class:`ProtectionLedger` folds the event log, incrementally, into what is in force now: the trips not yet
released and each module's last state change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ml314.bms.events import Event
from ml314.domain.faults import SystemFault

__all__ = ["InverterLinkObservation", "ModuleObservation", "Observation", "ProtectionLedger", "TracePoint"]


@dataclass(frozen=True, slots=True)
class ModuleObservation:
    """One module. ``state`` is the BMS state in lower case (bms/states.py) or "unknown"; cell indices are 1-based;
    ``last_full_charge_s`` is when the BMS last synchronised to 100 % (None: never, or not known)."""

    index: int
    module_id: int
    state: str = "unknown"
    voltage_v: float | None = None
    current_a: float | None = None
    soc_pct: float | None = None
    soh_pct: float | None = None
    cell_min_v: float | None = None
    cell_min_index: int | None = None
    cell_max_v: float | None = None
    cell_max_index: int | None = None
    temp_min_c: float | None = None
    temp_max_c: float | None = None
    breaker_closed: bool | None = None
    fault_code: int | None = None  # the Table 12-2 row the LEDs show (5..8)
    online: bool | None = None
    last_full_charge_s: float | None = None


@dataclass(frozen=True, slots=True)
class InverterLinkObservation:
    """The battery's side of one inverter port. ``keepalives`` counts the frames recognised as the inverter's own
    (keep-alive, or a request the battery answered), ``frames_in`` every frame heard, ``bad_frames`` those that
    could not be read, ``understood`` the requests read in the selected protocol (answered or not: RS485, where a
    request names the module it asks; None where the port cannot tell, CAN)."""

    port: str  # "CAN" or "RS485"
    protocol: str  # the selected protocol's name (and P-code)
    state: str  # "ok", "lost" (the keep-alive stopped: alarm), "timed out" (safe limits sent)
    frames_in: int = 0
    keepalives: int = 0
    bad_frames: int = 0
    understood: int | None = None


@dataclass(frozen=True, slots=True)
class TracePoint:
    """The bank at one moment: terminal voltage, current (positive charging), SOC, the CVL and CCL the battery
    asked for, and whether it asked the inverter for a full (or forced) charge."""

    t_s: float
    voltage_v: float
    current_a: float
    soc_pct: float
    cvl_v: float
    ccl_a: float
    charge_request: bool = False


@dataclass(frozen=True, slots=True)
class Observation:
    """The system at ``t_s`` (simulated seconds) as the rules see it. ``active`` are the BMS's trips in force (the
    trip, lockout or latch event of each row not released since), ``last_states`` each module's last state event
    and its last refused start; ``start_s`` when the observed run began (the age of "never")."""

    t_s: float
    modules: tuple[ModuleObservation, ...] = ()
    active: tuple[Event, ...] = ()
    last_states: tuple[Event, ...] = ()
    faults: tuple[SystemFault, ...] = ()
    inverter_links: tuple[InverterLinkObservation, ...] = ()
    trace: tuple[TracePoint, ...] = ()
    start_s: float = 0.0

    def module(self, module_id: int) -> ModuleObservation | None:
        """The first module with DIP ID ``module_id``."""
        for m in self.modules:
            if m.module_id == module_id:
                return m
        return None


_ON = ("trip", "lockout", "latch")


class ProtectionLedger:
    """The event log folded into what holds now: fed events in log order (:meth:`feed` only the new ones)."""

    def __init__(self) -> None:
        self._active: dict[tuple[int, str], Event] = {}
        self._states: dict[tuple[int, str], Event] = {}

    def feed(self, events: Iterable[Event]) -> None:
        """Fold ``events`` (newer than any fed before) in."""
        for e in events:
            if e.kind in _ON:
                first = self._active.get((e.module_id, e.key))
                # the first trip dates the condition; a lockout or latch is kept as the stronger record
                if first is None or e.kind != "trip":
                    self._active[(e.module_id, e.key)] = e
            elif e.kind == "release":
                self._active.pop((e.module_id, e.key), None)
            elif e.kind == "state":
                self._states[(e.module_id, "state")] = e
                self._states.pop((e.module_id, "refused"), None)
                if "RESET" in e.message or ": shutdown -> " in e.message or ": sleep -> " in e.message:
                    self._clear_module(e.module_id)  # a (re)start clears what is not latched
            elif e.key == "state.refused":
                self._states[(e.module_id, "refused")] = e

    def _clear_module(self, module_id: int) -> None:
        for key in [k for k in self._active if k[0] == module_id and self._active[k].kind != "latch"]:
            del self._active[key]

    def active(self) -> tuple[Event, ...]:
        """The trips in force, oldest first."""
        return tuple(sorted(self._active.values(), key=lambda e: e.t_s))

    def last_states(self) -> tuple[Event, ...]:
        """Each module's last state event, and its last refused start if none succeeded since."""
        return tuple(sorted(self._states.values(), key=lambda e: e.t_s))
