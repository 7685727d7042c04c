"""A lab experiment written as steps ("charge 0.5C to 3.65 V; rest 1 h; discharge 0.5C to 2.5 V") on the bank.

The tester is a bidirectional DC source on the bank's terminals. A current or power step runs until its voltage
limit (the highest cell while charging, the lowest while discharging, or the bank terminal voltage for limits of
5 V and more) or its duration; a "then hold until" phase keeps the terminal voltage reached and ends when the
current falls below the given value. A step with only a voltage limit is capped at three times the time the
bank's capacity would take at that current, and the summary says so.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ml314.domain.limits import ChargeLimits
from ml314.domain.spec import ML314
from ml314.domain.units import J_PER_WH, SECONDS_PER_HOUR
from ml314.errors import InputError
from ml314.runtime.simulation import SimulationContext, SimulationRequest
from ml314.twin import kernel as k
from ml314.twin.profiles import LabStep, parse_experiment

_OPEN_LIMITS = ChargeLimits(cvl_v=1.0e6, dvl_v=-1.0e6, ccl_a=1.0e6, dcl_a=1.0e6)
_REST_CAP_S = 30.0 * 86400.0


def _stops(step: LabStep) -> np.ndarray:
    stops = np.full(k.ST_ROWS, np.nan)
    if step.until_voltage_v is None:
        return stops
    charging = (step.current_a or step.power_w or 0.0) > 0.0
    if step.voltage_is_cell:
        stops[k.ST_CELL_V_ABOVE if charging else k.ST_CELL_V_BELOW] = step.until_voltage_v
    else:
        stops[k.ST_BUS_V_ABOVE if charging else k.ST_BUS_V_BELOW] = step.until_voltage_v
    return stops


def _cap_s(step: LabStep, capacity_ah: float) -> float:
    if step.duration_s is not None:
        return step.duration_s
    if step.mode == "rest":
        return _REST_CAP_S
    if step.current_a is not None:
        return 3.0 * capacity_ah * SECONDS_PER_HOUR / max(abs(step.current_a), 1e-3)
    power = abs(step.power_w or 0.0)
    return 3.0 * capacity_ah * ML314.nominal_voltage_v * SECONDS_PER_HOUR / max(power, 1e-3)


def _phase(
    ctx: SimulationContext, mode: int, setpoint: float, *, limits: ChargeLimits, stops: np.ndarray, cap_s: float
) -> tuple[float, str]:
    """Run one phase; return its duration and why it ended ("limit" or "time")."""
    dt = ctx.request.dt_s
    total = max(1, round(cap_s / dt))
    done = 0
    while done < total:
        n = min(ctx.chunk_steps, total - done)
        block = ctx.inputs(n)
        block[k.IN_REQUEST] = setpoint
        block[k.IN_AMBIENT_C] = ctx.request.ambient_c if ctx.request.ambient_c is not None else 25.0
        ran = ctx.run(n, mode, block, limits, stops=stops)
        done += ran
        if ran < n:
            return done * dt, "limit"
    return done * dt, "time"


class LabScenario:
    """A tester running an experiment written as steps."""

    def prepare(self, request: SimulationRequest) -> tuple[LabStep, ...]:
        """Parse the experiment text."""
        if not request.experiment:
            raise InputError('--scenario lab needs --experiment "charge 0.5C to 3.65 V; rest 1 h; ..."')
        return parse_experiment(request.experiment, capacity_ah=ML314.capacity_ah * request.modules)

    def run(self, ctx: SimulationContext, plan: tuple[LabStep, ...]) -> None:
        """Run the steps."""
        run_lab(ctx, plan)


def run_lab(ctx: SimulationContext, steps: tuple[LabStep, ...]) -> None:
    """Run the steps one after another."""
    capacity_ah = ML314.capacity_ah * ctx.request.modules
    results: list[dict[str, Any]] = []
    for number, step in enumerate(steps, start=1):
        acc0 = ctx.bank.acc.copy()
        t0 = ctx.t_s
        cap = _cap_s(step, capacity_ah)
        if step.mode == "rest":
            duration, why = _phase(
                ctx, k.MODE_CURRENT, 0.0, limits=_OPEN_LIMITS, stops=np.full(k.ST_ROWS, np.nan), cap_s=cap
            )
        else:
            mode = k.MODE_CURRENT if step.mode == "current" else k.MODE_POWER
            setpoint = step.current_a if step.current_a is not None else step.power_w
            assert setpoint is not None
            duration, why = _phase(ctx, mode, setpoint, limits=_OPEN_LIMITS, stops=_stops(step), cap_s=cap)
            if why == "limit" and step.hold_voltage_until_current_a is not None:
                v_hold = float(ctx.bank.mod_state[k.MS_VOLTAGE_V].max())
                held = (
                    ChargeLimits(v_hold, -1.0e6, 1.0e6, 1.0e6)
                    if setpoint > 0
                    else ChargeLimits(1.0e6, v_hold, 1.0e6, 1.0e6)
                )
                stops = np.full(k.ST_ROWS, np.nan)
                stops[k.ST_CURRENT_BELOW_A] = abs(step.hold_voltage_until_current_a)
                hold_cap = step.duration_s - duration if step.duration_s is not None else 10.0 * 3600.0
                extra, why = _phase(
                    ctx, mode, setpoint, limits=held, stops=stops, cap_s=max(hold_cap, ctx.request.dt_s)
                )
                duration += extra
                why = "taper" if why == "limit" else why
        if why == "time" and step.duration_s is None and step.mode != "rest":
            ctx.notes.append(f"step {number} {step.text!r} reached its time cap before its limit")
        d = ctx.bank.acc - acc0
        results.append(
            {
                "step": number,
                "text": step.text,
                "start_s": t0,
                "duration_s": duration,
                "ended_by": why,
                "charged_ah": d[k.AC_CHARGE_AS] / SECONDS_PER_HOUR,
                "discharged_ah": d[k.AC_DISCHARGE_AS] / SECONDS_PER_HOUR,
                "charged_wh": d[k.AC_BATTERY_IN_J] / J_PER_WH,
                "discharged_wh": d[k.AC_BATTERY_OUT_J] / J_PER_WH,
                "end_cell_min_v": float(ctx.bank.cell_state[k.CS_VOLTAGE_V].min()),
                "end_cell_max_v": float(ctx.bank.cell_state[k.CS_VOLTAGE_V].max()),
            }
        )
        if ctx.progress is not None:
            ctx.progress(number / len(steps), f"step {number}/{len(steps)}")
    ctx.extra["steps"] = results
    if not math.isfinite(ctx.t_s):
        raise InputError("experiment produced no time")
