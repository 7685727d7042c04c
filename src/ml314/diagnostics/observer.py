"""The incremental side of an observation: the event ledger and the bank's trace, kept between two diagnoses.

:class:`Observer` is fed what a source exposes (the live run each few seconds, the recorded time series sample by
sample) and returns one :class:`Observation` at a time; it keeps only what the rules look back on (the trips in
force, each module's last state, the newest ``trace_window_s`` of the bank), so its memory is bounded.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable

from ml314.bms.events import Event
from ml314.diagnostics.observation import (
    InverterLinkObservation,
    ModuleObservation,
    Observation,
    ProtectionLedger,
    TracePoint,
)
from ml314.domain.battery_status import BankStatus, ModuleStatus
from ml314.domain.faults import SystemFault

__all__ = ["Observer", "module_observation", "trace_point"]


def module_observation(
    index: int,
    module_id: int,
    status: ModuleStatus,
    *,
    breaker_closed: bool | None = None,
    fault_code: int | None = None,
    online: bool | None = None,
    last_full_charge_s: float | None = None,
) -> ModuleObservation:
    """One module from its :class:`ModuleStatus` (as the BMS reports it) and what its panel shows."""
    cells = status.cell_voltages_v
    temps = status.cell_temperatures_c
    lo = min(range(len(cells)), key=cells.__getitem__) if cells else None
    hi = max(range(len(cells)), key=cells.__getitem__) if cells else None
    last = None if last_full_charge_s is None or math.isnan(last_full_charge_s) else last_full_charge_s
    return ModuleObservation(
        index=index,
        module_id=module_id,
        state=status.state,
        voltage_v=status.voltage_v,
        current_a=status.current_a,
        soc_pct=status.soc_pct,
        soh_pct=status.soh_pct,
        cell_min_v=None if lo is None else cells[lo],
        cell_min_index=None if lo is None else lo + 1,
        cell_max_v=None if hi is None else cells[hi],
        cell_max_index=None if hi is None else hi + 1,
        temp_min_c=min(temps) if temps else None,
        temp_max_c=max(temps) if temps else None,
        breaker_closed=breaker_closed,
        fault_code=fault_code,
        online=online,
        last_full_charge_s=last,
    )


def trace_point(status: BankStatus) -> TracePoint:
    """The bank of ``status`` as a trace point."""
    lim = status.limits
    request = status.full_charge_request or status.force_charge_1 or status.force_charge_2
    return TracePoint(status.t_s, status.voltage_v, status.current_a, status.soc_pct, lim.cvl_v, lim.ccl_a, request)


class Observer:
    """Keeps the ledger of the event log and the trace; :meth:`observe` makes the observation of now."""

    def __init__(self, start_s: float = 0.0, trace_window_s: float = 3.0 * 3600.0, trace_every_s: float = 10.0) -> None:
        self.start_s = start_s
        self.ledger = ProtectionLedger()
        self.trace_window_s = trace_window_s
        self.trace_every_s = trace_every_s
        self._trace: deque[TracePoint] = deque()

    def feed_events(self, events: Iterable[Event]) -> None:
        """Events newer than any fed before, in log order."""
        self.ledger.feed(events)

    def add_trace(self, point: TracePoint) -> None:
        """One bank sample (kept at most every ``trace_every_s``; older than the window dropped)."""
        trace = self._trace
        if trace and point.t_s - trace[-1].t_s < self.trace_every_s:
            return
        if trace and point.t_s < trace[-1].t_s:  # the clock went back (a restored state): start over
            trace.clear()
        trace.append(point)
        while trace and point.t_s - trace[0].t_s > self.trace_window_s:
            trace.popleft()

    def observe(
        self,
        t_s: float,
        modules: tuple[ModuleObservation, ...],
        *,
        faults: tuple[SystemFault, ...] = (),
        inverter_links: tuple[InverterLinkObservation, ...] = (),
    ) -> Observation:
        """The observation at ``t_s`` from the ledger and trace so far and what is given now."""
        return Observation(
            t_s=t_s,
            modules=modules,
            active=self.ledger.active(),
            last_states=self.ledger.last_states(),
            faults=faults,
            inverter_links=inverter_links,
            trace=tuple(self._trace),
            start_s=self.start_s,
        )
