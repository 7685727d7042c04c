"""A bank of modules joined by the bank link: the twin's modules, their DIP switches, their endpoints, the master.

Built from the installed wiring (DIP IDs in daisy-chain order, termination switches). The commissioning check
(``system/addressing.py``) names wiring faults at start; at run time the master sees only what the link shows it
(silence, garbled answers, what modules say about themselves). A module whose switches give no valid ID never
joins (it keeps itself off the bus and shows the communication failure); a bank without a master presents nothing.

``step(now_s)`` runs the master's transactions for the link time up to ``now_s`` on the in-process bus and returns
the bank the master presents. ``ml314 run`` replaces the in-process bus with a real serial link.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from ml314.domain.battery_status import AlarmKind, BankStatus, ModuleIdentity, ModuleStatus
from ml314.domain.faults import SystemFault
from ml314.system import bank_link as link
from ml314.system.addressing import (
    BankWiring,
    ChainModule,
    FaultKind,
    WiringReport,
    check_wiring,
    wiring_from_ids,
)
from ml314.system.bank_bus import ModuleEndpoint, SimulatedBus
from ml314.system.bank_master import BankMaster, MasterParams
from ml314.system.compiled_system import CompiledBankSystem
from ml314.system.status import StatusBuilder
from ml314.twin.frontpanel import DipSwitches

__all__ = ["LinkOptions", "LinkedBank", "default_wiring"]

#: frame error rate per termination fault at 115200 baud (reflections); scaled down with the baud rate
TERMINATION_ERROR_RATE = 0.02


@dataclass(frozen=True, slots=True)
class LinkOptions:
    baud: int = link.DEFAULT_BAUD
    seed: int = 1
    watchdog_s: float = 10.0
    master: MasterParams | None = None


def default_wiring(n_modules: int) -> BankWiring:
    """IDs 1..n in chain order, termination on at both ends: a bank installed as the manual says."""
    return wiring_from_ids(list(range(1, n_modules + 1)))


class LinkedBank:
    """The twin's bank with every module on the bank link and the master presenting the bank."""

    def __init__(
        self,
        system: CompiledBankSystem,
        builder: StatusBuilder,
        wiring: BankWiring,
        options: LinkOptions | None = None,
        identities: tuple[ModuleIdentity, ...] | None = None,
        *,
        design_capacity_ah: tuple[float, ...] | None = None,
        status_of: Callable[[int], ModuleStatus] | None = None,
        isolate: Callable[[int, bool], None] | None = None,
    ) -> None:
        """``design_capacity_ah`` is each module's rating as it states it (default: its BMS's capacity).
        ``status_of`` and ``isolate`` replace direct access to the twin (``ml314 run``: a snapshot and a queue,
        since the link runs on other threads than the engine)."""
        if len(wiring.modules) != system.n_modules:
            raise ValueError(f"wiring names {len(wiring.modules)} modules, the bank has {system.n_modules}")
        opts = options or LinkOptions()
        self.system = system
        self.builder = builder
        self.wiring = wiring
        self.report: WiringReport = check_wiring(wiring)
        self._cache: dict[int, tuple[float, ModuleStatus]] = {}
        self.status_of: Callable[[int], ModuleStatus] = status_of or self._module_status
        self.isolate: Callable[[int, bool], None] = isolate or system.isolate
        self.options = opts
        rated = design_capacity_ah or tuple(float(c) for c in system.bms.counters.capacity_ah)
        self.identities = identities or tuple(
            ModuleIdentity(
                module_id=cm.module_id if cm.id_valid else 0,
                serial=builder.serials[i],
                design_capacity_ah=rated[i],
                termination_on=cm.termination_on,
            )
            for i, cm in enumerate(wiring.modules)
        )
        master = self.report.master
        self.master_index = None if master is None else master.index
        self.endpoints = [
            ModuleEndpoint(
                i,
                self.identities[i],
                status=lambda i=i: self.status_of(i),  # type: ignore[misc]
                isolate=lambda on, i=i: self.isolate(i, on),  # type: ignore[misc]
                alive=lambda i=i: bool(system.running[i] > 0.5),  # type: ignore[misc]
                is_master=i == self.master_index,
                watchdog_s=opts.watchdog_s,
            )
            for i in range(system.n_modules)
        ]
        termination_faults = len(self.report.of_kind(FaultKind.TERMINATION_MISSING)) + len(
            self.report.of_kind(FaultKind.TERMINATION_EXTRA)
        )
        rate = TERMINATION_ERROR_RATE * termination_faults * min(1.0, opts.baud / 115_200)
        self.bus = SimulatedBus(self.endpoints, opts.baud, error_rate=rate, seed=opts.seed)
        self.master: BankMaster | None = None
        self._pending_dips: dict[int, DipSwitches] = {}
        self._make_master()

    def _make_master(self) -> None:
        """The master by the rule of ``check_wiring`` (the lowest valid unique ID), with a fresh discovery scan."""
        self.master = None
        if self.master_index is not None:
            mi = self.master_index
            self.master = BankMaster(
                self.identities[mi].module_id,
                self.identities[mi],
                own=lambda: self.status_of(mi),
                params=self.options.master or MasterParams(baud=self.options.baud),
            )

    def set_switches(self, index: int, dip: DipSwitches) -> None:
        """The installer moves module ``index``'s DIP switches: nothing changes until its RESET (manual 6.3)."""
        self._pending_dips[index] = dip

    def press_reset(self, index: int) -> None:
        """RESET on module ``index``: its BMS restarts and reads its switches again (manual 6.3 note 2).

        The module leaves the bus until the master releases it again. A module that now has another ID is found by
        the master's probes under the new one; its old ID stays missing (an alarm) until the master itself is reset,
        which restarts the master with a new discovery scan (and a new master if the rule now picks another module).
        """
        self.system.press([index], reset=True)
        dip = self._pending_dips.pop(index, None)
        if dip is not None:
            modules = list(self.wiring.modules)
            modules[index] = ChainModule.from_dip(dip, powered=modules[index].powered)
            self.wiring = BankWiring(tuple(modules))
            self.report = check_wiring(self.wiring)
            cm = modules[index]
            identity = replace(
                self.identities[index],
                module_id=cm.module_id if cm.id_valid else 0,
                termination_on=cm.termination_on,
            )
            self.identities = (*self.identities[:index], identity, *self.identities[index + 1 :])
            self.endpoints[index].readdress(identity)
            self.bus.readdress()
        new_master = self.report.master
        new_index = None if new_master is None else new_master.index
        if index == self.master_index or new_index != self.master_index:
            for e in self.endpoints:
                e.is_master = e.index == new_index
                if not e.is_master:
                    e.released = False  # a new master releases every module again
            self.master_index = new_index
            self._make_master()
        ep = self.endpoints[index]
        ep.released = ep.is_master  # a restarted module waits for its master's word again

    def _module_status(self, i: int) -> ModuleStatus:
        """Module ``i``'s status, read once per simulated second (the twin moves in 1 s steps)."""
        t = self.system.t_s
        cached = self._cache.get(i)
        if cached is not None and cached[0] == t:
            return cached[1]
        status = self.builder.module_status(i)
        self._cache[i] = (t, status)
        return status

    def fault_records(self) -> list[SystemFault]:
        """The commissioning faults of the wiring and what the master sees now (manual 12.2 #1), as records."""
        out = list(self.report.records())
        if self.master is not None:
            out += self.master.fault_records()
        return out

    def caution_records(self) -> list[SystemFault]:
        """Caution 13.1 (5) for each module that differs from the master, as records."""
        return self.master.mix_cautions() if self.master is not None else []

    def faults(self) -> list[str]:
        """The details of :meth:`fault_records`, one line each."""
        return [f.details for f in self.fault_records()]

    def warnings(self) -> list[str]:
        """The details of :meth:`caution_records`, one line each."""
        return [f.details for f in self.caution_records()]

    def step(self, now_s: float) -> BankStatus | None:
        """The master's transactions up to link time ``now_s``; the bank it presents (None: no master)."""
        self.builder.refresh()
        for e in self.endpoints:
            e.watch(now_s)
        if self.master is None:
            return None
        start = max(self.bus.clock_s, now_s - 1.0)
        self.bus.clock_s = start
        self.bus.clock_s = self.master.run_until(self.bus.transact, start, now_s)
        extra = frozenset({AlarmKind.INTERNAL_COMMUNICATION}) if self.report.faults else frozenset()
        return self.master.bank_status(now_s, extra)
