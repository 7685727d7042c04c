"""Per-cell health in plain words, from cell voltages and module currents sampled over days.

For every cell of every module:

- **first at the top**: in how many charges (module current above ``charge_a``) it was the highest cell when the
  first cell reached ``top_v`` (3.45 V, the BMS's absorption target per cell);
- **lowest at the bottom**: in how many discharges that went below ``bottom_v`` it was the lowest cell at the
  discharge's lowest point;
- **resistance**: the slope of its voltage against the module current over current steps (``|dI| >= step_a``
  between two samples at most ``step_max_s`` apart), least squares through the origin: the DC resistance over the
  sampling interval (R0 plus part of the RC pairs);
- **self-discharge trend**: in rests on the plateau (|I| below ``rest_a`` for ``rest_min_s``, SOC 20-90 %), the
  cell's voltage less the module's median cell, turned into charge by the OCV slope there (the BMS's data-sheet
  curve); the slope of that charge over days is how much more (or less) the cell loses per day than the module's
  median cell. As a ratio it is stated against the typical LFP self-discharge (2 %/month of 314 Ah at 25 degC,
  simulation.md 4.2), which the median cell is taken to have: voltages alone show differences, not absolutes.
  Balancing pulls the other cells down towards a leaky one, so the figure is a lower bound while the BMS balances.

Pure: arrays in (time passed in), a frozen report out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ml314.bms.ocv import OcvTable

__all__ = ["CellHealth", "CellHealthReport", "CellSeries", "HealthLimits", "analyse_cells"]

FloatArray = npt.NDArray[np.float64]
DAY_S = 86400.0
TYPICAL_SELF_DISCHARGE_AH_PER_DAY = 0.02 * 314.0 / 30.4375


@dataclass(frozen=True)
class CellSeries:
    """Samples in time order: ``t_s`` (n,), ``current_a`` (n, modules; positive charging), ``cell_v`` (n, modules,
    cells). NaN marks a missing value. ``exact`` (n, modules) says where the current is that very second's (None:
    everywhere); only exact pairs serve the resistance (a minute's average current would blur a step)."""

    t_s: FloatArray
    current_a: FloatArray
    cell_v: FloatArray
    module_ids: tuple[int, ...]
    exact: npt.NDArray[np.bool_] | None = None


@dataclass(frozen=True)
class HealthLimits:
    """Thresholds of the analysis and of what is said to stand out."""

    top_v: float = 3.45
    bottom_v: float = 3.10
    charge_a: float = 2.0
    rest_a: float = 1.0
    rest_min_s: float = 1800.0
    step_a: float = 15.0
    step_max_s: float = 30.0
    capacity_ah: float = 314.0
    #: a cell stands out when it is first/lowest in at least this share of at least ``min_events`` events
    share: float = 0.6
    min_events: int = 3
    resistance_ratio: float = 1.4
    self_discharge_ratio: float = 2.0
    min_rest_days: float = 2.0


@dataclass(frozen=True)
class CellHealth:
    """One cell's figures."""

    module_id: int
    cell: int  # 1..16
    first_at_top: int
    lowest_at_bottom: int
    resistance_ohm: float | None
    resistance_ratio: float | None  # over the module's median cell
    extra_loss_ah_per_day: float | None  # more than the module's median cell
    self_discharge_ratio: float | None  # against the typical rate the median cell is taken to have


@dataclass(frozen=True)
class CellHealthReport:
    """Every cell's figures, the number of charges and discharges seen per module, and the sentences."""

    cells: tuple[CellHealth, ...]
    charges: dict[int, int]
    discharges: dict[int, int]
    span_days: float
    findings: tuple[str, ...]
    limits: HealthLimits


def _segments(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """(start, end) index pairs of the runs of True (end exclusive)."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


def _tops(current: FloatArray, v: FloatArray, lim: HealthLimits) -> tuple[int, FloatArray]:
    """(charges that reached the top, count per cell of being highest then)."""
    counts = np.zeros(v.shape[1])
    n = 0
    for a, b in _segments(current > lim.charge_a):
        vmax = np.nanmax(v[a:b], axis=1)
        hit = np.flatnonzero(vmax >= lim.top_v)
        if hit.size:
            n += 1
            counts[int(np.nanargmax(v[a + hit[0]]))] += 1
    return n, counts


def _bottoms(current: FloatArray, v: FloatArray, lim: HealthLimits) -> tuple[int, FloatArray]:
    """(discharges that went below the bottom, count per cell of being lowest at the lowest point)."""
    counts = np.zeros(v.shape[1])
    n = 0
    for a, b in _segments(current < -lim.charge_a):
        vmin = np.nanmin(v[a:b], axis=1)
        if np.nanmin(vmin) <= lim.bottom_v:
            n += 1
            counts[int(np.nanargmin(v[a + int(np.nanargmin(vmin))]))] += 1
    return n, counts


def _resistance(
    t: FloatArray, current: FloatArray, v: FloatArray, exact: npt.NDArray[np.bool_], lim: HealthLimits
) -> FloatArray | None:
    """Per-cell least-squares slope of dV over dI across current steps, or None without steps."""
    dt = np.diff(t)
    di = np.diff(current)
    dv = np.diff(v, axis=0)
    ok = (dt <= lim.step_max_s) & (np.abs(di) >= lim.step_a) & np.all(np.isfinite(dv), axis=1) & np.isfinite(di)
    ok &= exact[1:] & exact[:-1]
    if np.count_nonzero(ok) < 3:
        return None
    return np.asarray((dv[ok] * di[ok, None]).sum(axis=0) / (di[ok] ** 2).sum())


def _rest_offsets(
    t: FloatArray, current: FloatArray, v: FloatArray, lim: HealthLimits, ocv: OcvTable
) -> tuple[FloatArray, FloatArray]:
    """(mid-time of each plateau rest, each cell's charge offset from the median cell then, Ah)."""
    soc = np.asarray(ocv.soc)
    ocv_v = np.asarray(ocv.ocv_v)
    times: list[float] = []
    offsets: list[FloatArray] = []
    for a, b in _segments(np.abs(current) < lim.rest_a):
        if t[b - 1] - t[a] < lim.rest_min_s:
            continue
        settled = t[a:b] >= t[a] + 0.5 * lim.rest_min_s  # the second half of the rest: relaxed
        block = v[a:b][settled]
        if not block.size:
            continue
        med = np.nanmedian(block, axis=1, keepdims=True)
        level = float(np.nanmedian(med))
        s = float(np.interp(level, ocv_v, soc))
        if not 0.2 <= s <= 0.9:
            continue
        slope_v = float(np.interp(s + 0.05, soc, ocv_v) - np.interp(s - 0.05, soc, ocv_v)) / 0.1  # V per unit SOC
        times.append(float(np.mean(t[a:b][settled])))
        offsets.append(np.nanmean(block - med, axis=0) / slope_v * lim.capacity_ah)
    if not times:
        return np.zeros(0), np.zeros((0, v.shape[1]))
    return np.asarray(times), np.vstack(offsets)


def analyse_cells(series: CellSeries, ocv: OcvTable, limits: HealthLimits | None = None) -> CellHealthReport:
    """Every cell's figures and the plain sentences about the cells that stand out."""
    lim = limits or HealthLimits()
    t = np.asarray(series.t_s, dtype=float)
    cells: list[CellHealth] = []
    findings: list[str] = []
    charges: dict[int, int] = {}
    discharges: dict[int, int] = {}
    for m, mid in enumerate(series.module_ids):
        cur = np.asarray(series.current_a[:, m], dtype=float)
        v = np.asarray(series.cell_v[:, m, :], dtype=float)
        n_top, top = _tops(cur, v, lim)
        n_bot, bot = _bottoms(cur, v, lim)
        charges[mid], discharges[mid] = n_top, n_bot
        exact = np.ones(t.size, dtype=bool) if series.exact is None else np.asarray(series.exact[:, m], dtype=bool)
        r = _resistance(t, cur, v, exact, lim)
        r_ratio = None if r is None else r / float(np.median(r))
        rest_t, rest_off = _rest_offsets(t, cur, v, lim, ocv)
        extra = None
        if rest_t.size >= 3 and (rest_t[-1] - rest_t[0]) / DAY_S >= lim.min_rest_days:
            days = (rest_t - rest_t[0]) / DAY_S
            slope = np.polyfit(days, rest_off, 1)[0]  # Ah/day, per cell
            extra = -(slope - np.median(slope))
        for c in range(v.shape[1]):
            sd_ratio = None
            if extra is not None:
                sd_ratio = max(0.0, 1.0 + float(extra[c]) / TYPICAL_SELF_DISCHARGE_AH_PER_DAY)
            cells.append(
                CellHealth(
                    module_id=mid,
                    cell=c + 1,
                    first_at_top=int(top[c]),
                    lowest_at_bottom=int(bot[c]),
                    resistance_ohm=None if r is None else float(r[c]),
                    resistance_ratio=None if r_ratio is None else float(r_ratio[c]),
                    extra_loss_ah_per_day=None if extra is None else float(extra[c]),
                    self_discharge_ratio=sd_ratio,
                )
            )
        findings += _sentences(cells[-v.shape[1] :], n_top, n_bot, lim)
    span = float((t[-1] - t[0]) / DAY_S) if t.size else 0.0
    return CellHealthReport(tuple(cells), charges, discharges, span, tuple(findings), lim)


def _sentences(cells: list[CellHealth], n_top: int, n_bot: int, lim: HealthLimits) -> list[str]:
    """One sentence per cell that stands out, its evidence joined by semicolons."""
    out: list[str] = []
    for c in cells:
        parts: list[str] = []
        if n_top >= lim.min_events and c.first_at_top >= lim.share * n_top:
            parts.append(f"reached {lim.top_v:.2f} V first in {c.first_at_top} of the last {n_top} charges")
        if n_bot >= lim.min_events and c.lowest_at_bottom >= lim.share * n_bot:
            parts.append(f"was the lowest cell at the bottom of {c.lowest_at_bottom} of the last {n_bot} discharges")
        if c.resistance_ratio is not None and c.resistance_ratio >= lim.resistance_ratio:
            parts.append(
                f"its resistance is {c.resistance_ratio:.1f}x the others' ({c.resistance_ohm * 1e3:.2f} mOhm)"  # type: ignore[operator]
            )
        if c.self_discharge_ratio is not None and c.self_discharge_ratio >= lim.self_discharge_ratio:
            parts.append(
                f"its self-discharge is {c.self_discharge_ratio:.0f}x the others' (it loses "
                f"{c.extra_loss_ah_per_day:.2f} Ah a day more)"
            )
        if parts:
            joint = ": " if parts[0].startswith("its") else " "
            out.append(f"module {c.module_id}, cell {c.cell}{joint}" + "; ".join(parts))
    return out
