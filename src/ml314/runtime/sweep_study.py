"""A sizing study: the grid (or list) of cases ``ml314 sweep`` runs, read from a study file and options.

A study file is TOML, read through the project's one configuration boundary (:func:`ml314.domain.tree.read_dataclass`:
unknown keys are refused with the nearest valid one, every value checked by its field's type, then ``validate()``):

    name = "a house of 4500 kWh"
    seed = 1
    sample_s = "1h"              # the time series each case writes (the table holds the sums)
    with_link = false            # absent: as `ml314 simulate` (the bank link on for 2+ modules)

    [grid]                       # every combination of these axes is a case
    modules = [1, 2, 4, 8, 16]
    pv_kw = [5, 10]
    load_kwh = [4500]            # or load_csv = ["house.csv", ...] (paths relative to the study file)
    inverter_kw = [8]
    mode = ["self-consumption"]  # or "backup"
    reserve = [0.2]
    weather = ["mixed"]          # the climate: sunny, cloudy, mixed ...
    ambient_c = []               # ... and a constant ambient (empty: the seasonal profile of twin/home.py)
    start_day = [80]
    years = [1]                  # or days = [0.25] for short cases

    [[cases]]                    # optional: a list of cases, each crossed with the grid axes it does not set
    modules = 4
    pv_kw = 8

    [tariff]                     # optional economics
    import_per_kwh = 0.30
    export_per_kwh = 0.08
    module_price = 2500
    currency = "EUR"

Every case is one :class:`Case`: everything one ``ml314 simulate`` run of the home scenario needs, with an id
that is a hash of exactly those inputs (so a finished case is recognised when the study is run again, and a changed
input makes a new case).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ml314.domain.spec import ML314
from ml314.domain.tree import Section, read_dataclass
from ml314.errors import ConfigError
from ml314.runtime.simulation import SimulationRequest
from ml314.twin.home import HomeMode, InverterSpec

__all__ = ["AXES", "Axes", "Case", "CaseSpec", "Study", "Tariff", "read_study"]

DAYS_PER_YEAR = 365.0
WEATHERS = ("sunny", "cloudy", "mixed")


@dataclass(frozen=True)
class Axes:
    """The grid: every combination of these values is a case (``load_csv``, when given, replaces ``load_kwh``;
    ``days``, when given, replaces ``years``; an empty ``ambient_c`` means the seasonal ambient profile)."""

    modules: tuple[int, ...] = (1,)
    pv_kw: tuple[float, ...] = (8.0,)
    load_kwh: tuple[float, ...] = ()  # empty: simulate's default (4500 kWh), unless load_csv is given
    load_csv: tuple[Path, ...] = ()
    inverter_kw: tuple[float, ...] = (8.0,)
    mode: tuple[HomeMode, ...] = ("self-consumption",)
    reserve: tuple[float, ...] = (0.2,)
    weather: tuple[str, ...] = ("mixed",)
    ambient_c: tuple[float, ...] = ()
    start_day: tuple[int, ...] = (80,)
    years: tuple[float, ...] = ()  # empty: one year, unless days is given
    days: tuple[float, ...] = ()

    def validate(self) -> None:
        """Refuse values no case can run with, naming the key."""
        _check_values("grid", asdict(self))


@dataclass(frozen=True)
class CaseSpec:
    """One entry of ``[[cases]]``: the values it sets (None: every value of the grid's axis)."""

    modules: int | None = None
    pv_kw: float | None = None
    load_kwh: float | None = None
    load_csv: Path | None = None
    inverter_kw: float | None = None
    mode: HomeMode | None = None
    reserve: float | None = None
    weather: str | None = None
    ambient_c: float | None = None
    start_day: int | None = None
    years: float | None = None
    days: float | None = None

    def validate(self) -> None:
        """Refuse values no case can run with, naming the key."""
        _check_values("cases", {k: () if v is None else (v,) for k, v in asdict(self).items()})


#: each axis: (the check a value must pass, what the message says it must be)
_RULES: dict[str, tuple[Any, str]] = {
    "modules": (lambda v: 1 <= v <= ML314.max_modules_in_parallel, f"1..{ML314.max_modules_in_parallel}"),
    "pv_kw": (lambda v: v >= 0.0, ">= 0"),
    "load_kwh": (lambda v: v >= 0.0, ">= 0"),
    "load_csv": (lambda v: Path(v).is_file(), "an existing file"),
    "inverter_kw": (lambda v: v > 0.0, "> 0"),
    "mode": (lambda v: True, ""),
    "reserve": (lambda v: 0.0 <= v < 1.0, "0..1 (below 1)"),
    "weather": (lambda v: v in WEATHERS, " or ".join(WEATHERS)),
    "ambient_c": (lambda v: -40.0 <= v <= 70.0, "-40..70 degC"),
    "start_day": (lambda v: 1 <= v <= 366, "1..366"),
    "years": (lambda v: 0.0 < v <= 10.0, "in (0, 10]"),
    "days": (lambda v: 0.0 < v <= 3650.0, "in (0, 3650]"),
}
#: what an empty axis means (None: not set, the case takes simulate's own default or another axis)
_UNSET: dict[str, Any] = {"load_kwh": SimulationRequest.annual_load_kwh, "years": 1.0}
#: the axes, in the order cases are expanded and the table's input columns are written
AXES = tuple(_RULES)


def _check_values(table: str, values: Mapping[str, Any]) -> None:
    for key, rule in _RULES.items():
        ok, must = rule
        for v in values[key]:
            if not ok(v):
                raise ConfigError(f"{table}.{key} (--{key.replace('_', '-')}): {_shown(v)} is not {must}")


def _shown(v: Any) -> str:
    return str(v) if isinstance(v, Path) else repr(v)


@dataclass(frozen=True)
class Tariff:
    """Grid prices per kWh and the price of a module; economics are computed when ``import_per_kwh`` is given."""

    import_per_kwh: float | None = None
    export_per_kwh: float = 0.0
    module_price: float | None = None
    currency: str = ""

    @property
    def given(self) -> bool:
        """Whether the study asks for economics."""
        return self.import_per_kwh is not None

    def validate(self) -> None:
        """Prices are finite and not negative."""
        for name in ("import_per_kwh", "export_per_kwh", "module_price"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0.0):
                raise ConfigError(f"tariff.{name}: {value!r} must be a number >= 0")


def _cases(raw: Any, where: str) -> tuple[CaseSpec, ...]:
    if raw is None:
        return ()
    if isinstance(raw, tuple) and all(isinstance(c, CaseSpec) for c in raw):
        return raw
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: expected an array of tables ([[cases]])")
    return tuple(read_dataclass(CaseSpec, Section(table, f"{where}[{i}]")) for i, table in enumerate(raw))


@dataclass(frozen=True)
class Study:
    """A study: the settings every case shares, the grid, the listed cases, the tariff."""

    name: str = "study"
    seed: int = 1
    with_link: bool | None = None  # None: as `ml314 simulate` (the bank link for 2+ modules)
    sample_s: float = 3600.0
    initial_soc: float = 0.5
    outages: float = 1.0  # grid outages per month (mean)
    outage_hours: float = 3.0
    estimator: str | None = None
    knee_autarky_pp: float = 1.0  # without a tariff, another module "pays" while it adds at least this autarky
    payback_horizon_years: float = 15.0  # with a tariff, another module pays if its savings repay it within this
    grid: Axes = field(default_factory=Axes)
    cases: tuple[CaseSpec, ...] = ()
    tariff: Tariff = field(default_factory=Tariff)

    def validate(self) -> None:
        """Refuse shared settings no case can run with."""
        checks = (
            (0.0 <= self.initial_soc <= 1.0, f"initial_soc: {self.initial_soc!r} must be 0..1"),
            (60.0 <= self.sample_s <= 86400.0, f"sample_s: {self.sample_s:g} s must be 1 min .. 1 day"),
            (self.outages >= 0.0, f"outages: {self.outages!r} cannot be negative"),
            (self.outage_hours > 0.0, f"outage_hours: {self.outage_hours!r} must be positive"),
            (self.knee_autarky_pp >= 0.0, f"knee_autarky_pp: {self.knee_autarky_pp!r} cannot be negative"),
            (self.payback_horizon_years > 0.0, f"payback_horizon_years: {self.payback_horizon_years!r} must be > 0"),
        )
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        if self.grid.load_csv and self.grid.load_kwh:
            raise ConfigError("grid.load_kwh and grid.load_csv: give one of them (a CSV fixes the consumption)")
        if self.grid.days and self.grid.years:
            raise ConfigError("grid.years and grid.days: give one of them")
        SimulationRequest(estimator=self.estimator).validate()  # a known estimator, by its own rule

    def expand(self) -> list[Case]:
        """Every case, in a stable order: each listed case (or one that sets nothing) crossed with the grid axes
        it does not set; repeats are dropped."""
        out: dict[str, Case] = {}
        for spec in self.cases or (CaseSpec(),):
            axes = {name: self._axis(spec, name) for name in AXES}
            for combo in itertools.product(*axes.values()):
                case = self._case(dict(zip(axes, combo, strict=True)))
                out.setdefault(case.case_id, case)
        return list(out.values())

    def _axis(self, spec: CaseSpec, name: str) -> tuple[Any, ...]:
        own = getattr(spec, name)
        if own is not None:
            return (own,)
        csv_given = spec.load_csv is not None or bool(self.grid.load_csv)
        days_given = spec.days is not None or bool(self.grid.days)
        if (name == "load_kwh" and csv_given) or (name == "years" and days_given):
            return (None,)
        values: tuple[Any, ...] = getattr(self.grid, name)
        return values or (_UNSET.get(name),)

    def _case(self, v: Mapping[str, Any]) -> Case:
        days = v["days"] if v["days"] is not None else v["years"] * DAYS_PER_YEAR
        return Case(
            modules=v["modules"],
            pv_kw=float(v["pv_kw"]),
            load_kwh=None if v["load_kwh"] is None else float(v["load_kwh"]),
            load_csv=None if v["load_csv"] is None else str(Path(v["load_csv"]).resolve()),
            inverter_kw=float(v["inverter_kw"]),
            mode=v["mode"],
            reserve=float(v["reserve"]),
            weather=v["weather"],
            ambient_c=None if v["ambient_c"] is None else float(v["ambient_c"]),
            start_day=v["start_day"],
            days=float(days),
            seed=self.seed,
            with_link=self.with_link,
            sample_s=self.sample_s,
            initial_soc=self.initial_soc,
            outages=self.outages,
            outage_hours=self.outage_hours,
            estimator=self.estimator,
        )


@dataclass(frozen=True)
class Case:
    """One case: one full ``ml314 simulate`` run of the home scenario with every module's BMS."""

    modules: int
    pv_kw: float
    load_kwh: float | None
    load_csv: str | None
    inverter_kw: float
    mode: HomeMode
    reserve: float
    weather: str
    ambient_c: float | None
    start_day: int
    days: float
    seed: int
    with_link: bool | None
    sample_s: float
    initial_soc: float
    outages: float
    outage_hours: float
    estimator: str | None

    @property
    def case_id(self) -> str:
        """A short hash of every input: the same inputs, the same id (what a resumed study recognises)."""
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def years(self) -> float:
        """The simulated span in years of 365 days."""
        return self.days / DAYS_PER_YEAR

    def inputs(self) -> dict[str, Any]:
        """The case's inputs as table columns (the id first)."""
        return {"case_id": self.case_id, **asdict(self), "years": self.years}

    def request(self) -> SimulationRequest:
        """The ``ml314 simulate`` request of this case (the home scenario, the BMS on)."""
        return SimulationRequest(
            scenario="home",
            modules=self.modules,
            days=self.days,
            sample_s=self.sample_s,
            seed=self.seed,
            initial_soc=self.initial_soc,
            start_day_of_year=self.start_day,
            weather=self.weather,
            pv_peak_kw=self.pv_kw,
            annual_load_kwh=self.load_kwh if self.load_kwh is not None else SimulationRequest.annual_load_kwh,
            load_csv=None if self.load_csv is None else Path(self.load_csv),
            outages_per_month=self.outages,
            mean_outage_h=self.outage_hours,
            ambient_c=self.ambient_c,
            inverter=InverterSpec(max_power_w=self.inverter_kw * 1000.0, mode=self.mode, reserve_soc=self.reserve),
            bms=True,
            estimator=self.estimator,
            link=self.with_link,
        )


#: study fields a command-line option sets, by option name (the grid's axes are named as their options)
STUDY_FIELDS = tuple(f.name for f in fields(Study) if f.name not in ("grid", "cases", "tariff"))


def read_study(path: Path | None, overrides: Mapping[str, Any] | None = None) -> Study:
    """The study in ``path`` (None: defaults only), then ``overrides`` (field -> value; the grid's axes under
    ``"grid"``), which win. Relative ``load_csv`` paths in the file are taken from the file's folder."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such study file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read ({exc})") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from None
        _anchor_csvs(data, path.parent)
    root = Section(data, "", f"{path}: " if path is not None else "")
    return read_dataclass(Study, root, overrides, convert={"cases": _cases})


def _anchor_csvs(data: dict[str, Any], folder: Path) -> None:
    """Relative ``load_csv`` paths of a study file mean relative to the file."""

    def anchor(value: Any) -> Any:
        return str(folder / value) if isinstance(value, str) and not Path(value).is_absolute() else value

    grid = data.get("grid")
    if isinstance(grid, dict) and isinstance(grid.get("load_csv"), list):
        grid["load_csv"] = [anchor(v) for v in grid["load_csv"]]
    cases = data.get("cases")
    if isinstance(cases, list):
        for case in cases:
            if isinstance(case, dict) and "load_csv" in case:
                case["load_csv"] = anchor(case["load_csv"])
