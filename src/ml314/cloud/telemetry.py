"""The payloads a device publishes (JSON objects; docs/mqtt.md shows each), built from the bank's snapshots.

* a **sample** (``ml314/<serial>/telemetry``): the bank and every module at one instant, with the device's sample
  sequence number ``seq`` (1, 2, 3 ... over the device's life, kept across restarts) and the wall-clock time ``ts``
  it was taken; sent late from the disk buffer it still carries both, so the cloud stores it at its own time and
  drops a copy it already has (QoS 1 may deliver twice).
* a **summary** stands for the consecutive samples ``seq_from..seq`` the disk buffer had to merge when it was full:
  mean/min/max of each measured quantity, the last value of the energy counters, every alarm seen.
* an **event**: one entry of the BMS event log with its ``id`` (ids count every event since the log began).
* the **state** and **module state** (retained, live only) that Home Assistant's entities read.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ml314.bms.events import Event
from ml314.domain.battery_status import AlarmKind, BankStatus, ModuleStatus
from ml314.domain.snapshot_json import to_jsonable
from ml314.domain.spec import ML314

__all__ = [
    "ALARMS",
    "PAYLOAD_VERSION",
    "bank_state",
    "event_payload",
    "merge",
    "module_state",
    "sample_payload",
]

PAYLOAD_VERSION = 1
#: every alarm kind, in the order Home Assistant lists them
ALARMS = tuple(a.value for a in AlarmKind)
#: the bank's measured quantities a summary keeps as mean/min/max
_BANK_STATS = ("soc_pct", "voltage_v", "current_a", "power_w", "temperature_c", "cell_voltage_max_v",
               "cell_voltage_min_v")  # fmt: skip
#: the bank's counters a summary keeps as their last value
_BANK_LAST = ("charged_energy_kwh", "discharged_energy_kwh", "cycles", "soh_pct", "remaining_capacity_ah")
_MODULE_STATS = ("soc_pct", "voltage_v", "current_a")


def _num(x: float, digits: int = 4) -> float | None:
    return round(float(x), digits) if math.isfinite(x) else None


def _alarms(kinds: frozenset[AlarmKind]) -> list[str]:
    return sorted(a.value for a in kinds)


def bank_state(bank: BankStatus) -> dict[str, Any]:
    """The bank's quantities (``power_w`` = V * I, positive while charging like ``current_a``)."""
    lim = bank.limits
    return {
        "soc_pct": _num(bank.soc_pct, 2),
        "soh_pct": _num(bank.soh_pct, 2),
        "voltage_v": _num(bank.voltage_v, 3),
        "current_a": _num(bank.current_a, 2),
        "power_w": _num(bank.voltage_v * bank.current_a, 1),
        "temperature_c": _num(bank.temperature_c, 1),
        "charged_energy_kwh": _num(bank.charged_energy_kwh, 4),
        "discharged_energy_kwh": _num(bank.discharged_energy_kwh, 4),
        "remaining_capacity_ah": _num(bank.remaining_capacity_ah, 2),
        "full_capacity_ah": _num(bank.full_capacity_ah, 2),
        # at the nominal voltage, as the product states its energy (16.07 kWh per module)
        "stored_energy_kwh": _num(bank.remaining_capacity_ah * ML314.nominal_voltage_v / 1000.0, 3),
        "cycles": bank.cycles,
        "cell_voltage_max_v": _num(bank.cell_voltage_max_v, 4),
        "cell_voltage_min_v": _num(bank.cell_voltage_min_v, 4),
        "cell_temperature_max_c": _num(bank.cell_temperature_max_c, 1),
        "cell_temperature_min_c": _num(bank.cell_temperature_min_c, 1),
        "cvl_v": _num(lim.cvl_v, 2),
        "ccl_a": _num(lim.ccl_a, 1),
        "dcl_a": _num(lim.dcl_a, 1),
        "charge_enable": bank.charge_enable,
        "discharge_enable": bank.discharge_enable,
        "module_count": bank.module_count,
        "alarms": _alarms(bank.alarms),
        "protections": _alarms(bank.protections),
        "alarm": {a: (AlarmKind(a) in bank.alarms or AlarmKind(a) in bank.protections) for a in ALARMS},
    }


def module_state(n: int, module_id: int, m: ModuleStatus) -> dict[str, Any]:
    """One module: ``n`` its chain position (1 = first), ``module_id`` its DIP ID."""
    return {
        "n": n,
        "id": module_id,
        "serial": m.serial,
        "state": m.state,
        "soc_pct": _num(m.soc_pct, 2),
        "soh_pct": _num(m.soh_pct, 2),
        "voltage_v": _num(m.voltage_v, 3),
        "current_a": _num(m.current_a, 2),
        "cells_v": [_num(v, 4) for v in m.cell_voltages_v],
        "temps_c": [_num(t, 1) for t in m.temperatures_c],
        "cycles": m.cycles,
        "balancing": m.balancing,
        "charge_mosfet_on": m.charge_mosfet_on,
        "discharge_mosfet_on": m.discharge_mosfet_on,
        "alarms": _alarms(m.alarms),
        "protections": _alarms(m.protections),
    }


def sample_payload(
    serial: str, seq: int, *, ts: float, t_s: float, bank: BankStatus, modules: Sequence[tuple[int, ModuleStatus]]
) -> dict[str, Any]:
    """One telemetry sample; ``modules`` are (DIP ID, status) in chain order."""
    return {
        "v": PAYLOAD_VERSION,
        "kind": "sample",
        "serial": serial,
        "seq": seq,
        "ts": round(ts, 3),
        "t_s": round(t_s, 3),
        "bank": bank_state(bank),
        "modules": [module_state(i + 1, mid, m) for i, (mid, m) in enumerate(modules)],
    }


def event_payload(serial: str, event_id: int, ts: float, event: Event, *, epoch: int = 0) -> dict[str, Any]:
    """One BMS event (``t_s`` its simulated time, ``ts`` the wall clock when the device logged it); unique by
    (serial, epoch, id): ``epoch`` counts the times the device's event log started over (a new bank)."""
    body = to_jsonable(event)
    assert isinstance(body, dict)
    head = {"v": PAYLOAD_VERSION, "serial": serial, "epoch": epoch, "id": event_id, "ts": round(ts, 3)}
    return {**head, **body, "event_kind": body["kind"], "kind": "event"}


# --------------------------------------------------------------------------------------------------- summaries
def _stat(x: Any) -> dict[str, Any]:
    """A sample's value as a summary statistic (a summary's is already one)."""
    if isinstance(x, dict):
        return x
    return {"mean": x, "min": x, "max": x, "n": 1 if x is not None else 0}


def _combine_stat(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    if not a["n"]:
        return b
    if not b["n"]:
        return a
    n = a["n"] + b["n"]
    return {
        "mean": round((a["mean"] * a["n"] + b["mean"] * b["n"]) / n, 4),
        "min": min(a["min"], b["min"]),
        "max": max(a["max"], b["max"]),
        "n": n,
    }


def _as_summary(p: dict[str, Any]) -> dict[str, Any]:
    if p["kind"] == "summary":
        return p
    bank = p["bank"]
    return {
        "v": PAYLOAD_VERSION,
        "kind": "summary",
        "serial": p["serial"],
        "seq_from": p["seq"],
        "seq": p["seq"],
        "samples": 1,
        "ts_from": p["ts"],
        "ts": p["ts"],
        "t_s_from": p["t_s"],
        "t_s": p["t_s"],
        "bank": {
            **{k: _stat(bank[k]) for k in _BANK_STATS},
            **{k: bank[k] for k in _BANK_LAST},
            "alarms": sorted(set(bank["alarms"]) | set(bank["protections"])),
        },
        "modules": [
            {
                "n": m["n"],
                "id": m["id"],
                **{k: _stat(m[k]) for k in _MODULE_STATS},
                "cell_v": _combine_stat(
                    _stat(min((v for v in m["cells_v"] if v is not None), default=None)),
                    _stat(max((v for v in m["cells_v"] if v is not None), default=None)),
                ),
            }
            for m in p["modules"]
        ],
    }


def merge(payloads: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Consecutive samples and summaries (oldest first) as one summary of them all."""
    if not payloads:
        raise ValueError("nothing to merge")
    out = _as_summary(payloads[0])
    for p in payloads[1:]:
        s = _as_summary(p)
        modules = {m["n"]: m for m in out["modules"]}
        merged_modules = []
        for m in s["modules"]:
            old = modules.get(m["n"])
            if old is None:
                merged_modules.append(m)
                continue
            merged_modules.append(
                {
                    "n": m["n"],
                    "id": m["id"],
                    **{k: _combine_stat(old[k], m[k]) for k in (*_MODULE_STATS, "cell_v")},
                }
            )
        out = {
            **out,
            "seq": s["seq"],
            "samples": out["samples"] + s["samples"],
            "ts": s["ts"],
            "t_s": s["t_s"],
            "bank": {
                **{k: _combine_stat(out["bank"][k], s["bank"][k]) for k in _BANK_STATS},
                **{k: s["bank"][k] for k in _BANK_LAST},
                "alarms": sorted(set(out["bank"]["alarms"]) | set(s["bank"]["alarms"])),
            },
            "modules": merged_modules,
        }
    return out
