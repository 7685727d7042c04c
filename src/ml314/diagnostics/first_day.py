"""The first day of a new installation, from its history's daily buckets (pure): what the installer report shows.

:data:`FIELDS` is what to ask the history for (bank series, one bucket per day); :func:`first_day` takes the columns
(``t_s`` plus one list per field, None where nothing was stored) and returns the first day that has data, and the
highest SOC of the whole range (the initial-charge check reads it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["DAY_S", "FIELDS", "FirstDay", "first_day", "max_soc_pct"]

DAY_S = 86_400
#: the bank fields of one daily bucket the report shows
FIELDS = (
    "soc_pct:min",
    "soc_pct:max",
    "cell_min_v:min",
    "cell_max_v:max",
    "cell_temp_max_c:max",
    "cell_temp_min_c:min",
    "charged_kwh:min",
    "charged_kwh:max",
    "discharged_kwh:min",
    "discharged_kwh:max",
    "alarms:max",
    "protections:max",
)


@dataclass(frozen=True, slots=True)
class FirstDay:
    """The first day with data: its start (epoch s, UTC day), SOC range, cell voltage and temperature extremes,
    energy charged and discharged within it, and the most alarms / protections active at once."""

    day_start_s: int
    soc_min_pct: float
    soc_max_pct: float
    cell_min_v: float
    cell_max_v: float
    cell_temp_min_c: float
    cell_temp_max_c: float
    charged_kwh: float
    discharged_kwh: float
    alarms_max: int
    protections_max: int


def _num(column: Sequence[float | None] | None, i: int) -> float:
    if column is None or i >= len(column):
        return math.nan
    value = column[i]
    return math.nan if value is None else float(value)


def first_day(columns: Mapping[str, Sequence[float | None]]) -> FirstDay | None:
    """The first daily bucket with a stored SOC; None when there is none."""
    t = columns.get("t_s") or []
    for i in range(len(t)):
        soc = _num(columns.get("soc_pct:max"), i)
        if math.isnan(soc):
            continue

        def col(name: str, i: int = i) -> float:
            return _num(columns.get(name), i)

        def increase(name: str) -> float:
            hi, lo = col(f"{name}:max"), col(f"{name}:min")
            return 0.0 if math.isnan(hi) or math.isnan(lo) else max(0.0, hi - lo)

        return FirstDay(
            day_start_s=int(_num(t, i)),
            soc_min_pct=col("soc_pct:min"),
            soc_max_pct=soc,
            cell_min_v=col("cell_min_v:min"),
            cell_max_v=col("cell_max_v:max"),
            cell_temp_min_c=col("cell_temp_min_c:min"),
            cell_temp_max_c=col("cell_temp_max_c:max"),
            charged_kwh=increase("charged_kwh"),
            discharged_kwh=increase("discharged_kwh"),
            alarms_max=int(0 if math.isnan(col("alarms:max")) else col("alarms:max")),
            protections_max=int(0 if math.isnan(col("protections:max")) else col("protections:max")),
        )
    return None


def max_soc_pct(columns: Mapping[str, Sequence[float | None]]) -> float | None:
    """The highest SOC over every bucket; None without any."""
    values = [v for v in columns.get("soc_pct:max") or [] if v is not None and not math.isnan(v)]
    return max(values) if values else None
