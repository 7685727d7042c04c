"""The bank, its BMS and the home energy system, advanced second by second for ``ml314 run``.

The same engine as ``ml314 simulate`` (CompiledBankSystem with the home scenario's profiles and inverter); only
the clock differs. Each simulated second, the limits the home inverter obeys come from the inverter peer's decoded
view when a peer drives the bank (what it read off the wire), else from the BMS's own aggregation. After each
tick the master's :class:`BankStatus` is rebuilt and published as an immutable snapshot the links read.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import numpy as np

from ml314.bms.parameters import BmsParameters
from ml314.domain.battery_status import BankStatus, BatteryView, ModuleStatus
from ml314.runtime.scenarios.home import home_profiles
from ml314.runtime.simulation import SimulationRequest
from ml314.system import closed_loop as cl
from ml314.system.addressing import wiring_from_ids
from ml314.system.bank_master import MasterParams
from ml314.system.compiled_system import CompiledBankSystem
from ml314.system.linked_bank import LinkedBank, LinkOptions
from ml314.system.status import StatusBuilder
from ml314.twin import kernel as k
from ml314.twin.bank import Bank
from ml314.twin.home import HomeController
from ml314.twin.params import load_cell_parameters

__all__ = ["LiveBank"]

_PROFILE_DAYS = 7  # the home profiles repeat weekly in a long run
LIVE_RETRIES = 2  # tries after a timeout before the master counts a miss on the live bank link


class LiveBank:
    """A bank of ``request.modules`` modules in the home system; :meth:`tick` advances it."""

    def __init__(self, request: SimulationRequest, params: BmsParameters) -> None:
        self.request = request
        bank = Bank(
            request.modules,
            load_cell_parameters(),
            seed=request.seed,
            initial_soc=request.initial_soc,
            capacity_scale=request.capacity_scale,
        )
        self.system = CompiledBankSystem(bank, params, seed=request.seed + 3, estimator=request.estimator)
        self.builder = StatusBuilder(self.system, module_ids=request.module_ids)
        self.snapshot: tuple[ModuleStatus, ...] = self.builder.modules()
        self._isolations: deque[tuple[int, bool]] = deque()
        self.linked: LinkedBank | None = None
        self.bank_status: Callable[[float], BankStatus] | None = None  # the master's view, when a link runs
        if request.with_link:
            ids = request.module_ids or tuple(range(1, request.modules + 1))
            self.linked = LinkedBank(
                self.system,
                self.builder,
                wiring_from_ids(list(ids), request.termination),
                # on a real line a late answer (a busy host) is retried before it counts as a miss
                LinkOptions(
                    baud=request.link_baud,
                    seed=request.seed,
                    master=MasterParams(baud=request.link_baud, retries=LIVE_RETRIES),
                ),
                design_capacity_ah=request.module_capacity_ah,
                status_of=lambda i: self.snapshot[i],
                isolate=lambda i, on: self._isolations.append((i, on)),
            )
        self.controller = HomeController(request.inverter)
        plan_request = SimulationRequest(**{**request.__dict__, "days": float(_PROFILE_DAYS)})
        self._profiles = home_profiles(plan_request)
        self._period_s = _PROFILE_DAYS * 86400.0
        self._inputs = np.zeros((k.IN_ROWS, 1))
        self.peer_view: Callable[[], BatteryView | None] | None = None
        self.status: BankStatus = self.builder.build()
        self.last_bus_power_w = 0.0

    @property
    def t_s(self) -> float:
        return self.system.t_s

    def _fill_inputs(self) -> None:
        load, pv, grid, ambient = self._profiles
        t = self.t_s % self._period_s
        for row, profile in ((k.IN_AMBIENT_C, ambient), (k.IN_PV_W, pv), (k.IN_LOAD_W, load), (k.IN_GRID_UP, grid)):
            self._inputs[row, 0] = profile.resample(t, 1.0, 1)[0]

    def tick(self, n_steps: int = 1, link_time_s: float = 0.0) -> BankStatus:
        """Advance ``n_steps`` simulated seconds; return (and publish) the new status.

        With a bank link, the status is the master's (``bank_status`` at ``link_time_s``), and without a peer the
        home inverter obeys the master's limits."""
        while self._isolations:
            i, on = self._isolations.popleft()
            self.system.isolate(i, on)
        for _ in range(n_steps):
            view = self.peer_view() if self.peer_view is not None else None
            soc = view.soc_pct / 100.0 if view is not None and view.soc_pct is not None else self.status.soc_pct / 100
            # the battery's requests as the inverter knows them: decoded from the peer's frames, else the status
            if view is not None:
                full, force = bool(view.full_charge_request), bool(view.force_charge_1 or view.force_charge_2)
            else:
                full, force = self.status.full_charge_request, self.status.force_charge_1 or self.status.force_charge_2
            decision = self.controller.decide(soc, full_charge=full, force_charge=force)
            home = self.controller.kernel_parameters(decision)
            inverter = self.request.inverter
            if self.peer_view is not None:
                self.system.impose_limits(inverter.obeyed(None if view is None else view.limits()))
            elif self.bank_status is not None:
                self.system.impose_limits(inverter.obeyed(self.status.limits))
            elif self.linked is not None and self.linked.master is None:
                self.system.impose_limits(None)  # no master, no inverter communication: the inverter stops
            elif inverter.charge_voltage_v is not None:  # an inverter set to its own charge voltage (12.2 #4)
                self.system.impose_limits(inverter.obeyed(self.status.limits))
            self._fill_inputs()
            self.system.advance(1, k.MODE_HOME, self._inputs, home=home)
            self.last_bus_power_w = float(self.system.step_info[cl.SI_BUS_V] * self.system.step_info[cl.SI_BUS_A])
        self.snapshot = self.builder.modules()
        if self.bank_status is not None:
            self.status = self.bank_status(link_time_s)
        else:
            self.status = self.builder.build(modules=self.snapshot)
        return self.status

    def republish(self) -> None:
        """Rebuild the published snapshot and status from the system (after its state was restored)."""
        self.snapshot = self.builder.modules()
        if self.bank_status is None:  # with a bank link the status stays the master's: only modules it found
            self.status = self.builder.build(modules=self.snapshot)

    def close(self) -> None:
        self.system.close()
