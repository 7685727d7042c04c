"""The surfaces' port on a battery ``ml314 monitor`` reads over its wire (the web app and ``ml314 lcd`` read it as
they read a running ``ml314 run``).

Views come from what was decoded (:meth:`MonitorSurface.publish`, called by the monitor's loop once a second).
Each module's panel says whether it answers (``online``, ``link_state`` ``online`` / ``offline`` / ``bank``),
and its LED row is the Table 6-4 row of what it reports (``system/monitored_bank.py``). The event log is what the
monitor saw happen: a module found, lost, back; an alarm raised or cleared; a protection tripped or released.

What an external battery does not offer over its wire answers :class:`ConflictError` (HTTP 409) with the code
``not_available`` and a sentence saying where to do it instead: the buttons, DIP switches and breaker are on the
modules themselves; the parameter set and the protocol selection are the battery's own (its LCD or its vendor's
tool). Nothing a surface asks can stop the monitor.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, NoReturn

from ml314.bms.events import Event, EventKind, EventLevel
from ml314.bms.leds import LED_ROW_BY_MODE, led_outputs
from ml314.bms.parameters import BmsParameters
from ml314.domain.battery_status import AlarmKind, BankStatus, ModuleStatus
from ml314.domain.faults import SystemFault, SystemFaultKind
from ml314.domain.leds import LedOutputs
from ml314.domain.link_health import LinkHealthSnapshot
from ml314.protocols.base import Transport
from ml314.protocols.registry import Entry
from ml314.runtime.surface import ConflictError, LiveView, ModulePanel, ProtocolChange, SurfacePort
from ml314.storage.settings_store import DEFAULT_SELECTION, ProtocolSelection
from ml314.system.monitored_bank import led_mode_of
from ml314.twin.frontpanel import DIP_SWITCH_COUNT, DipSwitches

__all__ = ["EVENTS_KEPT", "Heard", "MonitorSurface"]

#: what becomes an event when it changes: (name, ModuleStatus field, kind when set, kind when cleared, level when set)
_CHANGES: tuple[tuple[str, str, EventKind, EventKind, EventLevel], ...] = (
    ("alarm", "alarms", "alarm", "alarm", "warning"),
    ("protection", "protections", "trip", "release", "protection"),
)
#: the monitor's event log keeps this many, the oldest dropped first
EVENTS_KEPT = 10_000
_NOT_HERE = "not_available"


@dataclass(frozen=True, slots=True)
class Heard:
    """One module as the monitor heard it: its status, whether it answers, its link as a short state."""

    status: ModuleStatus
    online: bool
    link_state: str  # online, offline, or "bank" (the protocol carries the bank only)
    detail: str = ""  # the link in words (last seen, timeouts), said when it does not answer


def _refuse(what: str, where: str) -> NoReturn:
    raise ConflictError(f"{what}: not available on a monitored battery ({where})", code=_NOT_HERE)


class MonitorSurface(SurfacePort):
    """The port of ``ml314 monitor``; ``source`` names what it reads (``RS485 tcp://... pylon-rs485``),
    ``protocol`` the protocol it decodes."""

    def __init__(self, source: str, protocol: Entry) -> None:
        super().__init__()
        self.source = source
        self.protocol = protocol
        self._seq = 0
        self._t0 = time.monotonic()
        self._events: deque[Event] = deque(maxlen=EVENTS_KEPT)
        self._dropped = 0
        self._last: dict[int, Heard] = {}
        self._waiting = f"no battery has answered yet on {source}"

    def _not_ready(self) -> str:
        return self._waiting

    def clock(self) -> float:
        """Seconds since the monitor started: the views' ``t_s`` (what ``ml314 run`` calls simulated time)."""
        return time.monotonic() - self._t0

    def set_waiting(self, why: str) -> None:
        """What ``GET /api/bank`` says until the first view (503)."""
        self._waiting = why

    # ---------------------------------------------------------------------------------------------- the loop
    def publish(
        self,
        bank: BankStatus,
        modules: Sequence[Heard],
        links: tuple[LinkHealthSnapshot, ...],
        faults: Sequence[SystemFault],
        warn: Callable[[str], None],
    ) -> LiveView:
        """A new view of ``bank`` and its ``modules`` (chain order); the changes since the last become events."""
        t_s = self.clock()
        self._note_changes(t_s, modules)
        panels = tuple(self._panel(i, h, t_s) for i, h in enumerate(modules))
        lost = [
            SystemFault(
                SystemFaultKind.MODULE_LOST,
                f"module {h.status.address} does not answer" + (f" ({h.detail})" if h.detail else ""),
                h.status.address,
            )
            for h in modules
            if not h.online
        ]
        self._seq += 1
        can = self.protocol.name if self.protocol.transport is Transport.CAN else None
        view = LiveView(
            seq=self._seq,
            t_s=t_s,
            wall_s=time.time(),
            bank=bank,
            modules=tuple(h.status for h in modules),
            panels=panels,
            faults=tuple(sorted([*lost, *faults], key=lambda f: -f.severity)),
            links=links,
            events=tuple(self._events),
            first_event_id=self._dropped,
            peer=None,
            can_protocol=can,
            rs485_protocol=None if can is not None else self.protocol.name,
        )
        self._emit(view, warn)
        return view

    @staticmethod
    def _panel(index: int, heard: Heard, t_s: float) -> ModulePanel:
        m = heard.status
        alarmed = bool(m.alarms or m.protections)
        mode = led_mode_of(m.state, alarmed)
        soc = m.soc_pct / 100.0 if math.isfinite(m.soc_pct) else 0.0
        try:
            dip = DipSwitches.from_id(m.address)
        except ValueError:
            dip = DipSwitches((False,) * DIP_SWITCH_COUNT)
        return ModulePanel(
            index=index,
            module_id=m.address,
            online=heard.online,
            link_state=heard.link_state,
            powered=heard.online,
            led_row=LED_ROW_BY_MODE[mode],
            leds=led_outputs(mode, soc, t_s, None) if heard.online else LedOutputs(),
            fault_started_s=None,
            fault_code=None,
            dip=dip.positions,
            dip_pending=None,
            termination_on=False,
            breaker_closed=True,
        )

    def _log(self, event: Event) -> None:
        if len(self._events) == self._events.maxlen:
            self._dropped += 1
        self._events.append(event)

    def _note_changes(self, t_s: float, modules: Sequence[Heard]) -> None:
        for h in modules:
            mid = h.status.address
            old = self._last.get(mid)
            if old is None:
                self._log(Event(t_s, mid, "info", "monitor.found", message=f"module {mid} found on {self.source}"))
            elif old.online and not h.online:
                self._log(
                    Event(t_s, mid, "state", "monitor.lost", level="alarm", message=f"module {mid} stopped answering")
                )
            elif h.online and not old.online:
                self._log(Event(t_s, mid, "state", "monitor.back", message=f"module {mid} answers again"))
            before = old.status if old is not None else None
            for name, attr, on, off, level in _CHANGES:
                now_set: frozenset[AlarmKind] = getattr(h.status, attr)
                was: frozenset[AlarmKind] = getattr(before, attr) if before is not None else frozenset()
                for a in sorted(now_set - was, key=lambda k: k.value):
                    text = f"module {mid}: {name} {a.value.replace('_', ' ')}"
                    self._log(Event(t_s, mid, on, f"monitor.{a.value}", level=level, message=text))
                for a in sorted(was - now_set, key=lambda k: k.value):
                    text = f"module {mid}: {name} {a.value.replace('_', ' ')} cleared"
                    self._log(Event(t_s, mid, off, f"monitor.{a.value}", message=text))
            self._last[mid] = h

    # ---------------------------------------------------------------------------------------------- requests
    def press_reset(self, module_id: int) -> Future[dict[str, Any]]:
        self.view().index_of(module_id)
        _refuse("RESET", "press it on the module")

    def press_power(self, module_id: int, *, long: bool = False) -> Future[dict[str, Any]]:
        self.view().index_of(module_id)
        _refuse("the ON/OFF switch", "press it on the module")

    def set_dip(self, module_id: int, switches: tuple[bool, ...]) -> Future[dict[str, Any]]:
        self.view().index_of(module_id)
        _refuse("the DIP switches", "set them on the module and press its RESET")

    def set_breaker(self, module_id: int, closed: bool) -> Future[dict[str, Any]]:
        self.view().index_of(module_id)
        _refuse("the breaker", "switch it on the module")

    def protocols(self) -> ProtocolSelection:
        """The protocol read on this link beside the default of the other port (a monitor selects nothing)."""
        if self.protocol.transport is Transport.CAN:
            return ProtocolSelection(can=self.protocol, rs485=DEFAULT_SELECTION.rs485)
        return ProtocolSelection(can=DEFAULT_SELECTION.can, rs485=self.protocol)

    def set_protocols(self, pin: str | None, can: str | None, rs485: str | None) -> ProtocolChange:
        _refuse("selecting the battery's protocol", "on its own LCD or its vendor's tool")

    def parameters(self) -> tuple[BmsParameters, str, str]:
        _refuse(
            "the BMS parameter set",
            "the Pylon protocol reads a pack's system parameters only: GET /api/monitor shows them",
        )

    def install_parameters(self, pin: str | None, text: str) -> BmsParameters:
        _refuse("installing a parameter set", "the battery's own tool changes its parameters")
