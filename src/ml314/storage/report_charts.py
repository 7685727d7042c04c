"""The data of the report's charts: one JSON document that ``web/static/pages/charts.js`` draws (the history page
draws the same kinds of chart from the history API).

Contracts:
- Times are epoch seconds of the simulated calendar: ``t_s`` = 0 is 00:00 UTC of the run's start day of year in
  :data:`CALENDAR_YEAR`; the report draws them in UTC, so the clock on the axis is the simulation's clock.
- :func:`daily_energy` and :func:`cell_extremes` read every row of the time series (one streaming pass each,
  memory bounded); the curves are the binned means the report already streams (``report.downsample_envelope``).
- A row of the time series closes its sample interval (``t_s - dt, t_s]``; the interval means (``battery_w``,
  ``pv_w`` ...) count for the day the interval starts in, so the days sum to the run's totals.
- Module series carry ``"module": i`` (0-based) and no colour: charts.js gives module ``i`` its colour and dash,
  the one rule for both the report and the history page.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from ml314.storage.timeseries import read_columns, read_schema

__all__ = [
    "CALENDAR_YEAR",
    "DAILY_QUANTITIES",
    "CellExtremes",
    "CellMark",
    "DailyEnergy",
    "calendar_origin_s",
    "cell_extremes",
    "chart_document",
    "daily_energy",
]

FloatArray = npt.NDArray[np.float64]

#: the year of the simulated calendar (a common year: day of year 80 is 21 March)
CALENDAR_YEAR = 2026
_DAY_S = 86400.0
_J_PER_KWH = 3.6e6

#: daily energy: output name, label, colour, the column and the sign of it that counts
DAILY_QUANTITIES: tuple[tuple[str, str, str, str, float], ...] = (
    ("charged_kwh", "battery charged", "#2ca02c", "battery_w", 1.0),
    ("discharged_kwh", "battery discharged", "#d62728", "battery_w", -1.0),
    ("pv_kwh", "PV", "#f2a900", "pv_w", 1.0),
    ("load_kwh", "load", "#8c564b", "load_w", 1.0),
    ("grid_import_kwh", "grid import", "#1f77b4", "grid_w", 1.0),
    ("grid_export_kwh", "grid export", "#17becf", "grid_w", -1.0),
)
_HOME_ONLY = ("pv_kwh", "load_kwh", "grid_import_kwh", "grid_export_kwh")


def calendar_origin_s(start_day_of_year: int) -> float:
    """Epoch seconds of 00:00 UTC on day ``start_day_of_year`` (1-based) of :data:`CALENDAR_YEAR`."""
    day = datetime(CALENDAR_YEAR, 1, 1, tzinfo=UTC) + timedelta(days=int(start_day_of_year) - 1)
    return day.timestamp()


def _stamp(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, UTC).strftime("%Y-%m-%d %H:%M")


# ------------------------------------------------------------------------------------------ daily energy
@dataclass(frozen=True)
class DailyEnergy:
    """Energy per calendar day: ``day_s`` the epoch second each day starts, ``kwh`` the sums by quantity."""

    day_s: FloatArray
    kwh: dict[str, FloatArray]


def daily_energy(path: Path, t0_s: float = 0.0, batch_rows: int = 65_536) -> DailyEnergy:
    """Per day of the simulated calendar (``t0_s`` + ``t_s``), the energy of each :data:`DAILY_QUANTITIES` row
    whose column the file has, from every row: interval-mean power x the interval, for the day it starts in."""
    names = {c.name for c in read_schema(path)}
    quantities = [q for q in DAILY_QUANTITIES if q[3] in names]
    columns = sorted({q[3] for q in quantities})
    sums: dict[int, dict[str, float]] = {}
    prev_t: float | None = None
    for batch in read_columns(path, ["t_s", *columns], batch_rows=batch_rows):
        t = batch["t_s"]
        if prev_t is None:
            first_dt = float(t[1] - t[0]) if len(t) > 1 else float(t[0])
            prev = np.r_[t[0] - first_dt, t[:-1]]
        else:
            prev = np.r_[prev_t, t[:-1]]
        prev_t = float(t[-1])
        dt = t - prev
        day = np.floor((prev + t0_s) / _DAY_S).astype(np.int64)
        days, inverse = np.unique(day, return_inverse=True)
        for name, _, _, col, sign in quantities:
            energy = np.nan_to_num(np.maximum(sign * batch[col], 0.0) * dt) / _J_PER_KWH
            per_day = np.bincount(inverse, weights=energy, minlength=len(days))
            for d, e in zip(days.tolist(), per_day.tolist(), strict=True):
                sums.setdefault(d, {})[name] = sums.get(d, {}).get(name, 0.0) + e
    ordered = sorted(sums)
    return DailyEnergy(
        np.asarray(ordered, dtype=np.float64) * _DAY_S,
        {q[0]: np.asarray([sums[d].get(q[0], 0.0) for d in ordered]) for q in quantities},
    )


# ------------------------------------------------------------------------------------------ cell extremes
class CellMark(NamedTuple):
    """One cell at one moment: module (1-based, as the file numbers it), cell (1..16), voltage, time."""

    module: int
    cell: int
    voltage_v: float
    t_s: float

    def text(self, t0_s: float) -> str:
        return f"module {self.module} cell {self.cell} ({self.voltage_v:.3f} V, {_stamp(t0_s + self.t_s)})"


@dataclass
class CellExtremes:
    """The highest and the lowest cell of the run, and the widest spread of one module with its two cells."""

    highest: CellMark | None = None
    lowest: CellMark | None = None
    spread_mv: float = 0.0
    spread_high: CellMark | None = None
    spread_low: CellMark | None = None
    named: bool = field(default=False)  # False: the file has no cell indices (cells unnamed)

    def lines(self, t0_s: float) -> list[str]:
        """The sentences the report prints under the cell-spread chart."""
        if self.highest is None or self.lowest is None:
            return []
        out = [f"Highest cell: {self.highest.text(t0_s)}.", f"Lowest cell: {self.lowest.text(t0_s)}."]
        if self.spread_high is not None and self.spread_low is not None:
            out.append(
                f"Widest spread {self.spread_mv:.1f} mV in module {self.spread_high.module} at "
                f"{_stamp(t0_s + self.spread_high.t_s)}: highest cell {self.spread_high.cell} "
                f"({self.spread_high.voltage_v:.3f} V), lowest cell {self.spread_low.cell} "
                f"({self.spread_low.voltage_v:.3f} V)."
            )
        return out


def cell_extremes(path: Path, modules: Sequence[str], batch_rows: int = 32_768) -> CellExtremes:
    """The run's highest and lowest cell (module and cell number) and the widest spread within a module, from
    every row of the time series (``mNN_cell_max_v``/``_min_v`` and their ``_index`` columns)."""
    names = {c.name for c in read_schema(path)}
    mods = [m for m in modules if f"{m}_cell_max_v" in names and f"{m}_cell_min_v" in names]
    out = CellExtremes()
    if not mods:
        return out
    named = all(f"{m}_cell_max_index" in names and f"{m}_cell_min_index" in names for m in mods)
    out.named = named
    wanted = ["t_s"] + [f"{m}_{q}" for m in mods for q in ("cell_max_v", "cell_min_v")]
    if named:
        wanted += [f"{m}_{q}" for m in mods for q in ("cell_max_index", "cell_min_index")]
    numbers = [int(m[1:]) for m in mods]
    for batch in read_columns(path, wanted, batch_rows=batch_rows):
        t = batch["t_s"]
        hi = np.stack([batch[f"{m}_cell_max_v"] for m in mods])  # (modules, rows)
        lo = np.stack([batch[f"{m}_cell_min_v"] for m in mods])
        hi_i = np.stack([batch[f"{m}_cell_max_index"] for m in mods]) if named else np.zeros_like(hi)
        lo_i = np.stack([batch[f"{m}_cell_min_index"] for m in mods]) if named else np.zeros_like(lo)
        spread = hi - lo
        for attr, values, index, sign in (("highest", hi, hi_i, 1.0), ("lowest", lo, lo_i, -1.0)):
            m, r = np.unravel_index(np.nanargmax(sign * values), values.shape)
            mark = CellMark(numbers[m], int(index[m, r]), float(values[m, r]), float(t[r]))
            old = getattr(out, attr)
            if old is None or sign * mark.voltage_v > sign * old.voltage_v:
                setattr(out, attr, mark)
        m, r = np.unravel_index(np.nanargmax(spread), spread.shape)
        if spread[m, r] * 1000.0 > out.spread_mv or out.spread_high is None:
            out.spread_mv = float(spread[m, r] * 1000.0)
            out.spread_high = CellMark(numbers[m], int(hi_i[m, r]), float(hi[m, r]), float(t[r]))
            out.spread_low = CellMark(numbers[m], int(lo_i[m, r]), float(lo[m, r]), float(t[r]))
    return out


# ------------------------------------------------------------------------------------------ the document
def _values(a: npt.ArrayLike, scale: float = 1.0, digits: int = 4) -> list[float | None]:
    arr = np.asarray(a, dtype=np.float64) * scale
    return [None if not math.isfinite(v) else round(v, digits) for v in arr.tolist()]


def _series(
    label: str,
    values: npt.ArrayLike,
    *,
    color: str | None = None,
    module: int | None = None,
    dash: Sequence[int] | None = None,
    scale: float = 1.0,
    width: float | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"label": label, "values": _values(values, scale)}
    if color is not None:
        out["color"] = color
    if module is not None:
        out["module"] = module
    if dash is not None:
        out["dash"] = list(dash)
    if width is not None:
        out["width"] = width
    return out


def _mean(env: Mapping[str, Any], names: Sequence[str]) -> FloatArray:
    with np.errstate(invalid="ignore"):
        return np.asarray(np.nanmean(np.stack([env[n].mean for n in names]), axis=0), dtype=np.float64)


def _storage_note(st: Mapping[str, Any]) -> str:
    """The storage scenario's reminders under its SOC chart."""
    days = ", ".join(f"{r['due_day']:.0f}" for r in st.get("reminders", ()))
    return (
        f"Stored at {st['ambient_c']:g} degC: recharge reminders fell due on days {days or '-'} (every 3 months, "
        f"13.1 (10)); each step up is the top-up to {st['target_soc_pct']:.0f} %. Without them the SOC would have "
        f"reached {st['soc_without_recharge_pct']:.0f} %."
    )


def chart_document(
    env: Mapping[str, Any],
    modules: Sequence[str],
    summary: Mapping[str, Any],
    *,
    title: str,
    t0_s: float,
    daily: DailyEnergy | None,
    cells: CellExtremes | None,
) -> dict[str, Any]:
    """The charts of a report: ``{"title", "utc", "t", "charts": [...]}`` (see charts.js for the kinds)."""
    if not env:
        return {"title": title, "utc": True, "t": [], "charts": []}
    t = next(iter(env.values())).t_s
    charts: list[dict[str, Any]] = []
    n = len(modules)
    label = {m: f"M{int(m[1:])}" for m in modules}

    def has(*names: str) -> bool:
        return all(x in env for x in names)

    # SOC: the BMS's estimate with its bound beside the truth
    true_soc = [f"{m}_soc" for m in modules if f"{m}_soc" in env]
    bms_soc = [f"{m}_bms_soc" for m in modules if f"{m}_bms_soc" in env]
    if true_soc:
        series = [_series("true SOC", _mean(env, true_soc), color="#222222", scale=100.0, width=2)]
        bands = []
        if bms_soc:
            est = _mean(env, bms_soc) * 100.0
            bounds = [f"{m}_bms_soc_bound" for m in modules if f"{m}_bms_soc_bound" in env]
            bound = np.nanmax(np.stack([env[b].max for b in bounds]), axis=0) * 100.0 if bounds else 0.0 * est
            series.append(_series("BMS SOC", est, color="#1e88e5", width=1.5))
            series.append(_series("BMS SOC - bound", est - bound, color="#90caf9", dash=(3, 3), width=1))
            series.append(_series("BMS SOC + bound", est + bound, color="#90caf9", dash=(3, 3), width=1))
            bands.append({"series": [len(series) - 1, len(series) - 2], "fill": "rgba(30,136,229,0.15)"})
        charts.append({
            "kind": "time", "id": "soc", "title": "SOC (%): the BMS's estimate and its bound beside the true SOC",
            "series": series, "bands": bands,
            "note": "Bank means over the modules; the band is the BMS's own bound on its SOC error (the widest "
                    "module's)." if bms_soc else "No BMS in this run: the true SOC only.",
        })  # fmt: skip
        if isinstance(summary.get("storage"), Mapping):
            charts[-1]["note"] = _storage_note(summary["storage"])
        if n > 1:
            charts.append({
                "kind": "time", "id": "soc_modules", "title": "True SOC per module (%)",
                "series": [_series(label[m], env[f"{m}_soc"].mean, module=i, scale=100.0)
                           for i, m in enumerate(modules) if f"{m}_soc" in env],
            })  # fmt: skip
    # voltage and CVL
    if has("bus_voltage_v"):
        series = [_series("bus voltage", env["bus_voltage_v"].mean, color="#43a047", width=2)]
        if has("bank_cvl_v"):
            series.append(_series("CVL", env["bank_cvl_v"].mean, color="#e53935", dash=(6, 3)))
        charts.append({"kind": "time", "id": "voltage", "title": "Voltage (V) and the charge voltage limit",
                       "series": series})  # fmt: skip
    # current with CCL/DCL
    if has("bus_current_a"):
        series = [_series("bank current", env["bus_current_a"].mean, color="#3949ab", width=2)]
        if has("bank_ccl_a"):
            series.append(_series("CCL", env["bank_ccl_a"].mean, color="#e53935", dash=(6, 3)))
        if has("bank_dcl_a"):
            series.append(_series("-DCL", env["bank_dcl_a"].mean, color="#fb8c00", dash=(6, 3), scale=-1.0))
        charts.append({"kind": "time", "id": "current",
                       "title": "Current (A, + charging) with the charge and discharge current limits",
                       "series": series})  # fmt: skip
    split = [(i, m) for i, m in enumerate(modules) if f"{m}_current_a" in env]
    if split:
        charts.append({
            "kind": "time", "id": "current_split", "title": "The bank's current split: each module's current (A)",
            "series": [_series(label[m], env[f"{m}_current_a"].mean, module=i) for i, m in split],
            "note": "Modules that overlap differ in colour and dash; click a name in the legend to hide it.",
        })  # fmt: skip
    # power (home)
    lines = [("pv_w", "PV", "#f2a900"), ("load_w", "load", "#8c564b"), ("grid_w", "grid (import +)", "#1f77b4"),
             ("battery_w", "battery (charge +)", "#2ca02c")]  # fmt: skip
    if has("pv_w", "load_w") and str(summary.get("run", {}).get("scenario", "home")) != "lab":
        charts.append({
            "kind": "time", "id": "power", "title": "Power (kW)",
            "series": [_series(lbl, env[k].mean, color=c, scale=1e-3) for k, lbl, c in lines if k in env],
        })  # fmt: skip
    # daily energy
    if daily is not None and len(daily.day_s):
        lab = str(summary.get("run", {}).get("scenario", "")) == "lab"
        bars = [
            {"label": lbl, "color": c, "values": _values(daily.kwh[name], digits=3)}
            for name, lbl, c, _, _ in DAILY_QUANTITIES
            if name in daily.kwh and not (lab and name in _HOME_ONLY)
        ]
        charts.append({"kind": "bars", "id": "daily", "title": "Energy per day (kWh)",
                       "days": daily.day_s.tolist(), "series": bars})  # fmt: skip
    # cell spread
    spread = [(i, m) for i, m in enumerate(modules) if f"{m}_cell_spread_mv" in env]
    if spread:
        charts.append({
            "kind": "time", "id": "cell_spread", "title": "Cell spread: highest minus lowest cell of each module (mV)",
            "series": [_series(label[m], env[f"{m}_cell_spread_mv"].max, module=i) for i, m in spread],
            "note": " ".join(cells.lines(t0_s)) if cells is not None else "",
            "cells": {"highest": cells.highest._asdict() if cells and cells.highest else None,
                      "lowest": cells.lowest._asdict() if cells and cells.lowest else None},
        })  # fmt: skip
    # temperature
    temps = [(i, m) for i, m in enumerate(modules) if f"{m}_temp_max_c" in env]
    if temps or has("ambient_c"):
        series = [_series("ambient", env["ambient_c"].mean, color="#222222")] if has("ambient_c") else []
        series += [_series(f"{label[m]} warmest cell", env[f"{m}_temp_max_c"].max, module=i) for i, m in temps]
        charts.append({"kind": "time", "id": "temperature", "title": "Temperature (\u00b0C)", "series": series})
    # lab: voltage against Ah, step by step
    steps = summary.get("steps")
    if isinstance(steps, list) and has("bus_voltage_v", "bus_current_a"):
        xy = _voltage_against_ah(env, steps)
        if xy is not None:
            charts.insert(0, xy)  # a lab run's first question
    return {"title": title, "utc": True, "t": _values(t + t0_s, digits=0), "charts": charts}


def _voltage_against_ah(env: Mapping[str, Any], steps: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The bank voltage against the Ah moved since the start of each charge or discharge step (a lab run)."""
    t = np.asarray(env["bus_current_a"].t_s, dtype=np.float64)
    current = np.nan_to_num(env["bus_current_a"].mean)
    voltage = env["bus_voltage_v"].mean
    dt = np.diff(np.r_[t[0] - (t[1] - t[0]) if len(t) > 1 else 0.0, t])
    curves: list[tuple[str, FloatArray, FloatArray]] = []
    for step in steps:
        if not (step.get("charged_ah") or step.get("discharged_ah")):
            continue  # a rest moves no charge
        start = float(step.get("start_s", 0.0))
        inside = (t > start) & (t <= start + float(step.get("duration_s", 0.0)))
        if inside.sum() < 2:
            continue
        ah = np.abs(np.cumsum(current[inside] * dt[inside])) / 3600.0
        curves.append((f"step {step.get('step', len(curves) + 1)}: {step.get('text', '')}", ah, voltage[inside]))
    if not curves:
        return None
    x = np.unique(np.round(np.concatenate([c[1] for c in curves]), 2))
    series = []
    colors = ("#2ca02c", "#d62728", "#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
    for i, (name, ah, v) in enumerate(curves):
        column = np.full(len(x), np.nan)
        column[np.searchsorted(x, np.round(ah, 2))] = v
        series.append(_series(name, column, color=colors[i % len(colors)], width=2))
    return {
        "kind": "xy", "id": "voltage_ah", "title": "Bank voltage (V) against the charge moved in each step (Ah)",
        "xlabel": "Ah moved since the step started", "x": _values(x, digits=2), "series": series,
    }  # fmt: skip
