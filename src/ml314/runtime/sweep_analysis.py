"""What a sweep's rows say together: the economics of a tariff, and the knee where another module stops paying.

* **Economics** (when the study names a tariff): the grid bill per year with the battery, and without it (the same
  home with PV and no battery, ``twin/home.grid_without_battery``); the savings are the difference, the simple
  payback the modules' price over the yearly savings. A case shorter than a year is scaled to a year (its season
  then stands for the whole year).
* **The knee**: cases that differ only in their module count form a *series*. Going from one module count to the
  next, another module pays when (with a tariff and a module price) its extra savings repay its price within
  ``payback_horizon_years``, or (otherwise) when it adds at least ``knee_autarky_pp`` percentage points of autarky.
  The knee of a series is the module count after which the next module no longer pays.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ml314.runtime.sweep_study import AXES, DAYS_PER_YEAR, Study, Tariff

__all__ = ["Series", "analyse", "series_of"]

#: the inputs that make a series (every axis but the module count; load_kwh and load_csv both, one is None)
_SERIES_KEYS = (*(a for a in AXES if a not in ("modules", "years")), "seed", "with_link")


#: the columns a series adds to each row after its first (None on the first)
_MARGINAL = ("marginal_autarky_pp_per_module", "marginal_savings_per_module", "module_pays")


@dataclass(frozen=True)
class Series:
    """Cases that differ only in their module count, finished ones in module order."""

    key: tuple[Any, ...]
    label: str
    rows: tuple[dict[str, Any], ...]
    knee_modules: int | None


def _economics(row: dict[str, Any], tariff: Tariff) -> None:
    if not tariff.given or row.get("error") is not None:
        return
    assert tariff.import_per_kwh is not None
    per_year = DAYS_PER_YEAR / row["days"]

    def bill(imported: float, exported: float) -> float:
        assert tariff.import_per_kwh is not None
        return float((imported * tariff.import_per_kwh - exported * tariff.export_per_kwh) * per_year)

    row["annual_cost"] = bill(row["grid_import_kwh"], row["grid_export_kwh"])
    row["annual_cost_without_battery"] = bill(row["ref_grid_import_kwh"], row["ref_grid_export_kwh"])
    savings = row["annual_cost_without_battery"] - row["annual_cost"]
    row["annual_savings"] = savings
    if tariff.module_price is not None:
        price = row["modules"] * tariff.module_price
        row["battery_price"] = price
        row["payback_years"] = price / savings if savings > 0 else None


def _label(key: Mapping[str, Any], varying: Sequence[str]) -> str:
    names = {"pv_kw": "PV {} kW", "load_kwh": "load {} kWh", "inverter_kw": "inverter {} kW", "reserve": "reserve {}",
             "ambient_c": "{} degC", "start_day": "day {}", "days": "{} d", "load_csv": "{}"}  # fmt: skip
    parts = []
    for name in varying:
        value = key[name]
        shown = f"{value:g}" if isinstance(value, float) else str(value).rsplit("/", 1)[-1]
        parts.append(names.get(name, "{}").format(shown))
    return ", ".join(parts) or "all cases"


def series_of(rows: Sequence[dict[str, Any]]) -> list[Series]:
    """The finished rows grouped into series (see the module docstring), without the knee."""
    ok = [r for r in rows if r.get("error") is None]
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in ok:
        groups.setdefault(tuple(row.get(k) for k in _SERIES_KEYS), []).append(row)
    varying = [k for i, k in enumerate(_SERIES_KEYS) if len({key[i] for key in groups}) > 1]
    return [
        Series(key, _label(dict(zip(_SERIES_KEYS, key, strict=True)), varying), tuple(sorted(g, key=_modules)), None)
        for key, g in groups.items()
    ]


def _modules(row: Mapping[str, Any]) -> int:
    return int(row["modules"])


def _knee(series: Series, study: Study) -> Series:
    rows = series.rows
    knee = rows[0]["modules"] if rows else None
    paying = True
    priced = study.tariff.given and study.tariff.module_price is not None
    for row in rows:
        row.update(dict.fromkeys(_MARGINAL))
    for prev, row in itertools.pairwise(rows):
        added = row["modules"] - prev["modules"]
        if row["autarky_pct"] is None or prev["autarky_pct"] is None:  # no load: autarky means nothing
            paying = False
            continue
        row["marginal_autarky_pp_per_module"] = (row["autarky_pct"] - prev["autarky_pct"]) / added
        if priced:
            assert study.tariff.module_price is not None
            row["marginal_savings_per_module"] = (row["annual_savings"] - prev["annual_savings"]) / added
            pays = row["marginal_savings_per_module"] * study.payback_horizon_years >= study.tariff.module_price
        else:
            pays = row["marginal_autarky_pp_per_module"] >= study.knee_autarky_pp
        row["module_pays"] = pays
        paying = paying and pays
        if paying:
            knee = row["modules"]
    for row in rows:
        row["knee_modules"] = knee
        row["series"] = series.label
    return Series(series.key, series.label, rows, knee)


def analyse(rows: Sequence[dict[str, Any]], study: Study) -> tuple[list[dict[str, Any]], list[Series]]:
    """The rows with economics and knee columns added (copies), and the series with their knees."""
    out = [dict(r) for r in rows]
    for row in out:
        _economics(row, study.tariff)
    series = [_knee(s, study) for s in series_of(out)]
    return out, series
