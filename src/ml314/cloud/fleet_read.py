"""Reading the fleet store (fleet_schema.py) for the app and its API: every function takes a SQLAlchemy
:class:`~sqlalchemy.Connection` first and returns plain dicts (times as Unix seconds, floats).

A caller decides which serials a user may see; these functions read whatever serials they are given.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from ml314.cloud.fleet_schema import BANK_FIELDS, BANK_FLAGS, BANK_INTS, MODULE_FIELDS, bank_sample, device, event
from ml314.cloud.fleet_schema import module_sample as module
from ml314.cloud.telemetry import ALARMS, PAYLOAD_VERSION
from ml314.errors import InputError

__all__ = ["bank_history", "device_events", "device_status", "latest_samples"]

_MODULE_KEYS = ("n", "module_id", "module_serial", "state", *MODULE_FIELDS, "cells_v", "temps_c", "cycles",
                "balancing", "charge_mosfet_on", "discharge_mosfet_on", "alarms", "protections", "stats")  # fmt: skip
_EVENT_KEYS = ("epoch", "id", "t_s", "module_id", "event_kind", "key", "quantity", "value", "threshold", "unit",
               "level", "action", "message")  # fmt: skip


def _epoch(column: Any) -> sa.ColumnElement[float]:
    return sa.cast(sa.extract("epoch", column), sa.Double)


def _unique(serials: Iterable[str]) -> list[str]:
    return sorted(set(serials))


def latest_samples(conn: sa.Connection, serials: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Per serial the newest stored sample (highest ``seq``), shaped like the MQTT sample payload (docs/mqtt.md):
    ``{"v", "kind", "serial", "seq", "ts", "t_s", "bank": {...}, "modules": [...]}``. A summary comes back with
    ``kind = "summary"``, ``seq_from``, ``samples`` and the means as values. Serials with no sample are absent."""
    wanted = _unique(serials)
    if not wanted:
        return {}
    # the device row names the newest sample and its ts, so each lookup reads one partition
    newest = sa.select(device.c.serial, device.c.last_seq, device.c.last_ts).where(
        device.c.serial.in_(wanted), device.c.last_seq.is_not(None)
    )
    keys = {r.serial: (r.last_seq, r.last_ts) for r in conn.execute(newest)}
    if not keys:
        return {}
    match = sa.tuple_(bank_sample.c.serial, bank_sample.c.seq, bank_sample.c.ts).in_(
        [(s, q, t) for s, (q, t) in keys.items()]
    )
    banks = conn.execute(
        sa.select(
            bank_sample, _epoch(bank_sample.c.ts).label("ts_s"), _epoch(bank_sample.c.ts_from).label("ts_from_s")
        ).where(match)
    ).mappings()
    out: dict[str, dict[str, Any]] = {}
    for r in banks:
        out[r["serial"]] = _sample(r)
    mods = conn.execute(
        sa.select(module)
        .where(sa.tuple_(module.c.serial, module.c.seq, module.c.ts).in_([(s, q, t) for s, (q, t) in keys.items()]))
        .order_by(module.c.serial, module.c.n)
    ).mappings()
    for m in mods:
        if m["serial"] in out:
            out[m["serial"]]["modules"].append(_module(m))
    return out


def _sample(r: sa.RowMapping) -> dict[str, Any]:
    bank: dict[str, Any] = {k: r[k] for k in (*BANK_FIELDS, *BANK_INTS, *BANK_FLAGS)}
    alarms = list(r["alarms"] or [])
    protections = list(r["protections"] or [])
    bank["alarms"] = alarms
    bank["protections"] = protections
    bank["alarm"] = {a: a in alarms or a in protections for a in ALARMS}
    sample: dict[str, Any] = {
        "v": PAYLOAD_VERSION,
        "kind": r["kind"],
        "serial": r["serial"],
        "seq": r["seq"],
        "ts": r["ts_s"],
        "t_s": r["t_s"],
        "bank": bank,
        "modules": [],
    }
    if r["kind"] == "summary":
        sample.update(seq_from=r["seq_from"], samples=r["samples"], ts_from=r["ts_from_s"], stats=r["stats"])
    return sample


def _module(m: sa.RowMapping) -> dict[str, Any]:
    out = {k: m[k] for k in _MODULE_KEYS}
    out["id"] = out.pop("module_id")
    out["serial"] = out.pop("module_serial")
    if out["stats"] is None:
        del out["stats"]
    return out


def bank_history(conn: sa.Connection, serial: str, from_ts: float, to_ts: float, step_s: float) -> list[dict[str, Any]]:
    """The bank's SOC, voltage, current and power from ``from_ts`` (inclusive) to ``to_ts`` (exclusive), Unix
    seconds, as the mean of each bucket of ``step_s`` seconds that holds data (buckets start at multiples of
    ``step_s``; a summary weighs as the samples it stands for). Rows ``{"ts", "soc_pct", "voltage_v",
    "current_a", "power_w"}``, oldest first; ``ts`` is the bucket's start."""
    if not step_s > 0:
        raise InputError(f"history step {step_s!r} s: must be positive")
    b = bank_sample.c
    bucket = sa.func.floor(_epoch(b.ts) / step_s) * step_s
    weight = sa.cast(b.samples, sa.Double)

    def mean(col: sa.Column[Any]) -> sa.ColumnElement[Any]:
        return sa.func.sum(col * weight) / sa.func.nullif(sa.func.sum(sa.case((col.is_not(None), weight))), 0)

    fields = ("soc_pct", "voltage_v", "current_a", "power_w")
    query = (
        sa.select(bucket.label("bucket"), *(mean(b[f]).label(f) for f in fields))
        .where(b.serial == serial, b.ts >= sa.func.to_timestamp(from_ts), b.ts < sa.func.to_timestamp(to_ts))
        .group_by(sa.literal_column("bucket"))
        .order_by(sa.literal_column("bucket"))
    )
    return [{"ts": float(r.bucket), **{f: r._mapping[f] for f in fields}} for r in conn.execute(query)]


def device_events(conn: sa.Connection, serial: str, limit: int) -> list[dict[str, Any]]:
    """The device's newest ``limit`` events, newest first, shaped like the MQTT event payload."""
    e = event.c
    query = (
        sa.select(*(e[k] for k in _EVENT_KEYS), _epoch(e.ts).label("ts"))
        .where(e.serial == serial)
        .order_by(e.ts.desc(), e.epoch.desc(), e.id.desc())
        .limit(max(int(limit), 0))
    )
    return [
        {"v": PAYLOAD_VERSION, "kind": "event", "serial": serial, **dict(r)} for r in conn.execute(query).mappings()
    ]


def device_status(conn: sa.Connection, serials: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Per serial ``{"online": bool, "ts": float | None}``: ``online`` is what the newest news of the device says
    (its status message ``online``/``offline``, the broker's will ``offline``, or any telemetry or event received,
    which means online) and ``ts`` when the cloud received that news (Unix seconds). Every serial asked for is in
    the answer: one the cloud never heard of is ``{"online": False, "ts": None}``."""
    wanted = _unique(serials)
    out: dict[str, dict[str, Any]] = {s: {"online": False, "ts": None} for s in wanted}
    if not wanted:
        return out
    rows = conn.execute(
        sa.select(device.c.serial, device.c.online, _epoch(device.c.status_ts).label("ts")).where(
            device.c.serial.in_(wanted)
        )
    )
    for r in rows:
        out[r.serial] = {"online": bool(r.online), "ts": float(r.ts)}
    return out
