"""Modules with their BMS on one bus bar, stepped one second at a time: the reference closed loop.

Per step: the hardware commanded by the BMS (MOSFETs, balancing resistors, supply current) is applied to the twin;
the twin advances one step under the inverter's request within the bank limits; the sensors read the twin; the BMS
of every module decides. The inverter sees the limits the BMS computed at the previous step, as over a real link.

Only the reference: ``ml314 simulate`` and ``ml314 run`` use the compiled loop (``closed_loop.py``,
``compiled_system.py``), which ``tests/system/test_compiled_system.py`` checks against this one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml314.bms.bms import Bms, BmsOutputs, BmsReadings, Buttons
from ml314.bms.parameters import BmsParameters
from ml314.domain.limits import ChargeLimits
from ml314.system.aggregation import bank_limits
from ml314.twin import kernel as k
from ml314.twin.bank import Bank
from ml314.twin.frontpanel import BMS_SUPPLY_DRAW_A
from ml314.twin.module import ModuleHardware, installed_bank_hardware
from ml314.twin.sensors import SensorArrays, SensorBank, SensorSpec


@dataclass(frozen=True, slots=True)
class StepResult:
    """What happened in one step, for tests and surfaces."""

    t_s: float
    bus_voltage_v: float
    bus_current_a: float
    limits: ChargeLimits
    readings: SensorArrays
    outputs: BmsOutputs


class ReferenceBankSystem:
    """A bank of modules, each with its BMS, in closed loop."""

    def __init__(
        self,
        bank: Bank,
        params: BmsParameters,
        *,
        sensor_spec: SensorSpec | None = None,
        seed: int = 1,
        estimator: str | None = None,
        initial_soc_estimate: float | None = None,
        initial_soc_uncertainty: float = 0.2,
        powered: bool = True,
    ) -> None:
        self.bank = bank
        n = bank.n_modules
        self.hardware: list[ModuleHardware] = installed_bank_hardware(n)
        self.module_ids = tuple(h.panel.dip_latched_id or 0 for h in self.hardware)
        self.sensors = SensorBank(sensor_spec or SensorSpec(), n, seed)
        name = estimator or params.soc.estimator
        # the BMS never starts from the twin's truth: from an estimate given (a stored state) with its bound, or,
        # with none, from the OCV of its first reading
        self.bms = Bms(
            params,
            self.module_ids,
            estimator=name,
            initial_soc=initial_soc_estimate,
            initial_uncertainty=initial_soc_uncertainty,
        )
        self.t_s = 0.0
        self._rows = np.zeros((2, k.ROW_BANK_COLUMNS + n * k.ROW_MODULE_COLUMNS))
        self._inputs = np.zeros((k.IN_ROWS, 1))
        self._stops = np.full(k.ST_ROWS, np.nan)
        self._home = np.zeros(k.HP_ROWS)
        self.limits = ChargeLimits(cvl_v=0.0, dvl_v=-1.0, ccl_a=0.0, dcl_a=0.0)
        self._pending: list[Buttons] = [Buttons() for _ in range(n)]
        for h in self.hardware:
            h.panel.mosfets.off()
            h.power_state = "off"
        if powered:
            self.press(range(n), power=True)
            self.step(0.0)

    def press(
        self, modules: range | list[int], *, power: bool = False, long: bool = False, reset: bool = False
    ) -> None:
        """Queue button presses for the next step."""
        for m in modules:
            b = self._pending[m]
            self._pending[m] = Buttons(
                power_pressed=b.power_pressed or power,
                power_long_pressed=b.power_long_pressed or long,
                reset_pressed=b.reset_pressed or reset,
            )

    def _apply(self, out: BmsOutputs | None) -> None:
        for m, h in enumerate(self.hardware):
            if out is not None:
                if out.read_dip[m]:
                    h.panel.reset()  # the BMS (re)started: the DIP switches are read now (manual 6.3)
                h.panel.mosfets.command(
                    charge_on=bool(out.charge_fet_on[m]), discharge_on=bool(out.discharge_fet_on[m])
                )
                h.power_state = out.power_state[m]  # type: ignore[assignment]
                h.balancing = out.balancing[m]
            h.apply(self.bank, m)

    def step(
        self,
        request: float,
        *,
        mode: int = k.MODE_CURRENT,
        ambient_c: float = 25.0,
        dt_s: float = 1.0,
        obey_limits: bool = True,
    ) -> StepResult:
        """One step: ``request`` is a bus current (MODE_CURRENT) or DC power (MODE_POWER), positive charging.

        ``obey_limits`` False models an inverter that ignores CVL/CCL/DCL (the BMS must then protect by itself)."""
        self._apply(self.bms.outputs)
        self._inputs[k.IN_REQUEST, 0] = request
        self._inputs[k.IN_AMBIENT_C, 0] = ambient_c
        lim = self.limits
        row = np.array([lim.cvl_v, lim.dvl_v, lim.ccl_a, lim.dcl_a]) if obey_limits else np.array([1e6, -1e6, 1e6, 1e6])
        self.bank.run(
            1,
            mode=mode,
            inputs=self._inputs,
            limits=row,
            home=self._home,
            stops=self._stops,
            sample_every=10**9,
            rows=self._rows,
        )
        self.t_s += dt_s
        b = self.bank
        readings = self.sensors.read_arrays(
            self.t_s,
            dt_s,
            cell_voltage_v=b.cell_state[k.CS_VOLTAGE_V],
            terminal_voltage_v=b.mod_state[k.MS_VOLTAGE_V],
            current_a=b.mod_state[k.MS_CURRENT_A],
            cell_temperature_c=b.cell_state[k.CS_TEMP_C],
            mosfet_temperature_c=b.mod_state[k.MS_MOSFET_C],
            board_temperature_c=b.mod_state[k.MS_BOARD_C],
        )
        out = self.bms.step(
            BmsReadings(
                cell_voltage_v=np.asarray(readings.cell_voltage_v),
                pack_voltage_v=np.asarray(readings.pack_voltage_v),
                current_a=np.asarray(readings.current_a),
                ntc_c=np.asarray(readings.cell_temperature_c),
                mosfet_c=np.asarray(readings.mosfet_temperature_c),
                board_c=np.asarray(readings.board_temperature_c),
            ),
            self.t_s,
            dt_s,
            self._pending,
        )
        self._pending = [Buttons() for _ in range(b.n_modules)]
        online = out.charge_fet_on | out.discharge_fet_on
        self.limits = bank_limits(out.cvl_v, out.dvl_v, out.ccl_a, out.dcl_a, online)
        return StepResult(
            self.t_s,
            float(b.mod_state[k.MS_VOLTAGE_V].max()),
            float(b.mod_state[k.MS_CURRENT_A].sum()),
            self.limits,
            readings,
            out,
        )

    @staticmethod
    def supply_current_a(state: str) -> float:
        """What the BMS draws in a power state (for reports)."""
        return float(BMS_SUPPLY_DRAW_A[state])  # type: ignore[index]
