"""A bank of 1..16 modules of 16 LFP cells each on one pair of bus bars, stepped by the compiled kernel.

The bank owns the true state (what a BMS never sees) as grouped numpy arrays. Cell-to-cell spread of capacity,
resistance, self-discharge and open-circuit voltage (each cell's OCV is the data-sheet curve plus its own offset
and tilt over SOC, plus ``ocv_batch_offset_v`` for the whole batch), and module-to-module spread of cable
resistance, are drawn once from the seed.

**True module SOC** (what accuracy is measured against): the charge the module can still deliver before its
emptiest cell reaches 0 %, over that plus the charge it can still take before its fullest cell reaches 100 %:
``min_c(soc_c Q_c) / (min_c(soc_c Q_c) + min_c((1 - soc_c) Q_c))``. With equal cells it is the cell SOC; with
spread it is the usable state of the series string, which is what a user can draw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ml314.domain.spec import ML314, ProductSpec
from ml314.domain.units import SECONDS_PER_HOUR
from ml314.twin import kernel as k
from ml314.twin.ageing import AgeingState, age_cells
from ml314.twin.params import CellParameters, FloatArray

_GAS_CONSTANT = 8.314462618
_SECONDS_PER_MONTH = 30.0 * 86400.0


@dataclass(frozen=True, slots=True)
class ModuleTruth:
    """The true state of one module at one instant (for reports and accuracy checks, never for the BMS)."""

    soc: float
    cell_soc: tuple[float, ...]
    cell_voltage_v: tuple[float, ...]
    cell_temperature_c: tuple[float, ...]
    terminal_voltage_v: float
    current_a: float
    enclosure_temperature_c: float
    mosfet_temperature_c: float
    board_temperature_c: float
    capacity_ah: float
    state_of_health: float


def module_soc(cell_soc: FloatArray, capacity_as: FloatArray) -> FloatArray:
    """True module SOC from cell SOCs and capacities, along the last axis (see the module docstring)."""
    q_dis = np.maximum(np.min(cell_soc * capacity_as, axis=-1), 0.0)
    q_chg = np.maximum(np.min((1.0 - cell_soc) * capacity_as, axis=-1), 0.0)
    total = q_dis + q_chg
    return np.asarray(np.where(total > 0.0, q_dis / np.where(total > 0.0, total, 1.0), 0.0))


class Bank:
    """N modules in parallel: true state, parameters with spread, and the step."""

    def __init__(
        self,
        n_modules: int,
        params: CellParameters,
        *,
        seed: int,
        initial_soc: float = 0.5,
        ambient_c: float = 25.0,
        spec: ProductSpec = ML314,
        capacity_scale: tuple[float, ...] | None = None,
        dt_s: float = 1.0,
        ocv_batch_offset_v: float = 0.0,
    ) -> None:
        if not 1 <= n_modules <= spec.max_modules_in_parallel:
            raise ValueError(f"modules must be 1..{spec.max_modules_in_parallel}, got {n_modules}")
        self.params = params
        self.spec = spec
        self.n_modules = n_modules
        self.n_cells = spec.cells_in_series
        self.dt_s = dt_s
        rng = np.random.default_rng(seed)
        shape = (n_modules, self.n_cells)
        scale = np.ones(n_modules) if capacity_scale is None else np.asarray(capacity_scale, dtype=float)
        if scale.shape != (n_modules,):
            raise ValueError("capacity_scale needs one factor per module")

        cap_ah = params.mean_capacity_ah * scale[:, None] * (1.0 + params.capacity_sigma * rng.standard_normal(shape))
        r_spread = 1.0 + params.resistance_sigma * rng.standard_normal(shape)
        sd_spread = rng.lognormal(-0.5 * params.self_discharge_sigma**2, params.self_discharge_sigma, shape)
        cable = params.cable_resistance_ohm * (1.0 + params.cable_resistance_sigma * rng.standard_normal(n_modules))
        ocv_offset = ocv_batch_offset_v + params.ocv_cell_offset_sigma_v * rng.standard_normal(shape)
        ocv_slope = params.ocv_cell_slope_sigma_v * rng.standard_normal(shape)

        self.cell_state = np.zeros((k.CS_ROWS, *shape))
        self.cell_state[k.CS_SOC] = initial_soc
        self.cell_state[k.CS_TEMP_C] = ambient_c
        self.cell_par = np.zeros((k.CP_ROWS, *shape))
        self.cell_work = np.zeros((k.CW_ROWS, *shape))
        self.mod_state = np.zeros((k.MS_ROWS, n_modules))
        self.mod_state[[k.MS_ENCLOSURE_C, k.MS_MOSFET_C, k.MS_BOARD_C]] = ambient_c
        self.cell_par[k.CP_OCV_OFFSET_V] = ocv_offset
        self.cell_par[k.CP_OCV_SLOPE_V] = ocv_slope
        self.mod_par = np.zeros((k.MP_ROWS, n_modules))
        self.mod_par[k.MP_MOSFET_OHM] = params.mosfet_resistance_ohm
        self.mod_par[k.MP_CABLE_OHM] = cable
        self.mod_par[k.MP_CHARGE_FET_ON] = 1.0
        self.mod_par[k.MP_DISCHARGE_FET_ON] = 1.0
        self.mod_par[k.MP_BREAKER_CLOSED] = 1.0

        self._fresh_capacity_as = cap_ah * SECONDS_PER_HOUR
        self._fresh_r = np.stack([params.r0_ohm * r_spread, params.r1_ohm * r_spread, params.r2_ohm * r_spread])
        self._self_discharge_a = (
            params.self_discharge_per_month * params.nominal_capacity_ah * SECONDS_PER_HOUR / _SECONDS_PER_MONTH
        ) * sd_spread
        self.ageing = AgeingState.fresh(shape)
        self._apply_health()

        self.sc = np.zeros(k.SC_ROWS)
        self.set_time_step(dt_s)
        self.sc[k.SC_GAMMA] = params.hysteresis_gamma
        self.sc[k.SC_COULOMBIC_EFF] = params.coulombic_efficiency
        self.sc[k.SC_CELL_HEAT_CAP] = params.heat_capacity_j_per_k
        self.sc[k.SC_CELL_TO_ENCLOSURE] = params.cell_to_enclosure_w_per_k
        self.sc[k.SC_EA_OVER_R] = params.activation_energy_j_per_mol / _GAS_CONSTANT
        self.sc[k.SC_T_REF_C] = params.reference_temperature_c
        self.sc[k.SC_SELF_DISCHARGE_DOUBLING_K] = params.self_discharge_doubling_k
        self.sc[k.SC_BALANCE_OHM] = params.balancing_resistance_ohm
        self.sc[k.SC_ENCLOSURE_HEAT_CAP] = params.enclosure_heat_capacity_j_per_k
        self.sc[k.SC_ENCLOSURE_TO_AMBIENT] = params.enclosure_to_ambient_w_per_k
        self.sc[k.SC_MOSFET_HEAT_CAP] = params.mosfet_heat_capacity_j_per_k
        self.sc[k.SC_MOSFET_TO_BOARD] = params.mosfet_to_board_w_per_k
        self.sc[k.SC_BOARD_HEAT_CAP] = params.board_heat_capacity_j_per_k
        self.sc[k.SC_BOARD_TO_ENCLOSURE] = params.board_to_enclosure_w_per_k

        t = params.tables
        self.ocv_tab = np.ascontiguousarray(t.ocv_v)
        self.hys_tab = np.ascontiguousarray(t.hysteresis_v)
        self.dudt_tab = np.ascontiguousarray(t.dudt_v_per_k)
        self.rfac_tab = np.ascontiguousarray(params.r_soc_factor_grid())
        self.acc = np.zeros(k.AC_ROWS)
        self._sums = np.zeros(k.SUM_ROWS)
        self.step_index = 0
        self._refresh()
        self._settle_voltage()

    # ----------------------------------------------------------------- configuration
    def set_time_step(self, dt_s: float) -> None:
        """Change the step; the exact RC factors follow."""
        if not dt_s > 0.0:
            raise ValueError("dt_s must be positive")
        self.dt_s = dt_s
        self.sc[k.SC_A1] = math.exp(-dt_s / self.params.tau1_s)
        self.sc[k.SC_A2] = math.exp(-dt_s / self.params.tau2_s)
        if hasattr(self, "rfac_tab"):
            self._refresh()

    def set_mosfets(self, module: int, charge_on: bool, discharge_on: bool) -> None:
        """Charge and discharge MOSFETs of one module, as the BMS commands them."""
        self.mod_par[k.MP_CHARGE_FET_ON, module] = float(charge_on)
        self.mod_par[k.MP_DISCHARGE_FET_ON, module] = float(discharge_on)

    def set_breaker(self, module: int, closed: bool) -> None:
        """The module's output breaker; open means no DC output (manual 12.2 #2)."""
        self.mod_par[k.MP_BREAKER_CLOSED, module] = float(closed)

    def set_balancing(self, module: int, cells_on: np.ndarray) -> None:
        """Switch the per-cell balancing resistors of one module (16 booleans)."""
        self.cell_par[k.CP_BALANCE_ON, module] = np.asarray(cells_on, dtype=float)

    def set_bms_supply(self, module: int, current_a: float) -> None:
        """Current the module's own BMS draws from its cell string."""
        self.mod_par[k.MP_BMS_SUPPLY_A, module] = current_a

    def set_cell_defect(
        self,
        module: int,
        cell: int,
        *,
        resistance_factor: float = 1.0,
        self_discharge_factor: float = 1.0,
        capacity_factor: float = 1.0,
    ) -> None:
        """Make one cell (0-based ``module``, ``cell``) weaker or leakier than its draw: its resistance, self-discharge
        current and capacity are multiplied by the factors (a weak or leaky cell to find in diagnostics)."""
        if not (resistance_factor > 0.0 and self_discharge_factor >= 0.0 and capacity_factor > 0.0):
            raise ValueError("defect factors must be positive")
        self._fresh_r[:, module, cell] *= resistance_factor
        self._self_discharge_a[module, cell] *= self_discharge_factor
        self._fresh_capacity_as[module, cell] *= capacity_factor
        self._apply_health()
        self._refresh()

    def set_cell_soc(self, soc: np.ndarray | float) -> None:
        """Set the SOC of every cell (broadcast), resetting hysteresis and RC state."""
        self.cell_state[k.CS_SOC] = soc
        self.cell_state[[k.CS_HYST_V, k.CS_V1_V, k.CS_V2_V]] = 0.0
        self._refresh()
        self._settle_voltage()

    # ----------------------------------------------------------------- physics
    def run(
        self,
        n_steps: int,
        *,
        mode: int,
        inputs: np.ndarray,
        limits: np.ndarray,
        home: np.ndarray,
        stops: np.ndarray,
        sample_every: int,
        rows: np.ndarray,
        refresh_every: int = 60,
    ) -> tuple[int, int]:
        """Advance up to ``n_steps`` steps; see :func:`ml314.twin.kernel.run_steps`."""
        done, n_rows = k.run_steps(
            n_steps,
            self.dt_s,
            self.step_index,
            mode,
            self.ocv_tab,
            self.hys_tab,
            self.dudt_tab,
            self.rfac_tab,
            self.cell_state,
            self.cell_par,
            self.cell_work,
            self.mod_state,
            self.mod_par,
            self.sc,
            inputs,
            limits,
            home,
            stops,
            refresh_every,
            sample_every,
            rows,
            self.acc,
            self._sums,
        )
        self.step_index += int(done)
        return int(done), int(n_rows)

    def age(self, elapsed_s: float) -> None:
        """Apply calendar and cycle ageing for the time since the last call (call every few minutes)."""
        self.ageing = age_cells(
            self.ageing,
            self.params,
            elapsed_s=elapsed_s,
            abs_charge_as=self.cell_state[k.CS_ABS_CHARGE_AS],
            capacity_as=self._fresh_capacity_as,
            soc=self.cell_state[k.CS_SOC],
            temperature_c=self.cell_state[k.CS_TEMP_C],
        )
        self._apply_health()

    def _apply_health(self) -> None:
        fade = self.ageing.fade
        self.cell_par[k.CP_INV_CHARGE_PER_AS] = 1.0 / (self._fresh_capacity_as * (1.0 - fade))
        growth = 1.0 + self.params.resistance_growth_per_fade * fade
        self.cell_par[k.CP_R0_OHM] = self._fresh_r[0] * growth
        self.cell_par[k.CP_R1_OHM] = self._fresh_r[1] * growth
        self.cell_par[k.CP_R2_OHM] = self._fresh_r[2] * growth
        self.cell_par[k.CP_SELF_DISCHARGE_A] = self._self_discharge_a

    def _refresh(self) -> None:
        k.refresh_resistance(
            self.cell_state,
            self.cell_par,
            self.cell_work,
            self.rfac_tab,
            self.hys_tab,
            self.dudt_tab,
            self.mod_par,
            self.sc,
        )

    def _settle_voltage(self) -> None:
        """Open-circuit cell voltages for the present state (before the first step)."""
        grid = np.linspace(0.0, 1.0, self.ocv_tab.size)
        soc = self.cell_state[k.CS_SOC]
        ocv = np.interp(soc, grid, self.ocv_tab) + self.cell_state[k.CS_HYST_V] + self.ocv_deviation_v(soc)
        self.cell_state[k.CS_VOLTAGE_V] = ocv
        self.mod_state[k.MS_VOLTAGE_V] = ocv.sum(axis=1)

    # ----------------------------------------------------------------- views
    def ocv_deviation_v(self, soc: FloatArray) -> FloatArray:
        """Each cell's own OCV minus the data-sheet curve at cell SOC ``soc`` (modules, cells), V."""
        cp = self.cell_par
        return np.asarray(cp[k.CP_OCV_OFFSET_V] + cp[k.CP_OCV_SLOPE_V] * (np.asarray(soc) - 0.5))

    @property
    def capacity_as(self) -> FloatArray:
        """Present capacity of every cell in ampere-seconds, shape (modules, cells)."""
        return np.asarray(1.0 / self.cell_par[k.CP_INV_CHARGE_PER_AS])

    @property
    def cell_soc(self) -> FloatArray:
        """True SOC of every cell, shape (modules, cells)."""
        return np.asarray(self.cell_state[k.CS_SOC])

    def module_socs(self) -> FloatArray:
        """True SOC of every module (see the module docstring)."""
        return module_soc(self.cell_state[k.CS_SOC], self.capacity_as)

    def bank_soc(self) -> float:
        """True bank SOC: capacity-weighted mean of the module SOCs."""
        cap = self.capacity_as.min(axis=1)
        return float(np.sum(self.module_socs() * cap) / np.sum(cap))

    def stored_energy_j(self) -> float:
        """Electrochemical energy stored above 0 % SOC: sum over cells of Q * integral of OCV(SOC) dSOC."""
        grid = np.linspace(0.0, 1.0, self.ocv_tab.size)
        cum = np.concatenate([[0.0], np.cumsum(0.5 * (self.ocv_tab[1:] + self.ocv_tab[:-1]) * np.diff(grid))])
        soc = self.cell_state[k.CS_SOC]
        return float(np.sum(np.interp(soc, grid, cum) * self.capacity_as))

    def truth(self, module: int) -> ModuleTruth:
        """The true state of one module."""
        cs = self.cell_state
        cap = self.capacity_as[module]
        fresh = self._fresh_capacity_as[module]
        return ModuleTruth(
            soc=float(module_soc(cs[k.CS_SOC, module], cap)),
            cell_soc=tuple(float(x) for x in cs[k.CS_SOC, module]),
            cell_voltage_v=tuple(float(x) for x in cs[k.CS_VOLTAGE_V, module]),
            cell_temperature_c=tuple(float(x) for x in cs[k.CS_TEMP_C, module]),
            terminal_voltage_v=float(self.mod_state[k.MS_VOLTAGE_V, module]),
            current_a=float(self.mod_state[k.MS_CURRENT_A, module]),
            enclosure_temperature_c=float(self.mod_state[k.MS_ENCLOSURE_C, module]),
            mosfet_temperature_c=float(self.mod_state[k.MS_MOSFET_C, module]),
            board_temperature_c=float(self.mod_state[k.MS_BOARD_C, module]),
            capacity_ah=float(cap.min() / SECONDS_PER_HOUR),
            state_of_health=float(np.min(cap / fresh)),
        )
