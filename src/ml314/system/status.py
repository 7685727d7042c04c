"""The bank as its master presents it to the inverter: a :class:`BankStatus` built from the BMS's own view.

Only what the BMS knows goes in (sensor readings, its SOC/SOH estimates, its limits, its protection table),
never the twin's truth. The bank is one :func:`~ml314.system.bank_aggregate.aggregate` of its modules (the master's
rules: lowest CVL, current limits by the real current share). Protection rows map to the protocols' alarm
categories through one table.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ml314.bms.events import C_CHARGE_WH, C_CYCLES, C_DISCHARGE_WH
from ml314.bms.limits import (
    OUT_CCL_A,
    OUT_CVL_V,
    OUT_DCL_A,
    OUT_DVL_V,
    OUT_FORCE_CHARGE,
    OUT_FULL_CHARGE_REQUEST,
)
from ml314.bms.parameters import Level
from ml314.bms.protection import S_ACTIVE
from ml314.bms.soc.common import S_RESISTANCE_OHM, S_SOC, S_UNCERTAINTY
from ml314.bms.soh import O_SOH, SohEstimator
from ml314.domain.battery_status import AlarmKind, BankStatus, ModuleStatus
from ml314.domain.limits import ChargeLimits
from ml314.domain.spec import ML314
from ml314.system.bank_aggregate import aggregate
from ml314.system.compiled_system import CompiledBankSystem
from ml314.system.limit_hold import LimitHold

__all__ = ["ALARM_OF_ROW", "StatusBuilder"]

#: protection row name (bms/data/default.toml) -> the alarm category the protocols carry
ALARM_OF_ROW: dict[str, AlarmKind] = {
    "cell_overvoltage": AlarmKind.CELL_OVERVOLTAGE,
    "cell_undervoltage": AlarmKind.CELL_UNDERVOLTAGE,
    "deep_discharge": AlarmKind.CELL_UNDERVOLTAGE,
    "pack_overvoltage": AlarmKind.PACK_OVERVOLTAGE,
    "pack_undervoltage": AlarmKind.PACK_UNDERVOLTAGE,
    "charge_overcurrent": AlarmKind.CHARGE_OVERCURRENT,
    "discharge_overcurrent": AlarmKind.DISCHARGE_OVERCURRENT,
    "short_circuit": AlarmKind.SHORT_CIRCUIT,
    "charge_undertemperature": AlarmKind.CHARGE_UNDERTEMPERATURE,
    "charge_overtemperature": AlarmKind.CHARGE_OVERTEMPERATURE,
    "discharge_undertemperature": AlarmKind.DISCHARGE_UNDERTEMPERATURE,
    "discharge_overtemperature": AlarmKind.DISCHARGE_OVERTEMPERATURE,
    "mosfet_overtemperature": AlarmKind.MOSFET_OVERTEMPERATURE,
    "board_overtemperature": AlarmKind.BOARD_OVERTEMPERATURE,
    "cell_imbalance": AlarmKind.CELL_IMBALANCE,
    "temperature_sensor": AlarmKind.SENSOR_FAULT,
    "voltage_sensor": AlarmKind.SENSOR_FAULT,
    "current_sensor": AlarmKind.SENSOR_FAULT,
}

_CELLS = ML314.cells_in_series
_NONE: frozenset[AlarmKind] = frozenset()


class StatusBuilder:
    """Builds the :class:`BankStatus` of a :class:`CompiledBankSystem` on demand.

    ``extra_alarms`` lets the runtime add what only it knows (the inverter link lost:
    :attr:`AlarmKind.INTERNAL_COMMUNICATION` is not it; see ``runtime``), per call.
    """

    def __init__(
        self,
        system: CompiledBankSystem,
        serials: tuple[str, ...] | None = None,
        module_ids: tuple[int, ...] | None = None,
    ) -> None:
        self.system = system
        self._soh = SohEstimator(system.params, system.n_modules)
        self._rows = system.bms.protection.rows
        kinds = [ALARM_OF_ROW.get(r.name, AlarmKind.SYSTEM_ERROR) for r in self._rows]
        self._kind = kinds
        self._is_protection = [r.level == Level.PROTECTION for r in self._rows]
        n = system.n_modules
        self.module_ids = module_ids or tuple(range(1, n + 1))
        self.serials = serials or tuple(f"ML314W08{i:08d}" for i in range(1, n + 1))
        self._hold = LimitHold()  # the published CCL/DCL, steady against sensor noise

    def _alarm_sets(self, m: int) -> tuple[frozenset[AlarmKind], frozenset[AlarmKind]]:
        row = self.system.bms.protection.state[m, :, S_ACTIVE]
        if not row.any():
            return _NONE, _NONE
        active = np.flatnonzero(row > 0.5)
        alarms = {self._kind[i] for i in active if not self._is_protection[i]}
        prots = {self._kind[i] for i in active if self._is_protection[i]}
        return frozenset(alarms), frozenset(prots)

    def module_status(self, m: int) -> ModuleStatus:
        """Module ``m`` as its own BMS knows it: what it reports on the bank link."""
        s = self.system
        bms = s.bms
        cell_v, pack_v, current, ntc, mosfet, board = s.readings
        est = bms.estimator.state
        soc = min(1.0, max(0.0, float(est[m, S_SOC])))
        soh = min(1.0, max(0.0, float(self._soh.out[m, O_SOH])))
        out = bms.limiter.outputs
        design_ah = float(bms.counters.capacity_ah[m])
        full_ah = design_ah * soh
        alarms, prots = self._alarm_sets(m)
        cvl = float(out[m, OUT_CVL_V])
        resistance = float(est[m, S_RESISTANCE_OHM])
        return ModuleStatus(
            address=self.module_ids[m],
            voltage_v=float(pack_v[m]),
            current_a=float(current[m]),
            soc_pct=100.0 * soc,
            soh_pct=100.0 * soh,
            cell_voltages_v=tuple(cell_v[m].tolist()),
            temperatures_c=(float(board[m]), *ntc[m].tolist(), float(mosfet[m])),
            remaining_capacity_ah=full_ah * soc,
            full_capacity_ah=full_ah,
            design_capacity_ah=design_ah,
            cycles=int(bms.counters.values[m, C_CYCLES]),
            serial=self.serials[m],
            charge_mosfet_on=bool(bms.charge_fet[m] > 0.5),
            discharge_mosfet_on=bool(bms.discharge_fet[m] > 0.5),
            limits=ChargeLimits(
                cvl_v=cvl,
                dvl_v=min(float(out[m, OUT_DVL_V]), cvl - 1e-3),
                ccl_a=max(0.0, float(out[m, OUT_CCL_A])),
                dcl_a=max(0.0, float(out[m, OUT_DCL_A])),
            ),
            alarms=alarms,
            protections=prots,
            balancing=bool(bms.balancer.mask[m].any()),
            force_charge=bool(out[m, OUT_FORCE_CHARGE] > 0.5),
            full_charge_request=bool(out[m, OUT_FULL_CHARGE_REQUEST] > 0.5),
            state=bms.machines[m].state.state.name.lower(),
            resistance_mohm=1000.0 * resistance if math.isfinite(resistance) and resistance > 0 else 0.0,
            soc_bound_pct=100.0 * float(est[m, S_UNCERTAINTY]),
        )

    def refresh(self) -> None:
        """Recompute every module's SOH (once per second is enough; :meth:`module_status` reads the last)."""
        self._soh.update(self.system.bms.estimator.state)

    def modules(self) -> tuple[ModuleStatus, ...]:
        """Every module's own status (SOH refreshed once for all)."""
        self.refresh()
        return tuple(self.module_status(m) for m in range(self.system.n_modules))

    def build(
        self, *, extra_alarms: frozenset[AlarmKind] = frozenset(), modules: tuple[ModuleStatus, ...] | None = None
    ) -> BankStatus:
        """The bank as one: :func:`aggregate` over ``modules`` (default: every module, read directly)."""
        mods = self.modules() if modules is None else modules
        status = self._hold.apply(aggregate(mods, self.system.t_s, extra_alarms=extra_alarms))
        counters = self.system.bms.counters.values
        return replace(
            status,
            charged_energy_kwh=float(counters[:, C_CHARGE_WH].sum()) / 1000.0,
            discharged_energy_kwh=float(counters[:, C_DISCHARGE_WH].sum()) / 1000.0,
        )
