"""The history of ``ml314 run``: per-second samples of the bank and each module, cell voltages every 10 s, and
coarser tiers (1 min, 15 min) maintained as data arrives; SQLite in the data dir by default, PostgreSQL by URL.

Contracts:
- :meth:`HistoryStore.append` never blocks: samples go to a bounded queue that one writer thread empties in
  batches (one transaction each, at most ``flush_every_s`` apart). When the queue is full the oldest sample is
  dropped and counted (:attr:`HistoryStats.dropped`); :meth:`HistoryStore.notice` says so once per episode.
- Each batch writes the raw rows and recomputes, in the same transaction, every tier bucket those rows touch, so
  the tiers always agree with the raw table; a sample that arrives again for the same second is ignored.
- SQLite runs in WAL mode with ``synchronous=NORMAL``: a killed process loses at most the batch not yet committed
  (a second or two) and never corrupts the file. A restart continues the same database.
- Retention (:class:`HistoryRetention`) deletes old rows of each tier, measured from the newest sample written
  (the store has no clock of its own), in slices of an hour so no delete holds the database long.
- The store takes wall-clock epoch seconds from its caller (``t_s``, an integer).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from ml314.domain.battery_status import BankStatus, BatteryView, ModuleStatus
from ml314.errors import InputError, TransportError
from ml314.storage import history_query as hq
from ml314.storage.history_cache import ClosedBuckets
from ml314.storage.history_schema import (
    AGGREGATES,
    SERIES,
    STATE_CODES,
    TIERS,
    Tier,
    meta_table,
    metadata,
)

__all__ = [
    "HISTORY_FILE",
    "HistoryRetention",
    "HistorySample",
    "HistoryStats",
    "HistoryStore",
    "history_url",
    "sample_from",
]

HISTORY_FILE = "history.sqlite"
SCHEMA_VERSION = "1"
_DAY_S = 86400
_EXPIRE_SLICE_S = 3600
_EXPIRE_EVERY_S = 600  # data seconds between retention passes


@dataclass(frozen=True)
class HistoryRetention:
    """How long each tier is kept, in days (None: forever). Settable as ``[run.history]`` in ml314.toml."""

    raw_days: float = 3.0  # bank and module samples every second
    cell_days: float = 14.0  # cell voltages every 10 s
    minute_days: float = 30.0  # 1-min tier
    five_minute_days: float = 90.0  # 5-min tier
    quarter_days: float | None = None  # 15-min tier (and the cells' 15-min tier)

    def validate(self) -> None:
        for name in ("raw_days", "cell_days", "minute_days", "five_minute_days", "quarter_days"):
            value = getattr(self, name)
            if value is not None and not value > 0.0:
                raise InputError(f"history.{name} {value}: must be more than 0 days (leave it out for forever)")

    def days_for(self, tier: Tier) -> float | None:
        if tier.is_raw:
            return self.cell_days if tier.series.name == "cell" else self.raw_days
        return {60: self.minute_days, 300: self.five_minute_days}.get(tier.step_s, self.quarter_days)


@dataclass(frozen=True)
class HistorySample:
    """One second of the bank: its row and one row per module (with the cell voltages under ``"cells"``)."""

    t_s: int
    bank: Mapping[str, float | None]
    modules: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class HistoryStats:
    """What the writer did since the store opened."""

    appended: int
    written: int
    dropped: int
    write_errors: int
    queued: int
    last_error: str


def history_url(db: str | None, data_dir: Path | None) -> str | None:
    """The SQLAlchemy URL of ``--db`` (None: ``history.sqlite`` in the data dir; ``off``: no history)."""
    if db is None:
        return None if data_dir is None else f"sqlite:///{Path(data_dir) / HISTORY_FILE}"
    if db == "off":
        return None
    if db.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + db.split("://", 1)[1]
    if db.startswith(("sqlite:///", "postgresql+psycopg://")):
        return db
    raise InputError(f"--db {db!r}: sqlite:///FILE, postgresql://USER@HOST/DB, or off")


def sample_from(
    t_s: int, status: BankStatus, modules: Sequence[ModuleStatus], peer: BatteryView | None = None
) -> HistorySample:
    """The sample of second ``t_s``: the bank as presented, every module of the bank (``online`` when the master
    presents it) and the inverter peer's view of SOC and limits when a peer runs."""
    lim = status.limits
    bank: dict[str, float | None] = {
        "voltage_v": status.voltage_v,
        "current_a": status.current_a,
        "power_w": status.voltage_v * status.current_a,
        "soc_pct": status.soc_pct,
        "soc_bound_pct": status.soc_bound_pct,
        "soh_pct": status.soh_pct,
        "temperature_c": status.temperature_c,
        "cell_min_v": status.cell_voltage_min_v,
        "cell_max_v": status.cell_voltage_max_v,
        "cell_temp_min_c": status.cell_temperature_min_c,
        "cell_temp_max_c": status.cell_temperature_max_c,
        "cvl_v": lim.cvl_v,
        "dvl_v": lim.dvl_v,
        "ccl_a": lim.ccl_a,
        "dcl_a": lim.dcl_a,
        "modules_online": float(status.module_count),
        "alarms": float(len(status.alarms)),
        "protections": float(len(status.protections)),
        "charged_kwh": status.charged_energy_kwh,
        "discharged_kwh": status.discharged_energy_kwh,
        "peer_soc_pct": None if peer is None else peer.soc_pct,
        "peer_cvl_v": None if peer is None else peer.cvl_v,
        "peer_ccl_a": None if peer is None else peer.ccl_a,
        "peer_dcl_a": None if peer is None else peer.dcl_a,
    }
    online = {m.address for m in status.modules}
    return HistorySample(int(t_s), bank, tuple(_module_row(m, m.address in online) for m in modules))


def _module_row(m: ModuleStatus, online: bool) -> dict[str, Any]:
    cells = m.cell_voltages_v
    lo = int(np.argmin(cells)) if cells else 0
    hi = int(np.argmax(cells)) if cells else 0
    temps = m.cell_temperatures_c
    return {
        "module_id": m.address,
        "voltage_v": m.voltage_v,
        "current_a": m.current_a,
        "soc_pct": m.soc_pct,
        "soc_bound_pct": m.soc_bound_pct,
        "soh_pct": m.soh_pct,
        "cell_min_v": cells[lo] if cells else None,
        "cell_min_index": lo + 1 if cells else None,
        "cell_max_v": cells[hi] if cells else None,
        "cell_max_index": hi + 1 if cells else None,
        "temp_min_c": min(temps) if temps else None,
        "temp_max_c": max(temps) if temps else None,
        "temp_mosfet_c": m.temperatures_c[-1] if m.temperatures_c else None,
        "temp_board_c": m.temperatures_c[0] if m.temperatures_c else None,
        "state": STATE_CODES.get(m.state),
        "cvl_v": m.limits.cvl_v,
        "ccl_a": m.limits.ccl_a,
        "dcl_a": m.limits.dcl_a,
        "alarms": float(len(m.alarms)),
        "online": 1.0 if online else 0.0,
        "cells": tuple(cells),
    }


def _safe_url(url: str) -> str:
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url


def _sqlite_pragmas(dbapi_conn: Any, record: Any) -> None:
    del record
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


class HistoryStore:
    """One history database; :meth:`close` writes what is queued and stops the writer."""

    def __init__(
        self,
        url: str,
        retention: HistoryRetention | None = None,
        *,
        queue_size: int = 600,
        flush_every_s: float = 1.0,
        writer: bool = True,
        cache: bool | None = None,
    ) -> None:
        self.url = url
        self.retention = retention or HistoryRetention()
        self.retention.validate()
        self.flush_every_s = flush_every_s
        self.engine = _open_engine(url)
        self.dialect = self.engine.dialect.name
        try:
            metadata.create_all(self.engine, checkfirst=True)
            with self.engine.begin() as conn:
                version = conn.execute(sa.select(meta_table.c.value).where(meta_table.c.key == "schema")).scalar()
                if version is None:
                    conn.execute(sa.insert(meta_table).values(key="schema", value=SCHEMA_VERSION))
                elif version != SCHEMA_VERSION:
                    raise InputError(f"history {_safe_url(url)}: schema {version}, this ml314 reads {SCHEMA_VERSION}")
                newest = conn.execute(sa.select(sa.func.max(_raw("module").c.t_s))).scalar()
                newest_bank = conn.execute(sa.select(sa.func.max(_raw("bank").c.t_s))).scalar()
                newest_cell = conn.execute(sa.select(sa.func.max(_raw("cell").c.t_s))).scalar()
        except sa.exc.OperationalError as exc:
            self.engine.dispose()
            raise TransportError(f"history {_safe_url(url)}: {_first_line(exc)}") from None
        self.newest_t_s: int | None = max((t for t in (newest, newest_bank) if t is not None), default=None)
        self._last_cell_t: int | None = newest_cell
        self._next_expire: int | None = None  # the first write expires at once
        self._statements: dict[str, Any] = {}
        #: closed buckets' results kept for repeated reads (history_cache.py); by default only the store that writes
        #: caches, as only it knows when stored rows change
        self.cache = ClosedBuckets() if (writer if cache is None else cache) else None
        self._queue: deque[HistorySample] = deque()
        self._queue_size = max(1, queue_size)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._idle = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._busy = False
        self._appended = self._written = self._dropped = self._errors = 0
        self._last_error = ""
        self._noticed = (0, 0)
        self._thread: threading.Thread | None = None
        if writer:
            self._thread = threading.Thread(target=self._run, name="history-writer", daemon=True)
            self._thread.start()

    @property
    def where(self) -> str:
        """The database for messages (a file's path; a server's URL without its password)."""
        if self.dialect == "sqlite" and self.engine.url.database:
            return f"SQLite {self.engine.url.database}"
        return f"PostgreSQL {_safe_url(self.url)}"

    # ---------------------------------------------------------------- writing
    def append(self, sample: HistorySample) -> None:
        """Queue ``sample`` for the writer; never blocks (a full queue drops its oldest sample)."""
        with self._lock:
            if len(self._queue) >= self._queue_size:
                self._queue.popleft()
                self._dropped += 1
            self._queue.append(sample)
            self._appended += 1
        if len(self._queue) >= self._queue_size // 2:
            self._wake.set()

    @property
    def stats(self) -> HistoryStats:
        with self._lock:
            return HistoryStats(
                self._appended, self._written, self._dropped, self._errors, len(self._queue), self._last_error
            )

    def notice(self) -> str | None:
        """A line to show when samples were dropped or a write failed since the last notice, else None."""
        s = self.stats
        if (s.dropped, s.write_errors) == self._noticed:
            return None
        before = self._noticed
        self._noticed = (s.dropped, s.write_errors)
        parts = []
        if s.dropped > before[0]:
            parts.append(f"{s.dropped - before[0]} samples dropped (the writer fell behind; {s.dropped} in all)")
        if s.write_errors > before[1]:
            parts.append(f"write failed ({s.last_error}); retrying")
        return "history: " + "; ".join(parts)

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until everything appended so far is written (or failed); False on timeout. Without a writer
        thread the queue is written here."""
        if self._thread is None:
            with self._lock:
                batch = list(self._queue)
                self._queue.clear()
            self.write(batch)
            with self._lock:
                self._written += len(batch)
            return True
        self._wake.set()
        with self._idle:
            return self._idle.wait_for(lambda: not self._queue and not self._busy, timeout_s)

    def close(self) -> None:
        """Write what is queued, stop the writer, release the database."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        else:
            self.flush()
        self.engine.dispose()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_every_s)
            self._wake.clear()
            stopping = self._stopping.is_set()
            with self._lock:
                batch = list(self._queue)
                self._queue.clear()
                self._busy = bool(batch)
            if batch:
                try:
                    self.write(batch)
                except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:  # the database away or busy
                    with self._lock:
                        self._errors += 1
                        self._last_error = _first_line(exc)
                        if not stopping:  # keep them for the next try, oldest dropped if the queue overflows
                            keep = batch[-max(0, self._queue_size - len(self._queue)) :]
                            self._dropped += len(batch) - len(keep)
                            self._queue.extendleft(reversed(keep))
                except Exception as exc:  # a batch the database refuses: dropped and said, the writer goes on
                    with self._lock:
                        self._errors += 1
                        self._dropped += len(batch)
                        self._last_error = f"{type(exc).__name__}: {_first_line(exc)}"
                else:
                    with self._lock:
                        self._written += len(batch)
            with self._idle:
                self._busy = False
                self._idle.notify_all()
            if stopping:
                return
            if batch and self._errors and not self._stopping.is_set():
                self._stopping.wait(self.flush_every_s)  # a failing database is not hammered

    def write(self, samples: Sequence[HistorySample]) -> None:
        """Write ``samples`` now, in one transaction with their tier buckets (the writer's and the bulk path)."""
        if not samples:
            return
        bank_rows: list[dict[str, Any]] = []
        module_rows: list[dict[str, Any]] = []
        cell_rows: list[dict[str, Any]] = []
        cell_step = SERIES["cell"].raw_step_s
        for s in sorted(samples, key=lambda x: x.t_s):
            bank_rows.append({"t_s": s.t_s, **s.bank})
            take_cells = (
                self._last_cell_t is None or s.t_s - self._last_cell_t >= cell_step or s.t_s < self._last_cell_t
            )
            for m in s.modules:
                row = {"t_s": s.t_s, **m}
                cells = row.pop("cells", ())
                module_rows.append(row)
                if take_cells and cells:
                    cell_rows.append({"t_s": s.t_s, "module_id": m["module_id"], **_cell_columns(cells)})
            if take_cells and s.modules:
                self._last_cell_t = s.t_s
        t_lo, t_hi = bank_rows[0]["t_s"], bank_rows[-1]["t_s"]
        in_order = self.newest_t_s is None or t_lo > self.newest_t_s
        with self.engine.begin() as conn:
            for name, rows in (("bank", bank_rows), ("module", module_rows), ("cell", cell_rows)):
                if rows:
                    conn.execute(self._statement(f"insert {name}"), _complete(name, rows))
            self._rebuild(conn, t_lo, t_hi)
        if not in_order:  # rows of closed buckets may have changed
            self._invalidate()
        self.newest_t_s = t_hi if self.newest_t_s is None else max(self.newest_t_s, t_hi)
        if self._next_expire is None or self.newest_t_s >= self._next_expire:
            self.expire()
            self._next_expire = self.newest_t_s + _EXPIRE_EVERY_S

    def bulk_load(
        self, series: str, step_s: int, columns: Mapping[str, npt.ArrayLike], chunk_rows: int = 50_000
    ) -> int:
        """Insert columns of arrays straight into one table (raw or a tier; an import, or a benchmark's month of
        history); rows already there are kept. Then call :meth:`rebuild` over the range for the coarser tiers."""
        tier = next((t for t in TIERS if t.series.name == series and t.step_s == step_s), None)
        if tier is None:
            raise InputError(f"history: no table for series {series!r} at {step_s} s")
        names = list(columns)
        unknown = [n for n in names if n not in tier.table.c]
        if unknown:
            raise InputError(f"history: {tier.table.name} has no column {unknown[0]!r}")
        arrays = [np.asarray(columns[n]) for n in names]
        n = len(arrays[0]) if arrays else 0
        mark = "?" if self.dialect == "sqlite" else "%s"  # the driver's own executemany: tuples, no dicts
        sql = (
            f"INSERT INTO {tier.table.name} ({', '.join(names)}) VALUES ({', '.join([mark] * len(names))}) "
            "ON CONFLICT DO NOTHING"
        )
        for start in range(0, n, chunk_rows):
            stop = min(n, start + chunk_rows)
            rows = list(zip(*(a[start:stop].tolist() for a in arrays), strict=True))
            with self.engine.begin() as conn:
                conn.exec_driver_sql(sql, rows)
        self._invalidate()
        return n

    def rebuild(self, t_from_s: int, t_to_s: int) -> None:
        """Recompute every tier bucket of ``[t_from_s, t_to_s]`` from its source table."""
        with self.engine.begin() as conn:
            self._rebuild(conn, t_from_s, t_to_s)
        self._invalidate()

    def _rebuild(self, conn: sa.Connection, t_lo: int, t_hi: int) -> None:
        for tier in TIERS:
            if tier.source is None:
                continue
            step = tier.step_s
            a, b = t_lo // step * step, (t_hi // step + 1) * step
            conn.execute(self._statement(f"rebuild {tier.table.name}"), {"a": a, "b": b})

    def _statement(self, key: str) -> Any:
        """The writer's statements, built once (building SQLAlchemy statements every second costs the GIL the web
        server and the links share): ``insert SERIES`` (raw rows, duplicates skipped) and ``rebuild TABLE`` (a
        tier's buckets in ``[:a, :b)`` recomputed from its source)."""
        stmt = self._statements.get(key)
        if stmt is not None:
            return stmt
        verb, name = key.split(" ")
        if verb == "insert":
            stmt = self._insert(_raw(name)).on_conflict_do_nothing()
        else:
            tier = next(t for t in TIERS if t.table.name == name)
            bounds = (sa.bindparam(x, type_=sa.BigInteger) for x in "ab")
            sel = _aggregate_select(tier, *bounds)
            names = [c.name for c in tier.table.columns]
            ins = self._insert(tier.table).from_select(names, sel)
            keys = [c.name for c in tier.table.primary_key.columns]
            stmt = ins.on_conflict_do_update(
                index_elements=keys, set_={n: ins.excluded[n] for n in names if n not in keys}
            )
        self._statements[key] = stmt
        return stmt

    def expire(self) -> int:
        """Delete what the retention no longer keeps (relative to the newest sample); the rows deleted."""
        if self.newest_t_s is None:
            return 0
        deleted = 0
        for tier in TIERS:
            days = self.retention.days_for(tier)
            if days is None:
                continue
            cutoff = int(self.newest_t_s - days * _DAY_S)
            with self.engine.connect() as conn:
                oldest = conn.execute(sa.select(sa.func.min(tier.table.c.t_s))).scalar()
            if oldest is None:
                continue
            t = int(oldest)
            while t < cutoff:
                t = min(cutoff, t + _EXPIRE_SLICE_S)
                with self.engine.begin() as conn:
                    deleted += conn.execute(sa.delete(tier.table).where(tier.table.c.t_s < t)).rowcount or 0
        if deleted:
            self._invalidate()
        return deleted

    def _invalidate(self) -> None:
        if self.cache is not None:
            self.cache.invalidate()

    def _insert(self, table: sa.Table) -> Any:
        module = pg_dialect if self.dialect == "postgresql" else sqlite_dialect
        return module.insert(table)

    # --------------------------------------------------------------- reading
    def query(
        self,
        t_from_s: float,
        t_to_s: float,
        fields: Sequence[str],
        step_s: int | None = None,
        module_id: int | str | None = None,
    ) -> hq.HistoryResult:
        """Columns of ``fields`` over ``[t_from_s, t_to_s)`` at ``step_s`` (None: about 1000 points); see
        :mod:`ml314.storage.history_query`."""
        return self.run(self.plan(t_from_s, t_to_s, fields, step_s, module_id))

    def run(self, plan: hq.QueryPlan) -> hq.HistoryResult:
        """The whole result of a plan at once (closed buckets from the cache when this store has one)."""
        if self.cache is None:
            return self._read(plan)
        return self.cache.run(plan, self.newest_t_s, self._read)

    def _read(self, plan: hq.QueryPlan) -> hq.HistoryResult:
        with self.engine.connect() as conn:
            return hq.run(conn, plan)

    def plan(
        self,
        t_from_s: float,
        t_to_s: float,
        fields: Sequence[str],
        step_s: int | None = None,
        module_id: int | str | None = None,
    ) -> hq.QueryPlan:
        """The validated query (raises :class:`~ml314.storage.history_query.HistoryQueryError` naming the field)."""
        return hq.plan(t_from_s, t_to_s, fields, step_s, module_id)

    def chunks(self, plan: hq.QueryPlan, chunk_rows: int = 10_000) -> Iterator[hq.HistoryResult]:
        """The plan's rows in chunks of at most ``chunk_rows`` (memory bounded however long the range)."""
        with self.engine.connect() as conn:
            yield from hq.run_chunks(conn, plan, chunk_rows)

    def export_csv(self, plan: hq.QueryPlan, out: IO[str]) -> int:
        """Write the plan's rows as CSV to ``out``, streaming; the rows written."""
        return hq.write_csv(self.chunks(plan), plan, out)

    def csv_text(self, plan: hq.QueryPlan) -> Iterator[str]:
        """The plan's rows as CSV text pieces (for a streaming HTTP response)."""
        return hq.csv_pieces(self.chunks(plan), plan)

    def export_parquet(self, plan: hq.QueryPlan, path: Path) -> int:
        """Write the plan's rows as a Parquet file at ``path`` (one row group per chunk); the rows written."""
        return hq.write_parquet(self.chunks(plan, 65_536), plan, path)

    def integrity(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` ("ok"), or "ok" on a server database."""
        if self.dialect != "sqlite":
            return "ok"
        with self.engine.connect() as conn:
            return "; ".join(str(r[0]) for r in conn.exec_driver_sql("PRAGMA integrity_check"))


def _raw(series: str) -> sa.Table:
    return next(t.table for t in TIERS if t.series.name == series and t.is_raw)


def _cell_columns(cells: Iterable[float]) -> dict[str, float]:
    return {f"cell_{i}_v": float(v) for i, v in enumerate(cells, start=1)}


def _complete(series: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every row with every column (an executemany needs the same keys in each)."""
    names = [c.name for c in _raw(series).columns]
    return [{n: r.get(n) for n in names} for r in rows]


def _aggregate_select(tier: Tier, a: Any, b: Any) -> sa.Select[Any]:
    """The tier's rows for buckets in ``[a, b)`` computed from its source table."""
    src = tier.source
    assert src is not None
    s = src.table.c
    step = sa.literal_column(str(tier.step_s), sa.BigInteger)
    bucket = ((s.t_s // step) * step).label("t_s")
    keys: list[Any] = [bucket]
    group: list[Any] = [bucket]
    if tier.series.per_module:
        keys.append(s.module_id)
        group.append(s.module_id)
    cols: list[Any] = [sa.func.count().label("n") if src.is_raw else sa.func.sum(s.n).label("n")]
    for f in tier.series.fields:
        for agg in AGGREGATES[f.kind]:
            cols.append(hq.aggregate(src, f.name, agg).label(f"{f.name}_{agg}"))
    return sa.select(*keys, *cols).where(s.t_s >= a, s.t_s < b).group_by(*group)


def _open_engine(url: str) -> sa.Engine:
    try:
        engine = sa.create_engine(url, pool_pre_ping=url.startswith("postgresql"))
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise InputError(f"--db {_safe_url(url)}: {exc}") from None
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        path = engine.url.database
        if path:
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise InputError(f"--db {url}: cannot create its folder ({exc.strerror})") from None
    elif engine.dialect.name != "postgresql":
        raise InputError(f"--db {_safe_url(url)}: SQLite or PostgreSQL only")
    return engine


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
