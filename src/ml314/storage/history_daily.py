"""Energy per day from the history: the charged and discharged counters (``charged_kwh``, ``discharged_kwh``,
cumulative) turned into what each calendar day added.

The day is the caller's (``utc_offset_s`` east of UTC: the browser's offset). The counters are read from the 15-min
tier (kept forever by default): each bucket adds its maximum minus the previous bucket's maximum; a counter that
went down (a new device, a reset) starts again from the bucket's minimum, so a reset never yields a negative day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ml314.storage.history import HistoryStore

__all__ = ["COUNTERS", "DailyHistory", "daily_history"]

#: the cumulative counters of the bank series that are summed per day
COUNTERS = ("charged_kwh", "discharged_kwh")
_DAY_S = 86400
_BUCKET_S = 900


@dataclass(frozen=True)
class DailyHistory:
    """``day_s``: the epoch second each day starts (in the caller's offset); ``kwh``: what each counter added."""

    day_s: list[int]
    kwh: dict[str, list[float]]


def increments(low: npt.NDArray[np.float64], high: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """What each bucket added to a counter, given its minimum and maximum per bucket (NaN: no sample)."""
    # the last bucket with a value before each bucket (buckets without samples are skipped over)
    idx = np.where(np.isfinite(high), np.arange(len(high)), -1)
    last = np.maximum.accumulate(np.r_[-1, idx[:-1]])
    prev = np.where(last >= 0, high[np.maximum(last, 0)], np.nan)
    ok_prev = np.isfinite(prev)
    step = np.where(ok_prev & (high >= prev), high - prev, high - low)
    return np.where(np.isfinite(step), np.maximum(step, 0.0), 0.0)


def daily_history(store: HistoryStore, t_from_s: float, t_to_s: float, utc_offset_s: int = 0) -> DailyHistory:
    """The energy charged and discharged on each day of ``[t_from_s, t_to_s)`` (days in ``utc_offset_s``)."""
    first_day = math.floor((t_from_s + utc_offset_s) / _DAY_S) * _DAY_S - utc_offset_s
    fields = [f"{c}:{a}" for c in COUNTERS for a in ("min", "max")]
    result = store.query(first_day - _DAY_S, t_to_s, fields, _BUCKET_S)
    t = result.columns["t_s"]
    day = (t + utc_offset_s) // _DAY_S
    keep = t >= first_day
    days = np.unique(day[keep])
    out: dict[str, list[float]] = {}
    for c in COUNTERS:
        inc = increments(result.columns[f"{c}:min"], result.columns[f"{c}:max"])
        out[c] = [float(inc[keep & (day == d)].sum()) for d in days]
    return DailyHistory([int(d * _DAY_S - utc_offset_s) for d in days], out)
