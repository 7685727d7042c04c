"""The bank in storage (manual 8.1.3, 13.1 (10)): switched off on a shelf for months, losing charge to the cells'
self-discharge, recharged to the storage SOC whenever the recharge reminder falls due (every 3 months: the stricter
of the manual's two statements, see :mod:`ml314.diagnostics.storage_advice`).

The modules are off (no BMS supply, no balancing): only the twin's cells run, at a constant ambient (``--ambient``,
default 25 degC). The summary's ``storage`` section lists the SOC at the end of every month, each reminder (when it
fell due, the SOC then, the top-up), the SOC the bank would have fallen to without the top-ups (the sum of the
measured losses) and the advice.
"""

from __future__ import annotations

from typing import Any

from ml314.diagnostics.storage_advice import (
    DAY_S,
    DAYS_PER_MONTH,
    advice_lines,
    check_storage,
    recharge_due_s,
    rule_for,
)
from ml314.domain.limits import ChargeLimits
from ml314.domain.spec import ML314
from ml314.domain.units import SECONDS_PER_HOUR
from ml314.runtime.simulation import SimulationContext, SimulationRequest
from ml314.twin import kernel as k

_OPEN = ChargeLimits(cvl_v=1.0e6, dvl_v=-1.0e6, ccl_a=1.0e6, dcl_a=1.0e6)
#: the top-up current of a storage recharge, as a fraction of the rated capacity per hour (a gentle 0.2C)
TOP_UP_C_RATE = 0.2
DEFAULT_STORAGE_AMBIENT_C = 25.0


def _hold(ctx: SimulationContext, seconds: float, current_a: float, ambient_c: float) -> None:
    """Run ``seconds`` at a constant bank current (0: rest)."""
    dt = ctx.request.dt_s
    total = max(0, round(seconds / dt))
    done = 0
    while done < total:
        n = min(ctx.chunk_steps, total - done)
        block = ctx.inputs(n)
        block[k.IN_REQUEST] = current_a
        block[k.IN_AMBIENT_C] = ambient_c
        done += ctx.run(n, k.MODE_CURRENT, block, _OPEN)


def _usable_ah(ctx: SimulationContext) -> float:
    """The charge between the bank's empty and full now (its cells' spread of SOC narrows it): the Ah one per cent
    of true SOC takes, times 100."""
    q = ctx.bank.capacity_as
    soc = ctx.bank.cell_soc
    usable_as = (soc * q).min(axis=1) + ((1.0 - soc) * q).min(axis=1)
    return float(usable_as.sum()) / SECONDS_PER_HOUR


class StorageScenario:
    """Months on a shelf, recharged when the reminder falls due."""

    def prepare(self, request: SimulationRequest) -> None:
        """Nothing to read: the storage runs on the request alone."""
        del request

    def run(self, ctx: SimulationContext, plan: None) -> None:
        """Store the bank for ``request.days``."""
        del plan
        run_storage(ctx)


def run_storage(ctx: SimulationContext) -> None:
    """Store the bank for ``request.days``, month by month, topping it up at each reminder."""
    req = ctx.request
    ambient = req.ambient_c if req.ambient_c is not None else DEFAULT_STORAGE_AMBIENT_C
    rule = rule_for(req.days)
    target = rule.soc_max  # the top of the band: a quarter's self-discharge leaves it inside
    end_s = ctx.t_s + req.days * DAY_S
    start_s = ctx.t_s
    current_a = TOP_UP_C_RATE * ML314.capacity_ah * req.modules
    months: list[dict[str, Any]] = []
    reminders: list[dict[str, Any]] = []
    lost = 0.0
    last_recharge: float | None = None
    next_month = start_s + DAYS_PER_MONTH * DAY_S
    while ctx.t_s < end_s - 0.5 * req.dt_s:
        due = recharge_due_s(start_s, last_recharge, rule)
        stop = min(end_s, next_month, due if due is not None else end_s)
        before = ctx.bank.bank_soc()
        _hold(ctx, stop - ctx.t_s, 0.0, ambient)
        lost += before - ctx.bank.bank_soc()
        if ctx.t_s >= next_month - 0.5 * req.dt_s:
            months.append({"month": len(months) + 1, "soc_pct": 100.0 * ctx.bank.bank_soc()})
            next_month += DAYS_PER_MONTH * DAY_S
        if due is not None and ctx.t_s >= due - 0.5 * req.dt_s and ctx.t_s < end_s - 0.5 * req.dt_s:
            soc = ctx.bank.bank_soc()
            charge_s = max(0.0, (target - soc) * _usable_ah(ctx) / current_a * SECONDS_PER_HOUR)
            _hold(ctx, charge_s, current_a, ambient)
            reminders.append(
                {
                    "due_day": (due - start_s) / DAY_S,
                    "soc_before_pct": 100.0 * soc,
                    "soc_after_pct": 100.0 * ctx.bank.bank_soc(),
                    "top_up_ah": current_a * charge_s / SECONDS_PER_HOUR,
                    "top_up_h": charge_s / SECONDS_PER_HOUR,
                }
            )
            last_recharge = ctx.t_s
        if ctx.progress is not None:
            ctx.progress(
                min(1.0, (ctx.t_s - start_s) / max(end_s - start_s, 1.0)), f"day {(ctx.t_s - start_s) / DAY_S:.0f}"
            )
    start_soc = ctx.start_soc
    nxt = recharge_due_s(start_s, last_recharge, rule)
    ctx.extra["storage"] = {
        "class": rule.name,
        "ambient_c": ambient,
        "target_soc_pct": 100.0 * target,
        "recharge_every_days": rule.recharge_every_days,
        "months": months,
        "reminders": reminders,
        "next_reminder_day": None if nxt is None else (nxt - start_s) / DAY_S,
        "soc_loss_pct_per_month": 100.0 * lost / max(req.days / DAYS_PER_MONTH, 1e-9),
        "soc_without_recharge_pct": 100.0 * max(0.0, start_soc - lost),
        "findings": check_storage(rule, soc=start_soc, temperature_c=ambient),
        "advice": advice_lines(rule),
    }
