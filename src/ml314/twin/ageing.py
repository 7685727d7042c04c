"""Calendar and cycle ageing of the cells: capacity fade and resistance growth.

Capacity fade is the sum of a calendar part that grows with the square root of time and a cycle part linear in
equivalent full cycles (EFC, one EFC = the cell's capacity charged and discharged once), both accelerated by
temperature (Arrhenius) and the calendar part by high SOC. This is the shape of the BLAST-Lite LFP laws
(``shared/reference/simulation.md`` 4.2) reduced to two parameters, calibrated so 8000 cycles at 25 degC leave
70 % of the capacity (EVE MB31 rating, ``bms.md`` 3.2). The square-root law is integrated incrementally,
``dq = (k S)^2 / (2 q) dt``, so it stays exact for a varying stress ``S``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml314.twin.params import CellParameters, FloatArray

_GAS_CONSTANT = 8.314462618
_KELVIN = 273.15
_SECONDS_PER_DAY = 86400.0
# One day of calendar age at start, so the square-root law has a finite slope.
_INITIAL_DAYS = 1.0


@dataclass(frozen=True)
class AgeingState:
    """Fade fractions per cell and the throughput already counted."""

    calendar_fade: FloatArray
    cycle_fade: FloatArray
    counted_abs_charge_as: FloatArray

    @property
    def fade(self) -> FloatArray:
        """Total capacity fade (0 = new, 0.3 = end of life at 70 %)."""
        return np.asarray(self.calendar_fade + self.cycle_fade)

    @staticmethod
    def fresh(shape: tuple[int, ...]) -> AgeingState:
        """New cells."""
        return AgeingState(np.zeros(shape), np.zeros(shape), np.zeros(shape))


def _arrhenius(temperature_c: FloatArray, ea_j_per_mol: float, ref_c: float = 25.0) -> FloatArray:
    t_k = np.asarray(temperature_c) + _KELVIN
    return np.asarray(np.exp(ea_j_per_mol / _GAS_CONSTANT * (1.0 / (ref_c + _KELVIN) - 1.0 / t_k)))


def age_cells(
    state: AgeingState,
    params: CellParameters,
    *,
    elapsed_s: float,
    abs_charge_as: FloatArray,
    capacity_as: FloatArray,
    soc: FloatArray,
    temperature_c: FloatArray,
) -> AgeingState:
    """Advance ageing by ``elapsed_s`` at the given SOC and temperature and the throughput since last call."""
    stress_t = _arrhenius(temperature_c, params.ageing_activation_energy_j_per_mol)
    soc_c = np.clip(soc, 0.0, 1.0)
    # 1.0 at or below 50 % SOC, soc_stress_at_full at 100 %.
    stress_soc = 1.0 + (params.soc_stress_at_full - 1.0) * np.clip((soc_c - 0.5) / 0.5, 0.0, 1.0)
    k_cal = params.calendar_fade_per_sqrt_day * stress_t * stress_soc
    floor = params.calendar_fade_per_sqrt_day * np.sqrt(_INITIAL_DAYS)
    q_cal = np.maximum(state.calendar_fade, floor)
    calendar = q_cal + k_cal**2 / (2.0 * q_cal) * (elapsed_s / _SECONDS_PER_DAY)
    new_throughput = np.maximum(abs_charge_as - state.counted_abs_charge_as, 0.0)
    efc = new_throughput / (2.0 * capacity_as)
    cycle = state.cycle_fade + params.cycle_fade_per_efc * stress_t * efc
    return AgeingState(np.asarray(calendar), np.asarray(cycle), np.array(abs_charge_as, copy=True))


def project_fade(state: AgeingState, params: CellParameters, *, elapsed_s: float, horizon_s: float) -> FloatArray:
    """Fade per cell after ``horizon_s`` of service if the ``elapsed_s`` already simulated repeated (same stress).

    The law of :func:`age_cells`, extrapolated: the calendar part's square grows linearly in time
    (``q^2 = q0^2 + (k S)^2 t``), so the effective stress is read from what the cells did so far; the cycle part is
    linear in throughput, hence in time at the same use. A horizon shorter than ``elapsed_s`` gives today's fade.
    A period shorter than a year carries its season into the projection (a summer month ages like every month).
    """
    if not elapsed_s > 0.0:
        return state.fade
    horizon_s = max(horizon_s, elapsed_s)
    floor = params.calendar_fade_per_sqrt_day * np.sqrt(_INITIAL_DAYS)
    q = np.maximum(state.calendar_fade, floor)
    rate_sq_per_day = np.maximum(q**2 - floor**2, 0.0) / (elapsed_s / _SECONDS_PER_DAY)
    calendar = np.sqrt(q**2 + rate_sq_per_day * (horizon_s - elapsed_s) / _SECONDS_PER_DAY)
    cycle = state.cycle_fade * (horizon_s / elapsed_s)
    return np.asarray(calendar + cycle)
