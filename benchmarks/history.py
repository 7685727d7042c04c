"""How fast is the history with a month of a 16-module bank in it? Query, export, append, size.

For each backend (SQLite file; PostgreSQL on a private server started from the installed binaries, as the tests
do) the store is filled through its bulk path with a month (``--quick``: 8 days) of realistic 16-module history:
the 1-min tier for the whole month (a daily SOC cycle per module with its own phase, current from the SOC slope,
voltage from SOC and current, cell spread, temperatures, state, limits; the bank as their sum), the 15-min tier
rebuilt from it, and the last hours as raw 1-s samples with 10-s cell voltages through the ordinary write path
(which recomputes their tier buckets). That is what the database holds after a month under the default
retention, except that the raw seconds cover hours, not 7 days (a week query at 5 min never reads them).

Rows (``metric``, ``p50``, ``p99``, ``unit``), over ``repeats`` runs of each:

* ``week@5min bank json`` / ``csv``: one week at 5-min step, 8 bank fields, planned, read and serialised as the
  API does (JSON body, or the whole CSV text). Target p99 <= 200 ms (issue 12, for ``GET /api/history``).
* ``week@5min all modules json`` / ``csv``: the same week for all 16 modules (4 fields, long format).
* ``append() call``: the caller's cost of one ``append`` while the writer works (it never waits for the database).
* ``append throughput``: samples (16 modules, bank, cells every 10 s) written per second through the writer
  thread, runs of ``--seconds`` samples; p99 is the slowest run.
* ``size <table>``: bytes per module-day of each table (SQLite ``dbstat``; PostgreSQL ``pg_total_relation_size``,
  with indexes), and ``size steady state`` per module under the default retention (raw 7 d, cells 30 d, 1-min 400 d,
  15-min for one year).

    python benchmarks/history.py [--quick] [--json PATH] [--backend sqlite,postgresql]
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from _common import finish, parser

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the private PostgreSQL server of the tests
from tests.postgres import PostgresServer, _bin_dir

from ml314.storage.history import HistoryRetention, HistorySample, HistoryStore
from ml314.storage.history_schema import AGGREGATES, SERIES, STATE_CODES, TIERS
from ml314.web.history_api import history_json

NAME = "history"
COLUMNS = ("metric", "p50", "p99", "unit", "min", "max", "runs", "target")
MODULES = 16
DAY = 86400
T_END = 1_798_761_600  # 2027-01-01 00:00 UTC
BANK_FIELDS = ["soc_pct", "voltage_v", "current_a", "power_w", "cvl_v", "ccl_a", "dcl_a", "peer_soc_pct"]
MODULE_FIELDS = ["soc_pct", "voltage_v", "current_a", "temp_max_c"]


def module_values(t: np.ndarray, m: int) -> dict[str, np.ndarray]:
    """One module's values at times ``t``: a daily cycle with the module's own phase and some noise."""
    rng = np.random.default_rng(m)
    phase = 2 * np.pi * (t % DAY) / DAY + m * 0.05
    soc = 55.0 + 35.0 * np.sin(phase) + rng.normal(0.0, 0.2, len(t))
    # the SOC's slope through 314 Ah: 0.35 * 2 pi / day * 314 Ah * 3600 s/h = 28.8 A at the steepest
    current = 0.35 * 2 * np.pi / DAY * 314.0 * 3600.0 * np.cos(phase) + rng.normal(0.0, 1.0, len(t))
    voltage = 48.0 + 6.0 * soc / 100.0 + 0.01 * current
    cell = voltage / 16.0
    temp = 22.0 + 4.0 * np.sin(phase - 1.0) + rng.normal(0.0, 0.1, len(t))
    state = np.where(current > 2.0, STATE_CODES["charge"], np.where(current < -2.0, STATE_CODES["discharge"], 2))
    return {
        "voltage_v": voltage,
        "current_a": current,
        "soc_pct": soc,
        "soc_bound_pct": np.full(len(t), 3.0),
        "soh_pct": np.full(len(t), 99.0 - m * 0.1),
        "cell_min_v": cell - 0.012,
        "cell_max_v": cell + 0.011,
        "temp_min_c": temp - 1.0,
        "temp_max_c": temp + 1.5,
        "temp_mosfet_c": temp + 4.0,
        "temp_board_c": temp + 2.0,
        "state": state,
        "cvl_v": np.full(len(t), 56.8),
        "ccl_a": np.full(len(t), 157.0),
        "dcl_a": np.full(len(t), 200.0),
        "alarms": np.zeros(len(t)),
        "online": np.ones(len(t)),
        "cell_min_index": (t // 600 + m) % 16 + 1,
        "cell_max_index": (t // 900 + m) % 16 + 1,
    }


def bank_values(per_module: list[dict[str, np.ndarray]], n: int) -> dict[str, np.ndarray]:
    v = np.mean([p["voltage_v"] for p in per_module], axis=0)
    i = np.sum([p["current_a"] for p in per_module], axis=0)
    soc = np.mean([p["soc_pct"] for p in per_module], axis=0)
    return {
        "voltage_v": v,
        "current_a": i,
        "power_w": v * i,
        "soc_pct": soc,
        "soc_bound_pct": np.full(n, 3.0),
        "soh_pct": np.full(n, 98.5),
        "temperature_c": np.mean([p["temp_max_c"] for p in per_module], axis=0),
        "cell_min_v": np.min([p["cell_min_v"] for p in per_module], axis=0),
        "cell_max_v": np.max([p["cell_max_v"] for p in per_module], axis=0),
        "cell_temp_min_c": np.min([p["temp_min_c"] for p in per_module], axis=0),
        "cell_temp_max_c": np.max([p["temp_max_c"] for p in per_module], axis=0),
        "cvl_v": np.full(n, 56.8),
        "dvl_v": np.full(n, 44.8),
        "ccl_a": np.full(n, 157.0 * MODULES),
        "dcl_a": np.full(n, 200.0 * MODULES),
        "modules_online": np.full(n, float(MODULES)),
        "alarms": np.zeros(n),
        "protections": np.zeros(n),
        "charged_kwh": np.linspace(0, 30 * n / 1440, n),
        "discharged_kwh": np.linspace(0, 28 * n / 1440, n),
        "peer_soc_pct": np.round(soc),
        "peer_cvl_v": np.full(n, 56.8),
        "peer_ccl_a": np.full(n, 157.0 * MODULES),
        "peer_dcl_a": np.full(n, 200.0 * MODULES),
    }


def tier_columns(series: str, values: dict[str, np.ndarray], t: np.ndarray, module: int | None) -> dict[str, Any]:
    """A 1-min tier's columns: the minute's average, and a minimum and maximum around it."""
    out: dict[str, Any] = {"t_s": t, "n": np.full(len(t), 60)}
    if module is not None:
        out["module_id"] = np.full(len(t), module)
    for f in SERIES[series].fields:
        v = values[f.name]
        for agg in AGGREGATES[f.kind]:
            spread = 0.0 if agg == "avg" or f.kind != "value" else 0.002 * abs(v) + 0.01
            out[f"{f.name}_{agg}"] = v - spread if agg == "min" else v + spread if agg == "max" else v
    return out


def fill_month(store: HistoryStore, days: float, raw_hours: float) -> dict[str, float]:
    """A month of 1-min history, the 15-min tier, and the last hours as raw seconds; seconds each part took."""
    took: dict[str, float] = {}
    t0 = T_END - int(days * DAY)
    t = np.arange(t0, T_END, 60, dtype=np.int64)
    start = time.perf_counter()
    per_module = []
    for m in range(1, MODULES + 1):
        values = module_values(t, m)
        per_module.append(values)
        store.bulk_load("module", 60, tier_columns("module", values, t, m))
    store.bulk_load("bank", 60, tier_columns("bank", bank_values(per_module, len(t)), t, None))
    took["bulk 1-min"] = time.perf_counter() - start
    start = time.perf_counter()
    store.rebuild(int(t[0]), int(t[-1]))
    took["rebuild 15-min"] = time.perf_counter() - start
    start = time.perf_counter()
    raw_t0 = T_END - int(raw_hours * 3600)
    for block in range(raw_t0, T_END, 600):
        store.write(seconds(np.arange(block, min(T_END, block + 600), dtype=np.int64)))
    took["raw seconds"] = time.perf_counter() - start
    return took


def seconds(ts: np.ndarray) -> list[HistorySample]:
    """Raw samples of seconds ``ts`` (16 modules with cells, and the bank)."""
    per_module = [module_values(ts, m) for m in range(1, MODULES + 1)]
    bank = bank_values(per_module, len(ts))
    out = []
    for k, t in enumerate(ts.tolist()):
        mods = []
        for m, values in enumerate(per_module, start=1):
            row: dict[str, Any] = {name: float(v[k]) for name, v in values.items()}
            row["module_id"] = m
            row["state"] = int(row["state"])
            row["cells"] = tuple(row["cell_min_v"] + 0.0015 * c for c in range(16))
            mods.append(row)
        out.append(HistorySample(int(t), {n: float(v[k]) for n, v in bank.items()}, tuple(mods)))
    return out


def timed(fn: Callable[[], Any], repeats: int) -> list[float]:
    fn()  # warm: connections, caches
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000.0)
    return out


def row(metric: str, values: list[float], unit: str, target: str = "", worst: str = "high") -> dict[str, Any]:
    arr = np.asarray(values)
    p99 = float(np.percentile(arr, 99 if worst == "high" else 1))
    return {
        "metric": metric,
        "p50": float(np.median(arr)),
        "p99": p99,
        "unit": unit,
        "min": float(arr.min()),
        "max": float(arr.max()),
        "runs": len(values),
        "target": target,
    }


def query_rows(store: HistoryStore, backend: str, repeats: int) -> list[dict[str, Any]]:
    week = (T_END - 7 * DAY, T_END)
    rows = []
    for scope, fields, module in (("bank", BANK_FIELDS, None), ("all modules", MODULE_FIELDS, "all")):

        def as_json(fields: list[str] = fields, module: str | None = module) -> int:
            plan = store.plan(*week, fields, 300, module)
            return len(json.dumps(history_json(store.run(plan), plan)))

        def as_csv(fields: list[str] = fields, module: str | None = module) -> int:
            plan = store.plan(*week, fields, 300, module)
            return sum(len(piece) for piece in store.csv_text(plan))

        target = "p99 <= 200 ms" if scope == "bank" else ""
        rows.append(row(f"{backend} week@5min {scope} json", timed(as_json, repeats), "ms", target))
        rows.append(row(f"{backend} week@5min {scope} csv", timed(as_csv, repeats), "ms", target))
    return rows


def append_rows(url: str, backend: str, runs: int, n_seconds: int) -> list[dict[str, Any]]:
    """Throughput of the writer on an empty database, and the caller's cost of ``append``."""
    samples = seconds(np.arange(T_END, T_END + n_seconds, dtype=np.int64))
    rates: list[float] = []
    call_us: list[float] = []
    for run in range(runs):
        store = HistoryStore(url, queue_size=n_seconds + 1, flush_every_s=0.2)
        shifted = [HistorySample(s.t_s + run * 10 * n_seconds, s.bank, s.modules) for s in samples]
        start = time.perf_counter()
        for s in shifted:
            t = time.perf_counter()
            store.append(s)
            call_us.append((time.perf_counter() - t) * 1e6)
        assert store.flush(600.0)
        rates.append(n_seconds / (time.perf_counter() - start))
        assert store.stats.dropped == 0 and store.stats.write_errors == 0, store.stats
        store.close()
    return [
        row(f"{backend} append() call", call_us, "us", "never waits for the database"),
        row(f"{backend} append throughput", rates, "samples/s (16 modules)", ">> 1 sample/s", worst="low"),
    ]


def table_bytes(store: HistoryStore) -> dict[str, int]:
    with store.engine.connect() as conn:
        if store.dialect == "sqlite":
            got = conn.exec_driver_sql("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").all()
            return {str(name): int(size) for name, size in got}
        return {
            t.table.name: int(conn.exec_driver_sql(f"SELECT pg_total_relation_size('{t.table.name}')").scalar() or 0)
            for t in TIERS
        }


def size_rows(store: HistoryStore, backend: str, days: float, raw_hours: float) -> list[dict[str, Any]]:
    sizes = table_bytes(store)
    per: dict[str, float] = {}
    rows = []
    for tier in TIERS:
        # the cells' tiers come only from the raw cells of the last hours; the other tiers span the month
        covered = raw_hours / 24.0 if tier.is_raw or tier.series.name == "cell" else days
        units = covered * (MODULES if tier.series.per_module else 1)
        value = sizes.get(tier.table.name, 0) / units
        per[tier.table.name] = value
        what = "module-day" if tier.series.per_module else "bank-day"
        rows.append(row(f"{backend} size {tier.table.name}", [value / 1e6], f"MB per {what}"))
    keep = HistoryRetention()
    steady = sum(per[t.table.name] * (keep.days_for(t) or 365.0) for t in TIERS if t.series.per_module)
    bank = sum(per[t.table.name] * (keep.days_for(t) or 365.0) for t in TIERS if not t.series.per_module)
    rows.append(row(f"{backend} size steady state per module", [steady / 1e6], "MB (default retention)"))
    rows.append(row(f"{backend} size steady state bank rows", [bank / 1e6], "MB (default retention)"))
    return rows


def bench(backend: str, url: str, args: Any) -> list[dict[str, Any]]:
    days, raw_hours = (8.0, 0.5) if args.quick else (30.0, 2.0)
    store = HistoryStore(url, writer=False)
    try:
        took = fill_month(store, days, raw_hours)
        print(f"{backend}: filled {days:g} days (" + ", ".join(f"{k} {v:.1f} s" for k, v in took.items()) + ")")
        rows = query_rows(store, backend, 10 if args.quick else 40)
        rows += size_rows(store, backend, days, raw_hours)
    finally:
        store.close()
    return rows


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--backend", default="sqlite,postgresql", help="sqlite, postgresql or both (comma-separated)")
    args = p.parse_args()
    rows: list[dict[str, Any]] = []
    work = Path(tempfile.mkdtemp(prefix="ml314-bench-history-"))
    server: PostgresServer | None = None
    try:
        for backend in args.backend.split(","):
            if backend == "sqlite":
                url = f"sqlite:///{work / 'month.sqlite'}"
                fresh = f"sqlite:///{work / 'append.sqlite'}"
            elif backend == "postgresql":
                bin_dir = _bin_dir()
                if bin_dir is None:
                    sys.exit("history benchmark: PostgreSQL binaries not found (apt-get install -y postgresql)")
                server = PostgresServer(bin_dir)
                server.start()
                url, fresh = server.new_database(), server.new_database()
            else:
                sys.exit(f"history benchmark: --backend {backend!r}: sqlite or postgresql")
            rows += bench(backend, url, args)
            rows += append_rows(fresh, backend, 3 if args.quick else 5, 120 if args.quick else 300)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    finish(NAME, rows, COLUMNS, args.json)
    week = [r for r in rows if "week@5min bank" in r["metric"]]
    print(f"\nweek at 5 min, bank: worst p99 {max(r['p99'] for r in week):.1f} ms (target 200 ms); "
          f"steady state {statistics.fmean(r['p50'] for r in rows if 'steady state per module' in r['metric']):.0f}"
          " MB per module")  # fmt: skip


if __name__ == "__main__":
    main()
