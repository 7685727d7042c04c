"""Reading the history: validate a request, pick the table for its step, return columns or stream them out.

A request names a range ``[t_from_s, t_to_s)`` in epoch seconds, fields (``voltage_v``, ``voltage_v:min``,
``voltage_v:max``), a step in seconds and a scope: the bank (``module_id=None``), one module (its ID), or every
module (``"all"``, long format with a ``module_id`` column). The coarsest table whose step divides the requested
step serves it (a week at 5 min reads the 1-min tier); buckets are ``t_s // step * step``. Per-cell fields
(``cell_1_v`` ... ``cell_16_v``) are their own series and cannot be mixed with module fields in one request.
A bad request raises :class:`HistoryQueryError`, naming the parameter and the nearest valid value.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import sqlalchemy as sa

from ml314.errors import InputError
from ml314.storage.history_schema import AGGREGATES, SERIES, STATE_NAMES, TIERS, FieldSpec, Series, Tier

__all__ = [
    "AUTO_POINTS",
    "STEPS_S",
    "HistoryQueryError",
    "HistoryResult",
    "QueryPlan",
    "aggregate",
    "field_names",
    "plan",
    "run",
    "run_chunks",
    "write_csv",
    "write_parquet",
]

#: the steps chosen when none is asked for (the smallest giving at most AUTO_POINTS buckets)
STEPS_S = (1, 10, 60, 300, 900, 3600, 6 * 3600, 86400)
AUTO_POINTS = 1000
_DEFAULT_AGG = {"value": "avg", "code": "max", "index": "max"}


class HistoryQueryError(InputError):
    """A history request that cannot be served: ``param`` is the parameter at fault (a field name for a bad
    field), ``code`` a short machine-readable reason."""

    def __init__(self, message: str, param: str, code: str = "bad_request") -> None:
        super().__init__(message)
        self.param = param
        self.code = code


@dataclass(frozen=True)
class Request:
    """One output column: the name asked for, its field and the aggregate."""

    name: str
    spec: FieldSpec
    agg: str


@dataclass(frozen=True)
class QueryPlan:
    series: Series
    tier: Tier
    t_from_s: int
    t_to_s: int
    step_s: int
    module_id: int | None  # None with all_modules False: the bank
    all_modules: bool
    requests: tuple[Request, ...]

    @property
    def key_names(self) -> tuple[str, ...]:
        return ("t_s", "module_id") if self.all_modules else ("t_s",)

    @property
    def names(self) -> tuple[str, ...]:
        return (*self.key_names, *(r.name for r in self.requests))


@dataclass(frozen=True)
class HistoryResult:
    """Columns by name: ``t_s`` (bucket start, int64), ``module_id`` for every module, then each field asked
    for (float64 with NaN where nothing was stored; ``state`` as names)."""

    step_s: int
    columns: dict[str, npt.NDArray[Any]]

    def __len__(self) -> int:
        return len(self.columns["t_s"])


def field_names(series: Series) -> tuple[str, ...]:
    """Every name a request may use for ``series``."""
    out: list[str] = []
    for f in series.fields:
        out.append(f.name)
        aggs = AGGREGATES[f.kind]
        if len(aggs) > 1:
            out += [f"{f.name}:{a}" for a in aggs]
    return tuple(out)


def _nearest(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.0)
    return close[0] if close else choices[0]


def _scope(module_id: int | str | None) -> tuple[int | None, bool]:
    if module_id is None or module_id == "":
        return None, False
    if isinstance(module_id, str):
        if module_id.lower() == "all":
            return None, True
        try:
            module_id = int(module_id)
        except ValueError:
            raise HistoryQueryError(
                f"module {module_id!r}: a module ID (1..16), 'all', or leave it out for the bank", "module"
            ) from None
    if not 0 <= module_id <= 255:
        raise HistoryQueryError(f"module {module_id}: a module ID is 1..16 (0..255 on the wire)", "module")
    return module_id, False


def _series_of(names: Sequence[str], per_module: bool) -> Series:
    bank, module, cell = SERIES["bank"], SERIES["module"], SERIES["cell"]
    first = names[0].split(":", 1)[0]
    if not per_module:
        if (module.field(first) is not None or cell.field(first) is not None) and bank.field(first) is None:
            raise HistoryQueryError(
                f"field {first!r} is per module: name the module (module=ID or module=all)", "module"
            )
        return bank
    return cell if cell.field(first) is not None else module


def plan(
    t_from_s: float,
    t_to_s: float,
    fields: Sequence[str],
    step_s: int | float | None = None,
    module_id: int | str | None = None,
) -> QueryPlan:
    """The validated request (see the module docstring)."""
    for name, value in (("from", t_from_s), ("to", t_to_s)):
        if not math.isfinite(value):
            raise HistoryQueryError(f"{name} {value}: not a time", name)
    if not t_to_s > t_from_s:
        raise HistoryQueryError(f"to {t_to_s:g} is not after from {t_from_s:g}", "to")
    module, all_modules = _scope(module_id)
    names = [f.strip() for f in fields if f.strip()]
    if not names:
        raise HistoryQueryError("fields: name at least one (e.g. soc_pct,voltage_v)", "fields")
    series = _series_of(names, module is not None or all_modules)
    valid = field_names(series)
    requests: list[Request] = []
    for name in names:
        base, _, agg = name.partition(":")
        spec = series.field(base)
        if spec is None or (agg and agg not in AGGREGATES[spec.kind]) or (agg and len(AGGREGATES[spec.kind]) < 2):
            other = _other_series(base, series)
            extra = f" ({base!r} is a {other} field: ask for it separately)" if other else ""
            nearest = _nearest(name, valid)
            raise HistoryQueryError(
                f"field {name!r}: not a {series.name} field{extra}; nearest valid: {nearest!r}", name, "bad_field"
            )
        requests.append(Request(name, spec, agg or _DEFAULT_AGG[spec.kind]))
    if len({r.name for r in requests}) != len(requests):
        dup = next(r.name for r in requests if [q.name for q in requests].count(r.name) > 1)
        raise HistoryQueryError(f"field {dup!r} is asked for twice", dup, "bad_field")
    step = _step(step_s, math.ceil(t_to_s) - math.floor(t_from_s))
    a, b = math.floor(t_from_s / step) * step, math.ceil(t_to_s / step) * step  # whole buckets
    tier = _tier(series, step, requests)
    return QueryPlan(series, tier, a, b, step, module, all_modules, tuple(requests))


def _other_series(base: str, series: Series) -> str | None:
    return next((s.name for s in SERIES.values() if s is not series and s.field(base) is not None), None)


def _step(step_s: int | float | None, span_s: int) -> int:
    if step_s is None:
        return next((s for s in STEPS_S if span_s / s <= AUTO_POINTS), STEPS_S[-1])
    if not (math.isfinite(step_s) and step_s >= 1 and float(step_s).is_integer()):
        raise HistoryQueryError(f"step {step_s}: whole seconds, at least 1 (e.g. 60 or 5min)", "step")
    return int(step_s)


def _tier(series: Series, step: int, requests: Sequence[Request]) -> Tier:
    """The coarsest table of ``series`` whose step divides ``step`` and that keeps every field asked for."""
    fitting = [
        t
        for t in TIERS
        if t.series is series
        and (t.is_raw or step % t.step_s == 0)
        and all(t.is_raw or r.agg in AGGREGATES[r.spec.kind] for r in requests)
    ]
    return fitting[-1]


def aggregate(src: Tier, name: str, agg: str) -> Any:
    """SQL for one bucket's ``agg`` (avg, min, max) of field ``name`` read from table ``src``."""
    c = src.table.c
    if src.is_raw:
        col = c[name]
        if agg == "avg":
            return sa.func.avg(col)
        return sa.func.min(col) if agg == "min" else sa.func.max(col)
    col = c[f"{name}_{agg}"]
    if agg == "avg":
        weight = sa.func.sum(sa.case((col.is_(None), 0), else_=c.n))
        return sa.func.sum(sa.cast(col, sa.Float) * c.n) / sa.func.nullif(weight, 0)
    return (sa.func.min if agg == "min" else sa.func.max)(col)


def _select(p: QueryPlan) -> sa.Select[Any]:
    tier = p.tier
    c = tier.table.c
    direct = p.step_s == tier.step_s  # one row per bucket already: read the columns as they are
    step = sa.literal_column(str(p.step_s), sa.BigInteger)
    t = c.t_s if direct else ((c.t_s // step) * step)
    keys: list[Any] = [t.label("t_s")]
    if p.all_modules:
        keys.append(c.module_id)
    cols: list[Any] = []
    for r in p.requests:
        if direct:
            cols.append(c[r.spec.name if tier.is_raw else f"{r.spec.name}_{r.agg}"])
        else:
            cols.append(aggregate(tier, r.spec.name, r.agg))
    where = [c.t_s >= p.t_from_s, c.t_s < p.t_to_s]
    if p.module_id is not None:
        where.append(c.module_id == p.module_id)
    sel = sa.select(*keys, *cols).where(*where)
    if not direct:
        sel = sel.group_by(*keys)
    return sel.order_by(*keys)


def _result(p: QueryPlan, rows: Sequence[Sequence[Any]]) -> HistoryResult:
    k = len(p.key_names)
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in p.names]
    out: dict[str, npt.NDArray[Any]] = {name: np.asarray(columns[i], dtype=np.int64) for i, name in
                                        enumerate(p.key_names)}  # fmt: skip
    for i, r in enumerate(p.requests):
        values = columns[k + i]
        if r.spec.name == "state":
            out[r.name] = np.array([None if v is None else STATE_NAMES.get(int(v), str(v)) for v in values], object)
        else:
            out[r.name] = np.asarray(values, dtype=np.float64)  # None (nothing stored) becomes NaN
    return HistoryResult(p.step_s, out)


def run(conn: sa.Connection, p: QueryPlan) -> HistoryResult:
    """The whole result at once."""
    return _result(p, conn.execute(_select(p)).all())


def run_chunks(conn: sa.Connection, p: QueryPlan, chunk_rows: int) -> Iterator[HistoryResult]:
    """The result in chunks of at most ``chunk_rows`` rows, read from the database as they are consumed."""
    result = conn.execution_options(stream_results=True, yield_per=chunk_rows).execute(_select(p))
    for part in result.partitions(chunk_rows):
        yield _result(p, part)


# ----------------------------------------------------------------------------------------------- export
#: decimals of the values in CSV (0.1 mV, 0.1 mA: below every sensor's resolution); Parquet keeps them whole
CSV_DECIMALS = 4


def parquet_schema(p: QueryPlan) -> pa.Schema:
    """The columns of an export: ``t_s``, ``time_utc``, ``module_id`` for every module, then the fields."""
    fields = [pa.field("t_s", pa.int64()), pa.field("time_utc", pa.timestamp("s", tz="UTC"))]
    if p.all_modules:
        fields.append(pa.field("module_id", pa.int64()))
    for r in p.requests:
        kind = pa.string() if r.spec.name == "state" else pa.float64()
        fields.append(pa.field(r.name, kind, metadata={"unit": r.spec.unit, "description": r.spec.description}))
    return pa.schema(fields, metadata={"step_s": str(p.step_s), "series": p.series.name})


def _arrow(chunk: HistoryResult, schema: pa.Schema, for_csv: bool) -> pa.Table:
    """One chunk as an Arrow table (NaN: null); for CSV the time as ISO 8601 text and values rounded."""
    arrays = []
    for f in schema:
        if f.name == "time_utc":
            t = chunk.columns["t_s"].astype("datetime64[s]")
            if for_csv:
                arrays.append(pa.array(np.char.add(np.datetime_as_string(t, unit="s"), "Z"), pa.string()))
            else:
                arrays.append(pa.array(t, pa.timestamp("s")).cast(f.type))
            continue
        col = chunk.columns[f.name]
        if for_csv and col.dtype == np.float64:
            col = np.round(col, CSV_DECIMALS)
        arrays.append(pa.array(col, f.type, from_pandas=True))
    out_schema = schema if not for_csv else schema.set(1, pa.field("time_utc", pa.string()))
    return pa.Table.from_arrays(arrays, schema=out_schema)


def csv_pieces(chunks: Iterable[HistoryResult], p: QueryPlan) -> Iterator[str]:
    """CSV text, one piece per chunk (the header first): ``t_s,time_utc[,module_id],fields...``."""
    schema = parquet_schema(p)
    yield ",".join(f.name for f in schema) + "\n"
    options = pa_csv.WriteOptions(include_header=False, quoting_style="none")  # ISO times, state names: no commas
    for chunk in chunks:
        sink = pa.BufferOutputStream()
        pa_csv.write_csv(_arrow(chunk, schema, for_csv=True), sink, options)
        yield sink.getvalue().to_pybytes().decode()


def write_csv(chunks: Iterable[HistoryResult], p: QueryPlan, out: IO[str]) -> int:
    rows = -1
    for piece in csv_pieces(chunks, p):
        out.write(piece)
        rows += piece.count("\n")
    return rows


def write_parquet(chunks: Iterable[HistoryResult], p: QueryPlan, path: Path) -> int:
    schema = parquet_schema(p)
    rows = 0
    with pq.ParquetWriter(str(path), schema) as writer:
        for chunk in chunks:
            writer.write_table(_arrow(chunk, schema, for_csv=False))
            rows += len(chunk)
        if rows == 0:
            writer.write_table(schema.empty_table())
    return rows
