"""One bank from its modules, as the master presents it to the inverter.

Rules (issue "16 modules in parallel"; reference/protocols.md §4 for what public implementations do):

* CVL is the lowest of the modules' CVLs, DVL the highest of their DVLs (every module stays inside its window).
* Current limits follow the **real current share**: on a bus bar the bank current splits by the modules' OCV and
  resistance, so module *i* carries ``share_i`` of the bank current. The bank may charge at most
  ``min_i(CCL_i / share_i)``: the module that reaches its own limit first (higher share, lower limit: a weaker or
  lower-resistance module) limits the bank. The share is measured (``I_i / I_bank``) while the bank carries a
  clear current in that direction, and otherwise estimated from the modules' learned resistances (conductance
  share), or equal shares when those are unknown. A module that conducts but is at zero limit stops the bank in
  that direction.
* SOC is capacity-weighted (``sum SOC_i * Q_i / sum Q_i``), voltage the mean, current the sum, capacity the sum.
* Alarms and protections are OR-ed; charge/discharge enable are AND-ed over the conducting modules.

The rule is one array kernel, :func:`ml314.system.limit_kernel.bank_limits`, shared with the compiled loops.
Modules that do not conduct (both MOSFETs open: isolated, asleep, protecting both ways) carry no share and do not
limit the bank; a bank with no conducting module gets zero current limits.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ml314.domain.battery_status import AlarmKind, BankStatus, ModuleStatus
from ml314.domain.limits import ChargeLimits
from ml314.system import limit_kernel as kernel
from ml314.system.limit_kernel import MEASURED_SHARE_MIN_A

__all__ = ["MEASURED_SHARE_MIN_A", "aggregate", "current_shares", "limit_table", "share_limits"]


def current_shares(currents_a: np.ndarray, resistance_mohm: np.ndarray, direction: int) -> np.ndarray:
    """Each module's fraction of the bank current in ``direction`` (+1 charge, -1 discharge): the kernel's rule."""
    n = currents_a.size
    zeros = np.zeros(n)
    table = kernel.module_table(zeros, zeros, zeros, zeros, currents_a, resistance_mohm, np.ones(n))
    work = np.zeros((kernel.WORK_ROWS, n))
    on = kernel._conducting(table, n, work)
    out = np.zeros((1, n))
    kernel.current_shares(table, work, on, direction, True, out, 0)
    return np.asarray(out[0])


def share_limits(limits_a: np.ndarray, shares: np.ndarray) -> float:
    """The largest bank current that keeps every module within its own limit: ``min_i(limit_i / share_i)``."""
    n = limits_a.size
    zeros = np.zeros(n)
    table = kernel.module_table(zeros, zeros, limits_a, zeros, zeros, zeros, np.ones(n))
    work = np.zeros((kernel.WORK_ROWS, n))
    on = kernel._conducting(table, n, work)
    return float(kernel.share_limit(table, kernel.MT_CCL, work, on, np.asarray(shares, float).reshape(1, n), 0))


def limit_table(modules: Sequence[ModuleStatus]) -> np.ndarray:
    """The limit kernels' module table of ``modules`` (keyed by address and how each conducts)."""
    return kernel.module_table(
        np.array([m.limits.cvl_v for m in modules], dtype=float),
        np.array([m.limits.dvl_v for m in modules], dtype=float),
        np.array([m.limits.ccl_a for m in modules], dtype=float),
        np.array([m.limits.dcl_a for m in modules], dtype=float),
        np.array([m.current_a for m in modules], dtype=float),
        np.array([m.resistance_mohm for m in modules], dtype=float),
        np.array([float(m.charge_mosfet_on or m.discharge_mosfet_on) for m in modules]),
        np.array([4 * m.address + 2 * int(m.charge_mosfet_on) + int(m.discharge_mosfet_on) for m in modules], float),
    )


def aggregate(
    modules: Sequence[ModuleStatus],
    t_s: float,
    *,
    extra_alarms: frozenset[AlarmKind] = frozenset(),
    installed_capacity_ah: float | None = None,
) -> BankStatus:
    """The bank of ``modules`` (the ones the master can see and that belong to the bank)."""
    if not modules:
        raise ValueError("a bank needs at least one module")
    conducting = [m for m in modules if m.charge_mosfet_on or m.discharge_mosfet_on]
    out = np.empty(4)
    kernel.bank_limits(limit_table(modules), len(modules), out, np.empty((kernel.WORK_ROWS, len(modules))))
    cvl, dvl, ccl, dcl = (float(x) for x in out)
    limits = ChargeLimits(cvl_v=cvl, dvl_v=dvl, ccl_a=ccl, dcl_a=dcl)
    full = np.array([m.full_capacity_ah for m in modules])
    soc = np.array([m.soc_pct for m in modules])
    remaining = np.array([m.remaining_capacity_ah for m in modules])
    cells = np.array([m.cell_voltages_v for m in modules])
    temps = np.array([m.cell_temperatures_c for m in modules])
    alarms: set[AlarmKind] = set(extra_alarms)
    prots: set[AlarmKind] = set()
    for m in modules:
        alarms |= m.alarms
        prots |= m.protections
    flat_v = cells.reshape(-1)
    flat_t = temps.reshape(-1)
    on = conducting or list(modules)
    bounds = [m.soc_bound_pct for m in modules]
    weights = full if full.sum() > 0 else np.ones(len(modules))
    # |sum w e| <= sum w |e| <= sum w bound: the weighted bound holds however the modules' errors correlate
    bank_bound = None if None in bounds else float(np.dot(weights, np.array(bounds, dtype=float)) / weights.sum())
    return BankStatus(
        t_s=t_s,
        voltage_v=float(np.mean([m.voltage_v for m in on])),
        current_a=float(sum(m.current_a for m in modules)),
        temperature_c=float(flat_t.mean()),
        soc_pct=float((soc * full).sum() / full.sum()) if full.sum() > 0 else float(soc.mean()),
        soh_pct=float(min(m.soh_pct for m in modules)),
        limits=limits,
        charge_enable=bool(conducting) and ccl > 0.0 and all(m.charge_mosfet_on for m in conducting),
        discharge_enable=bool(conducting) and dcl > 0.0 and all(m.discharge_mosfet_on for m in conducting),
        force_charge_1=any(m.force_charge for m in modules),
        force_charge_2=False,
        full_charge_request=any(m.full_charge_request for m in modules),
        cycles=max(m.cycles for m in modules),
        remaining_capacity_ah=float(remaining.sum()),
        full_capacity_ah=float(full.sum()),
        installed_capacity_ah=(
            installed_capacity_ah
            if installed_capacity_ah is not None
            else float(sum(m.design_capacity_ah for m in modules))
        ),
        cell_voltage_max_v=float(flat_v.max()),
        cell_voltage_min_v=float(flat_v.min()),
        cell_voltage_max_id=int(flat_v.argmax()) + 1,
        cell_voltage_min_id=int(flat_v.argmin()) + 1,
        cell_temperature_max_c=float(flat_t.max()),
        cell_temperature_min_c=float(flat_t.min()),
        cell_temperature_max_id=int(flat_t.argmax()) + 1,
        cell_temperature_min_id=int(flat_t.argmin()) + 1,
        mosfet_temperature_c=float(max(m.temperatures_c[-1] for m in modules)),
        board_temperature_c=float(max(m.temperatures_c[0] for m in modules)),
        modules=tuple(modules),
        alarms=frozenset(alarms),
        protections=frozenset(prots),
        soc_bound_pct=bank_bound,
    )
