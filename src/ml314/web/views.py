"""The JSON bodies of the API, built from a :class:`~ml314.runtime.surface.LiveView` (snapshots through
:func:`~ml314.domain.snapshot_json.to_jsonable`, the one wire form) and cached per view: a hundred clients asking
for the bank in one second cost one serialisation.

Shapes (every snapshot is ``to_jsonable`` of its dataclass, so ``from_jsonable`` rebuilds it):

- bank: ``{"bank": BankStatus, "modules_total", "modules_online", "faults": [SystemFault], "links":
  [LinkHealthSnapshot], "peer": BatteryView | null, "protocols": {"can", "rs485"}, "t_s", "seq", "wall_s"}``
- module: ``{"module": ModuleStatus, "id", "index", "online", "link_state", "powered", "leds": {...}, "dip": [8 bools],
  "dip_pending": [8 bools] | null, "dip_id", "termination_on", "breaker_closed"}``
- live message (WebSocket): ``{"t_s", "seq", "wall_s", "bank": BankStatus without "modules", "modules_total",
  "modules_online", "faults", "modules": [module]}``; a module's ``cell_voltages_v`` is ``[]`` unless asked for.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import orjson

from ml314.bms.events import Event
from ml314.bms.leds import BURST_CYCLE_S, BURST_FLASHES, FLASH_ON_S, FLASH_PERIOD_S, Pattern
from ml314.domain.snapshot_json import to_jsonable
from ml314.runtime.surface import LiveView, ModulePanel
from ml314.twin.frontpanel import DipSwitches

__all__ = ["ViewCache", "bank_json", "event_json", "leds_json", "live_json", "module_json"]


def _pattern(pattern: Pattern, lit: bool) -> dict[str, Any]:
    """A LED's pattern with the timing a page needs to draw it between two views (manual 6.4 notes)."""
    period = FLASH_PERIOD_S.get(pattern)
    if pattern is Pattern.BURST_20:
        period = FLASH_PERIOD_S[Pattern.FLASH_1]
    flashing = period is not None
    return {
        "pattern": pattern.name,
        "lit": lit,
        "period_s": period,
        "on_s": FLASH_ON_S if flashing else None,
        "burst": BURST_FLASHES if pattern is Pattern.BURST_20 else None,
        "cycle_s": BURST_CYCLE_S if pattern is Pattern.BURST_20 else None,
    }


def leds_json(panel: ModulePanel) -> dict[str, Any]:
    """RUN, ALM and SOC1..4: the Table 6-4 row, each LED's pattern and whether it is lit at the view's time.
    Flashes are phased on the simulated clock (``t_s`` modulo the period); a 20-flash code from
    ``fault_started_s``."""
    row = panel.led_row
    return {
        "mode": row.mode.name,
        "status": row.status,
        "condition": row.condition,
        "source": row.source,
        "run": _pattern(row.run, panel.leds.run),
        "alm": _pattern(row.alm, panel.leds.alm),
        "soc_show": row.soc.name,
        "soc_fixed": list(row.soc_fixed),
        "soc": list(panel.leds.soc),
        "fault_code": panel.fault_code,
        "fault_started_s": panel.fault_started_s,
    }


def module_json(view: LiveView, index: int, *, cells: bool = True) -> dict[str, Any]:
    """One module: its own status, its panel, its switches (see the module docstring)."""
    panel = view.panels[index]
    module = to_jsonable(view.modules[index])
    assert isinstance(module, dict)
    if not cells:
        module["cell_voltages_v"] = []
    pending = panel.dip_pending
    return {
        "module": module,
        "id": panel.module_id,
        "index": panel.index,
        "online": panel.online,
        "link_state": panel.link_state,
        "powered": panel.powered,
        "leds": leds_json(panel),
        "dip": list(panel.dip),
        "dip_pending": None if pending is None else list(pending),
        "dip_id": DipSwitches(pending).module_id if pending is not None else DipSwitches(panel.dip).module_id,
        "termination_on": panel.termination_on,
        "breaker_closed": panel.breaker_closed,
    }


def bank_json(view: LiveView) -> dict[str, Any]:
    """The bank as the master presents it, with the counts, faults and links."""
    return {
        "bank": to_jsonable(view.bank),
        "modules_total": view.modules_total,
        "modules_online": view.modules_online,
        "faults": [to_jsonable(f) for f in view.faults],
        "links": [to_jsonable(h) for h in view.links],
        "peer": to_jsonable(view.peer),
        "protocols": {"can": view.can_protocol, "rs485": view.rs485_protocol},
        "t_s": view.t_s,
        "seq": view.seq,
        "wall_s": view.wall_s,
    }


def live_json(view: LiveView, *, cells: bool) -> dict[str, Any]:
    """The WebSocket message: the bank and every module's values (cells only when asked for)."""
    bank = to_jsonable(view.bank)
    assert isinstance(bank, dict)
    del bank["modules"]
    return {
        "t_s": view.t_s,
        "seq": view.seq,
        "wall_s": view.wall_s,
        "bank": bank,
        "modules_total": view.modules_total,
        "modules_online": view.modules_online,
        "faults": [to_jsonable(f) for f in view.faults],
        "modules": [module_json(view, i, cells=cells) for i in range(len(view.modules))],
    }


def event_json(event_id: int, event: Event, acknowledged: bool) -> dict[str, Any]:
    """An event of the log: ``to_jsonable(Event)`` with its id and whether it was acknowledged."""
    body = to_jsonable(event)
    assert isinstance(body, dict)
    return {"id": event_id, "acknowledged": acknowledged, **body}


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


class ViewCache:
    """JSON text of a view, built once per (view, key) whichever thread asks first."""

    def __init__(self) -> None:
        self._seq = -1
        self._texts: dict[str, str] = {}
        self._lock = threading.Lock()

    def text(self, view: LiveView, key: str, build: Callable[[LiveView], Any]) -> str:
        with self._lock:
            if view.seq != self._seq:
                if view.seq < self._seq:  # an older view than the cache holds: do not cache it
                    return _dumps(build(view))
                self._seq, self._texts = view.seq, {}
            text = self._texts.get(key)
            if text is None:
                text = self._texts[key] = _dumps(build(view))
            return text
