"""The summary of a run (``summary.json``): energy, ratios, losses, SOC, cells, the bank, and what the BMS, the
inverter protocol and the bank link did."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import numpy as np

from ml314.domain.spec import ML314
from ml314.domain.units import J_PER_WH
from ml314.system.inverter_exchange import InverterExchange
from ml314.system.linked_bank import LinkedBank
from ml314.twin import kernel as k
from ml314.twin.ageing import project_fade

if TYPE_CHECKING:
    from ml314.runtime.simulation import SimulationContext

__all__ = ["PROJECTION_YEARS", "backup_summary", "bms_summary", "build_summary", "link_summary", "protocol_summary"]

#: the service lives the SOH is projected to (years), by the twin's ageing law (twin/ageing.project_fade)
PROJECTION_YEARS = (10, 15)
_YEAR_S = 365.0 * 86400.0


def _kwh(joules: float) -> float:
    return joules / J_PER_WH / 1000.0


def build_summary(ctx: SimulationContext, wall_s: float) -> dict[str, Any]:
    """The summary JSON: energy in and out, self-consumption, SOC range, cell spread, losses."""
    acc = ctx.bank.acc
    req = ctx.request
    pv = acc[k.AC_PV_J] + acc[k.AC_CURTAILED_J]
    pv_used = acc[k.AC_PV_J] - acc[k.AC_GRID_EXPORT_J]
    load = acc[k.AC_LOAD_J]
    sim_s = ctx.elapsed_s
    cap_as = float(ctx.bank.capacity_as.min(axis=1).sum())
    throughput_as = acc[k.AC_CHARGE_AS] + acc[k.AC_DISCHARGE_AS]
    soh = float(np.min(ctx.bank.capacity_as / ctx.bank._fresh_capacity_as))
    out = acc[k.AC_BATTERY_OUT_J]
    inn = acc[k.AC_BATTERY_IN_J]
    stored_delta = ctx.bank.stored_energy_j() - ctx.start_energy_j
    summary: dict[str, Any] = {
        "run": {
            "scenario": req.scenario,
            "modules": req.modules,
            "simulated_days": sim_s / 86400.0,
            "step_s": req.dt_s,
            "sample_s": req.sample_s,
            "seed": req.seed,
            "rows": ctx.stats.rows,
            "wall_time_s": wall_s,
            "realtime_factor": sim_s / wall_s if wall_s > 0 else float("inf"),
        },
        "energy": {
            "battery_charged_kwh": _kwh(inn),
            "battery_discharged_kwh": _kwh(out),
            "stored_change_kwh": _kwh(stored_delta),
            "pv_kwh": _kwh(pv),
            "pv_curtailed_kwh": _kwh(acc[k.AC_CURTAILED_J]),
            "load_kwh": _kwh(load + acc[k.AC_UNSERVED_J]),
            "load_unserved_kwh": _kwh(acc[k.AC_UNSERVED_J]),
            "grid_import_kwh": _kwh(acc[k.AC_GRID_IMPORT_J]),
            "grid_export_kwh": _kwh(acc[k.AC_GRID_EXPORT_J]),
        },
        "ratios": {
            "self_consumption_pct": 100.0 * pv_used / pv if pv > 0 else None,
            "autarky_pct": 100.0 * (load - acc[k.AC_GRID_IMPORT_J]) / load if load > 0 else None,
            "battery_efficiency_pct": 100.0 * (out + max(stored_delta, 0.0)) / (inn + max(-stored_delta, 0.0))
            if inn > 0
            else None,
        },
        "losses": {
            "cells_kwh": _kwh(acc[k.AC_CELL_LOSS_J]),
            "mosfets_and_cables_kwh": _kwh(acc[k.AC_EXTERNAL_LOSS_J]),
            "balancing_kwh": _kwh(acc[k.AC_BALANCING_J]),
            "bms_supply_kwh": _kwh(acc[k.AC_BMS_SUPPLY_J]),
            "self_discharge_kwh": _kwh(acc[k.AC_SELF_DISCHARGE_J]),
            "inverter_kwh": _kwh(acc[k.AC_INVERTER_LOSS_J]),
        },
        "soc": {
            "start_pct": 100.0 * ctx.start_soc,
            "end_pct": 100.0 * ctx.bank.bank_soc(),
            "min_pct": 100.0 * ctx.stats.soc_min if ctx.stats.rows else None,
            "max_pct": 100.0 * ctx.stats.soc_max if ctx.stats.rows else None,
        },
        "cells": {
            "min_v": ctx.stats.cell_min_v if ctx.stats.rows else None,
            "max_v": ctx.stats.cell_max_v if ctx.stats.rows else None,
            "max_spread_mv": 1000.0 * ctx.stats.spread_max_v,
            "min_c": ctx.stats.temp_min_c if ctx.stats.rows else None,
            "max_c": ctx.stats.temp_max_c if ctx.stats.rows else None,
        },
        "bank": {
            "max_bus_current_a": ctx.stats.bus_current_max_a,
            "max_module_current_a": ctx.stats.module_current_max_a,
            "equivalent_full_cycles": throughput_as / (2.0 * cap_as),
            "state_of_health_min_pct": 100.0 * soh,
            **{
                f"state_of_health_{years}y_pct": 100.0 * projected_soh(ctx, years * _YEAR_S)
                for years in PROJECTION_YEARS
            },
        },
        "notes": list(ctx.notes),
        "inverter": asdict(req.inverter) if req.scenario == "home" else None,
    }
    if req.scenario == "home":
        summary["backup"] = backup_summary(ctx, _kwh(load + acc[k.AC_UNSERVED_J]))
    if ctx.system is not None:
        summary["bms"] = bms_summary(ctx)
    if ctx.exchange is not None:
        summary["protocol"] = protocol_summary(ctx.exchange)
    if ctx.linked is not None:
        summary["bank_link"] = link_summary(ctx.linked)
    summary.update(ctx.extra)
    return summary


def projected_soh(ctx: SimulationContext, horizon_s: float) -> float:
    """The weakest cell's capacity over its fresh one after ``horizon_s`` of service like the time simulated so
    far (the bank's whole life, a resumed run included), 0..1."""
    fade = project_fade(ctx.bank.ageing, ctx.bank.params, elapsed_s=ctx.t_s, horizon_s=horizon_s)
    return float(1.0 - np.max(fade))


def backup_summary(ctx: SimulationContext, load_kwh: float) -> dict[str, Any]:
    """How long the energy the inverter holds for an outage carries the average load: the reserve SOC in
    self-consumption mode, a full bank in backup mode (manual 5.2), of the bank's present capacity at nominal
    voltage, through the inverter's efficiency."""
    spec = ctx.request.inverter
    held_soc = 1.0 if spec.mode == "backup" else spec.reserve_soc
    capacity_kwh = float(ctx.bank.capacity_as.min(axis=1).sum()) / 3600.0 * ML314.nominal_voltage_v / 1000.0
    held_kwh = held_soc * capacity_kwh
    hours = ctx.elapsed_s / 3600.0
    mean_load_kw = load_kwh / hours if hours > 0 else 0.0
    return {
        "held_soc_pct": 100.0 * held_soc,
        "held_kwh": held_kwh,
        "mean_load_kw": mean_load_kw,
        "hours_at_reserve": held_kwh * spec.efficiency / mean_load_kw if mean_load_kw > 0 else None,
    }


def link_summary(linked: LinkedBank) -> dict[str, Any]:
    """The bank link: who is in the bank, what went wrong, how fast the master refreshed it."""
    master = linked.master
    faults = sorted(linked.fault_records(), key=lambda f: -f.severity)
    return {
        "baud": linked.options.baud,
        "modules": len(linked.endpoints),
        "modules_online": 0 if master is None else 1 + len(master.online()),
        "master_id": None if master is None else master.master_id,
        "members": [] if master is None else sorted(master.members),
        "online": [] if master is None else sorted(m.address for m in master.online()),
        "refresh_s": None if master is None else master.last_cycle_s,
        "polling_rounds": 0 if master is None else master.cycles,
        "bytes_on_wire": linked.bus.bytes_on_wire,
        "collisions": linked.bus.collisions,
        "corrupted_frames": linked.bus.corrupted,
        "faults": [f.as_dict() for f in faults],
        "warnings": [f.as_dict() for f in linked.caution_records()],
        "events": [] if master is None else [f"{t:.0f} s: {text}" for t, text in master.events[-50:]],
    }


def protocol_summary(exchange: InverterExchange) -> dict[str, Any]:
    """Which protocol carried the limits, and how much traffic it took."""
    i = exchange.codec.info
    c = exchange.counters
    lim = exchange.view.limits()
    return {
        "name": i.name,
        "code": f"{i.transport.value}:{i.code}" if i.code else i.name,
        "document": i.document,
        "compatibility_mode": i.compatibility or None,
        "periods": c.cycles,
        "battery_frames": c.battery_frames,
        "battery_bytes": c.battery_bytes,
        "inverter_frames": c.inverter_frames,
        "inverter_bytes": c.inverter_bytes,
        "decoded_limits_end": None if lim is None else asdict(lim),
    }


def bms_summary(ctx: SimulationContext) -> dict[str, Any]:
    """What the BMS did: its SOC against the truth, events by kind, protection trips, states at the end."""
    assert ctx.system is not None
    bms = ctx.system.bms
    kinds: dict[str, int] = {}
    trips: dict[str, int] = {}
    for e in bms.events:
        kinds[e.kind] = kinds.get(e.kind, 0) + 1
        if e.kind in ("trip", "lockout", "latch") and e.level == "protection":
            trips[e.key] = trips.get(e.key, 0) + 1
    est = np.asarray(bms.estimator.soc)
    bound = np.asarray(bms.estimator.uncertainty)
    true = ctx.bank.module_socs()
    bank_est = ctx.reported_soc() if ctx.exchange is None else None
    return {
        "estimator": ctx.request.estimator or bms.params.soc.estimator,
        "soc_estimate_end_pct": 100.0 * float(est.mean()),
        "soc_error_end_pct": 100.0 * float(np.max(np.abs(est - true))),
        # the bound the BMS states on its own SOC error (per module, the largest), and the bank's error against it
        "soc_bound_end_pct": 100.0 * float(bound.max()),
        "bank_soc_error_end_pct": None if bank_est is None else 100.0 * (bank_est - ctx.bank.bank_soc()),
        "events": kinds,
        "events_dropped": bms.events.dropped,  # the log keeps the newest events (a ring, as in a BMS's memory)
        "protection_trips": trips,
        "states_end": [m.state.state.name.lower() for m in bms.machines],
        "full_syncs": int(np.nansum(bms.counters.values[:, 9])),
    }
