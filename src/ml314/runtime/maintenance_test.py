"""The shallow charge/discharge test of Table 12-3 run on a bank with its BMS in closed loop (the twin): the plan of
:mod:`ml314.diagnostics.shallow_test`, driven second by second, read as the PC software reads the bank
(:class:`~ml314.system.status.StatusBuilder`), judged by :func:`~ml314.diagnostics.shallow_test.evaluate`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml314.diagnostics.shallow_test import (
    ShallowReading,
    ShallowTestPlan,
    ShallowVerdict,
    evaluate,
    plan_shallow_test,
)
from ml314.domain.battery_status import BankStatus
from ml314.domain.units import SECONDS_PER_HOUR
from ml314.system.compiled_system import CompiledBankSystem
from ml314.system.status import StatusBuilder
from ml314.twin import kernel as k

__all__ = ["ShallowTestRun", "run_shallow_test"]

_CHUNK_S = 600


@dataclass(frozen=True)
class ShallowTestRun:
    """The plan, the readings, what was counted, the largest bank current and the verdict."""

    plan: ShallowTestPlan
    readings: tuple[ShallowReading, ShallowReading, ShallowReading]
    counted_ah: tuple[float, float]
    max_current_a: float
    verdict: ShallowVerdict


def _reading(status: BankStatus) -> ShallowReading:
    return ShallowReading(
        soc_pct=status.soc_pct,
        soh_pct=status.soh_pct,
        full_capacity_ah=status.full_capacity_ah,
        cell_min_v=status.cell_voltage_min_v,
        cell_max_v=status.cell_voltage_max_v,
        alarms=tuple(sorted(a.name.lower() for a in status.alarms | status.protections)),
    )


def _hold(system: CompiledBankSystem, seconds: float, current_a: float, ambient_c: float) -> tuple[float, float]:
    """Ask for ``current_a`` (bank, positive charging) for ``seconds``; return (Ah the bank carried as its own
    counters of charge in and out show them, the largest |bank current| seen at the ends of 10-minute blocks)."""
    total = round(seconds)
    acc = system.bank.acc
    before = acc[k.AC_CHARGE_AS] + acc[k.AC_DISCHARGE_AS]
    done = 0
    peak = 0.0
    while done < total:
        n = min(_CHUNK_S, total - done)
        inputs = np.zeros((k.IN_ROWS, n))
        inputs[k.IN_REQUEST] = current_a
        inputs[k.IN_AMBIENT_C] = ambient_c
        system.advance(n, k.MODE_CURRENT, inputs)
        peak = max(peak, abs(float(system.bank.mod_state[k.MS_CURRENT_A].sum())))
        done += n
    return float(acc[k.AC_CHARGE_AS] + acc[k.AC_DISCHARGE_AS] - before) / SECONDS_PER_HOUR, peak


def run_shallow_test(
    system: CompiledBankSystem, status: StatusBuilder, *, ambient_c: float = 25.0, plan: ShallowTestPlan | None = None
) -> ShallowTestRun:
    """Run the test on ``system`` from where it is now and judge it."""
    start = status.build()
    plan = plan or plan_shallow_test(start.soc_pct / 100.0, system.n_modules)
    sign = -1.0 if plan.first == "discharge" else 1.0
    leg_s = plan.ah / plan.current_a * SECONDS_PER_HOUR
    r0 = _reading(start)
    ah1, peak1 = _hold(system, leg_s, sign * plan.current_a, ambient_c)
    _hold(system, plan.rest_s, 0.0, ambient_c)
    r1 = _reading(status.build())
    ah2, peak2 = _hold(system, leg_s, -sign * plan.current_a, ambient_c)
    _hold(system, plan.rest_s, 0.0, ambient_c)
    r2 = _reading(status.build())
    readings = (r0, r1, r2)
    counted = (ah1, ah2)
    return ShallowTestRun(plan, readings, counted, max(peak1, peak2), evaluate(plan, readings, counted))
