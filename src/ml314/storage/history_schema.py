"""The history database's tables, as one table of fields per series and one row per tier (docs/history.md).

Three series, each a raw table and coarser tiers maintained from it as data arrives:

    series   key                 raw step   tiers (average, minimum, maximum and sample count per bucket)
    bank     t_s                 1 s        1 min, 5 min, 15 min
    module   t_s, module_id      1 s        1 min, 5 min, 15 min
    cell     t_s, module_id      10 s       15 min

``t_s`` is wall-clock epoch seconds (an integer: the start of the bucket in a tier). Values are stored as 4-byte
floats where the database has them (PostgreSQL ``real``); SQLite stores every REAL in 8 bytes.
A field is read as ``name`` (the bucket's average; for a code such as ``state`` its highest value), ``name:min``
or ``name:max``; index fields (which cell is highest) exist only in the raw table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa

from ml314.bms.states import BmsState

__all__ = [
    "AGGREGATES",
    "CELLS",
    "SERIES",
    "STATE_CODES",
    "STATE_NAMES",
    "TIERS",
    "FieldSpec",
    "Series",
    "Tier",
    "meta_table",
    "metadata",
]

Kind = Literal["value", "code", "index"]
#: what a tier keeps of a field of each kind
AGGREGATES: dict[Kind, tuple[str, ...]] = {"value": ("avg", "min", "max"), "code": ("max",), "index": ()}
CELLS = 16
#: the BMS state as stored (BmsState's value: a higher code is the more severe state)
STATE_CODES = {s.name.lower(): int(s.value) for s in BmsState}
STATE_NAMES = {code: name for name, code in STATE_CODES.items()}


@dataclass(frozen=True)
class FieldSpec:
    """One stored quantity: its column name (with the unit), unit and meaning."""

    name: str
    unit: str
    description: str
    kind: Kind = "value"


@dataclass(frozen=True)
class Series:
    """One raw table: its key columns beyond ``t_s``, its sampling step and fields."""

    name: str
    per_module: bool
    raw_step_s: int
    fields: tuple[FieldSpec, ...]

    def field(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)


@dataclass(frozen=True)
class Tier:
    """One table of a series: raw (``source`` None) or aggregated from the next finer tier every ``step_s``."""

    series: Series
    step_s: int
    source: Tier | None
    table: sa.Table

    @property
    def is_raw(self) -> bool:
        return self.source is None

    def columns_of(self, f: FieldSpec) -> tuple[str, ...]:
        """The table's columns holding field ``f``."""
        if self.is_raw:
            return (f.name,)
        return tuple(f"{f.name}_{a}" for a in AGGREGATES[f.kind])


_V = "value"
BANK = Series(
    "bank",
    per_module=False,
    raw_step_s=1,
    fields=(
        FieldSpec("voltage_v", "V", "bank voltage the master presents"),
        FieldSpec("current_a", "A", "bank current, positive charging"),
        FieldSpec("power_w", "W", "voltage x current, positive charging"),
        FieldSpec("soc_pct", "%", "bank SOC the master presents"),
        FieldSpec("soc_bound_pct", "%", "the BMS's bound on |SOC error|, percent points"),
        FieldSpec("soh_pct", "%", "bank SOH"),
        FieldSpec("temperature_c", "degC", "bank temperature the master presents"),
        FieldSpec("cell_min_v", "V", "lowest cell voltage of the bank"),
        FieldSpec("cell_max_v", "V", "highest cell voltage of the bank"),
        FieldSpec("cell_temp_min_c", "degC", "lowest cell temperature of the bank"),
        FieldSpec("cell_temp_max_c", "degC", "highest cell temperature of the bank"),
        FieldSpec("cvl_v", "V", "charge voltage limit presented"),
        FieldSpec("dvl_v", "V", "discharge voltage limit presented"),
        FieldSpec("ccl_a", "A", "charge current limit presented"),
        FieldSpec("dcl_a", "A", "discharge current limit presented"),
        FieldSpec("modules_online", "", "modules the master presents"),
        FieldSpec("alarms", "", "alarms active (count)"),
        FieldSpec("protections", "", "protections active (count)"),
        FieldSpec("charged_kwh", "kWh", "energy charged, cumulative"),
        FieldSpec("discharged_kwh", "kWh", "energy discharged, cumulative"),
        FieldSpec("peer_soc_pct", "%", "SOC as the inverter peer decoded it (empty without a peer)"),
        FieldSpec("peer_cvl_v", "V", "CVL as the inverter peer decoded it"),
        FieldSpec("peer_ccl_a", "A", "CCL as the inverter peer decoded it"),
        FieldSpec("peer_dcl_a", "A", "DCL as the inverter peer decoded it"),
    ),
)
MODULE = Series(
    "module",
    per_module=True,
    raw_step_s=1,
    fields=(
        FieldSpec("voltage_v", "V", "module voltage"),
        FieldSpec("current_a", "A", "module current, positive charging"),
        FieldSpec("soc_pct", "%", "module SOC (the BMS's estimate)"),
        FieldSpec("soc_bound_pct", "%", "the BMS's bound on |SOC error|, percent points"),
        FieldSpec("soh_pct", "%", "module SOH"),
        FieldSpec("cell_min_v", "V", "lowest cell voltage"),
        FieldSpec("cell_min_index", "", "which cell (1..16) is lowest", "index"),
        FieldSpec("cell_max_v", "V", "highest cell voltage"),
        FieldSpec("cell_max_index", "", "which cell (1..16) is highest", "index"),
        FieldSpec("temp_min_c", "degC", "lowest cell temperature sensor"),
        FieldSpec("temp_max_c", "degC", "highest cell temperature sensor"),
        FieldSpec("temp_mosfet_c", "degC", "MOSFET temperature"),
        FieldSpec("temp_board_c", "degC", "BMS board temperature"),
        FieldSpec("state", "", "BMS state (" + ", ".join(STATE_CODES) + "); a bucket shows its most severe", "code"),
        FieldSpec("cvl_v", "V", "the module's charge voltage limit"),
        FieldSpec("ccl_a", "A", "the module's charge current limit"),
        FieldSpec("dcl_a", "A", "the module's discharge current limit"),
        FieldSpec("alarms", "", "alarms active (count)"),
        FieldSpec("online", "", "1 while the master presents the module (a bucket: the fraction of time)"),
    ),
)
CELL = Series(
    "cell",
    per_module=True,
    raw_step_s=10,
    fields=tuple(FieldSpec(f"cell_{i}_v", "V", f"voltage of cell {i}") for i in range(1, CELLS + 1)),
)
SERIES = {s.name: s for s in (BANK, MODULE, CELL)}

metadata = sa.MetaData()
meta_table = sa.Table(
    "history_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(256), nullable=False),
)


def _table(series: Series, step_s: int, raw: bool) -> sa.Table:
    name = f"history_{series.name}_{_step_name(step_s)}"
    cols: list[sa.Column[object]] = [sa.Column("t_s", sa.BigInteger, primary_key=True, autoincrement=False)]
    if series.per_module:
        cols.append(sa.Column("module_id", sa.SmallInteger, primary_key=True, autoincrement=False))
    if not raw:
        cols.append(sa.Column("n", sa.Integer, nullable=False))
    for f in series.fields:
        if raw:
            cols.append(sa.Column(f.name, sa.SmallInteger if f.kind != "value" else sa.REAL))
        else:
            for agg in AGGREGATES[f.kind]:
                cols.append(sa.Column(f"{f.name}_{agg}", sa.SmallInteger if f.kind != "value" else sa.REAL))
    return sa.Table(name, metadata, *cols, sqlite_with_rowid=False)


def _step_name(step_s: int) -> str:
    return f"{step_s // 60}m" if step_s >= 60 and step_s % 60 == 0 else f"{step_s}s"


def _tiers() -> tuple[Tier, ...]:
    out: list[Tier] = []
    for series, steps in ((BANK, (60, 300, 900)), (MODULE, (60, 300, 900)), (CELL, (900,))):
        tier = Tier(series, series.raw_step_s, None, _table(series, series.raw_step_s, raw=True))
        out.append(tier)
        for step in steps:
            tier = Tier(series, step, tier, _table(series, step, raw=False))
            out.append(tier)
    return tuple(out)


#: every table, finest first within each series
TIERS = _tiers()
