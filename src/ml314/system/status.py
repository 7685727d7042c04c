"""The bank as its master presents it to the inverter: a :class:`BankStatus` built from the BMS's own view.

Only what the BMS knows goes in (sensor readings, its SOC/SOH estimates, its limits, its protection table),
never the twin's truth. The bank's limits are the ones the aggregation computed (``system/aggregation.py``,
mirrored in the compiled loop). Protection rows map to the protocols' alarm categories through one table.
"""

from __future__ import annotations

import numpy as np

from ml314.bms.events import C_CHARGE_WH, C_CYCLES, C_DISCHARGE_WH
from ml314.bms.limits import (
    OUT_CCL_A,
    OUT_CHARGE_ENABLE,
    OUT_CVL_V,
    OUT_DCL_A,
    OUT_DISCHARGE_ENABLE,
    OUT_DVL_V,
    OUT_FORCE_CHARGE,
    OUT_FULL_CHARGE_REQUEST,
)
from ml314.bms.parameters import Level
from ml314.bms.protection import S_ACTIVE
from ml314.bms.soc.common import S_SOC
from ml314.bms.soh import SohEstimator
from ml314.domain.battery_status import AlarmKind, BankStatus, ModuleStatus
from ml314.domain.limits import ChargeLimits
from ml314.domain.spec import ML314
from ml314.system.closed_loop import BL_CCL, BL_CVL, BL_DCL, BL_DVL
from ml314.system.compiled_system import CompiledBankSystem

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


class StatusBuilder:
    """Builds the :class:`BankStatus` of a :class:`CompiledBankSystem` on demand.

    ``extra_alarms`` lets the runtime add what only it knows (the inverter link lost:
    :attr:`AlarmKind.INTERNAL_COMMUNICATION` is not it; see ``runtime``), per call.
    """

    def __init__(self, system: CompiledBankSystem, serials: tuple[str, ...] | None = None) -> None:
        self.system = system
        self._soh = SohEstimator(system.params, system.n_modules)
        self._rows = system.bms.protection.rows
        kinds = [ALARM_OF_ROW.get(r.name, AlarmKind.SYSTEM_ERROR) for r in self._rows]
        self._kind = kinds
        self._is_protection = [r.level == Level.PROTECTION for r in self._rows]
        n = system.n_modules
        self.serials = serials or tuple(f"ML314W08{i:08d}" for i in range(1, n + 1))

    def _alarm_sets(self, m: int) -> tuple[frozenset[AlarmKind], frozenset[AlarmKind]]:
        active = np.flatnonzero(self.system.bms.protection.state[m, :, S_ACTIVE] > 0.5)
        alarms = {self._kind[i] for i in active if not self._is_protection[i]}
        prots = {self._kind[i] for i in active if self._is_protection[i]}
        return frozenset(alarms), frozenset(prots)

    def build(self, *, extra_alarms: frozenset[AlarmKind] = frozenset()) -> BankStatus:
        s = self.system
        bms = s.bms
        n = s.n_modules
        cell_v, pack_v, current, ntc, mosfet, board = s.readings
        est = bms.estimator.state
        soc = np.clip(est[:, S_SOC], 0.0, 1.0)
        soh = np.clip(self._soh.update(est), 0.0, 1.0)
        out = bms.limiter.outputs
        design_ah = float(bms.counters.capacity_ah.mean()) if bms.counters.capacity_ah.size else ML314.capacity_ah
        full_ah = design_ah * soh
        modules = []
        all_alarms: set[AlarmKind] = set(extra_alarms)
        all_prots: set[AlarmKind] = set()
        for m in range(n):
            alarms, prots = self._alarm_sets(m)
            all_alarms |= alarms
            all_prots |= prots
            cvl = float(out[m, OUT_CVL_V])
            dvl = min(float(out[m, OUT_DVL_V]), cvl - 1e-3)
            modules.append(
                ModuleStatus(
                    address=m + 1,
                    voltage_v=float(pack_v[m]),
                    current_a=float(current[m]),
                    soc_pct=100.0 * float(soc[m]),
                    soh_pct=100.0 * float(soh[m]),
                    cell_voltages_v=tuple(float(x) for x in cell_v[m]),
                    temperatures_c=(float(board[m]), *(float(x) for x in ntc[m]), float(mosfet[m])),
                    remaining_capacity_ah=float(full_ah[m] * soc[m]),
                    full_capacity_ah=float(full_ah[m]),
                    design_capacity_ah=design_ah,
                    cycles=int(bms.counters.values[m, C_CYCLES]),
                    serial=self.serials[m],
                    charge_mosfet_on=bool(bms.charge_fet[m] > 0.5),
                    discharge_mosfet_on=bool(bms.discharge_fet[m] > 0.5),
                    limits=ChargeLimits(
                        cvl_v=cvl,
                        dvl_v=dvl,
                        ccl_a=max(0.0, float(out[m, OUT_CCL_A])),
                        dcl_a=max(0.0, float(out[m, OUT_DCL_A])),
                    ),
                    alarms=alarms,
                    protections=prots,
                    balancing=bool(bms.balancer.mask[m].any()),
                )
            )
        bl = s.bank_limits
        cvl = float(bl[BL_CVL])
        limits = ChargeLimits(
            cvl_v=cvl,
            dvl_v=min(float(bl[BL_DVL]), cvl - 1e-3),
            ccl_a=max(0.0, float(bl[BL_CCL])),
            dcl_a=max(0.0, float(bl[BL_DCL])),
        )
        flat_v = cell_v.reshape(-1)
        cell_t = ntc.reshape(-1)
        capacity_w = full_ah / max(float(full_ah.sum()), 1e-9)
        bank_soc = float((soc * capacity_w).sum()) if n else 0.0
        wh_in = float(bms.counters.values[:, C_CHARGE_WH].sum())
        wh_out = float(bms.counters.values[:, C_DISCHARGE_WH].sum())
        return BankStatus(
            t_s=s.t_s,
            voltage_v=float(np.mean(pack_v)),
            current_a=float(np.sum(current)),
            temperature_c=float(np.mean(ntc)),
            soc_pct=100.0 * bank_soc,
            soh_pct=100.0 * float(np.min(soh)),
            limits=limits,
            charge_enable=bool(out[:, OUT_CHARGE_ENABLE].max() > 0.5 and limits.ccl_a > 0.0),
            discharge_enable=bool(out[:, OUT_DISCHARGE_ENABLE].max() > 0.5 and limits.dcl_a > 0.0),
            force_charge_1=bool(out[:, OUT_FORCE_CHARGE].max() > 0.5),
            force_charge_2=False,
            full_charge_request=bool(out[:, OUT_FULL_CHARGE_REQUEST].max() > 0.5),
            cycles=int(bms.counters.values[:, C_CYCLES].max()),
            remaining_capacity_ah=float((full_ah * soc).sum()),
            full_capacity_ah=float(full_ah.sum()),
            installed_capacity_ah=design_ah * n,
            cell_voltage_max_v=float(flat_v.max()),
            cell_voltage_min_v=float(flat_v.min()),
            cell_voltage_max_id=int(flat_v.argmax()) + 1,
            cell_voltage_min_id=int(flat_v.argmin()) + 1,
            cell_temperature_max_c=float(cell_t.max()),
            cell_temperature_min_c=float(cell_t.min()),
            cell_temperature_max_id=int(cell_t.argmax()) + 1,
            cell_temperature_min_id=int(cell_t.argmin()) + 1,
            mosfet_temperature_c=float(np.max(mosfet)),
            board_temperature_c=float(np.max(board)),
            modules=tuple(modules),
            alarms=frozenset(all_alarms),
            protections=frozenset(all_prots),
            charged_energy_kwh=wh_in / 1000.0,
            discharged_energy_kwh=wh_out / 1000.0,
        )
