"""``ml314 sweep`` throughput: case-years per hour on 1 and 2 local worker processes and on a 2-worker
``dask scheduler`` on loopback, and the parallel efficiency (speed-up over 1 worker divided by workers).

Each configuration starts its cluster once (not timed), loads the kernels into every worker (timed apart, as
``warm_up_s``), then runs the same study several times into fresh folders (so every case runs every time) and
takes each run's wall time from the first case submitted to the last result (``runtime/sweep.run_study``). Rows
give the median over the runs and the spread (max - min). ``case_years_per_cpu_hour`` divides by the CPU time each
case's worker process spent on it (median over cases): what a core yields when it is ours alone, a figure the
machine's other load does not change, while the wall-clock figures and the efficiency are only as good as the
machine was quiet (``load_avg_1min`` at the end of each configuration).

Studies: 16 modules without the bank link (the engine's speed with every BMS), and 16 modules with the bank link
(`simulate`'s default for 2+ modules, the link by events), one day per case; ``--quick``: 0.1 day per case, fewer
runs.

    python benchmarks/sweep.py [--quick] [--json PATH]

Issue 15's targets: efficiency >= 0.9, and >= 30 case-years of 16 modules per hour on a 2-core machine.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from distributed import Client

from _common import finish, parse_args

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/peers: the processes' stop
from tests.peers.process import stop_all

from ml314.runtime.sweep import open_client, run_study
from ml314.runtime.sweep_study import Study, read_study

NAME = "sweep"
COLUMNS = (
    "cluster",
    "workers",
    "modules",
    "with_link",
    "cases",
    "case_days",
    "runs",
    "wall_s",
    "wall_s_spread",
    "case_years_per_hour",
    "case_years_per_hour_spread",
    "efficiency",
    "case_years_per_cpu_hour",
    "warm_up_s",
    "load_avg_1min",
)


@contextmanager
def dask_scheduler(workers: int, folder: Path) -> Iterator[Client]:
    """A ``dask scheduler`` process and ``workers`` ``dask worker`` processes on loopback, and a client of them."""
    file = folder / "scheduler.json"
    python = [sys.executable, "-m"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler = [*python, "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
    procs = [subprocess.Popen([*scheduler, "--scheduler-file", str(file)], **quiet)]  # type: ignore[call-overload]
    try:
        while not file.exists():
            if procs[0].poll() is not None:
                raise RuntimeError("dask scheduler exited")
            time.sleep(0.05)
        worker = [*python, "distributed.cli.dask_worker", "--scheduler-file", str(file), "--nthreads", "1"]
        for i in range(workers):
            where = ["--no-nanny", "--no-dashboard", "--host", "127.0.0.1", "--local-directory", str(folder / f"w{i}")]
            procs.append(subprocess.Popen([*worker, *where], **quiet))  # type: ignore[call-overload]
        with Client(scheduler_file=str(file)) as client:  # type: ignore[no-untyped-call]
            client.wait_for_workers(workers)
            yield client
    finally:
        stop_all(procs)


@contextmanager
def cluster(kind: str, workers: int, folder: Path) -> Iterator[Client]:
    """A client of a local process cluster, or of a scheduler and workers started as processes."""
    if kind == "local":
        with open_client(workers=workers) as client:
            yield client
    else:
        with dask_scheduler(workers, folder) as client:
            yield client


def measure(kind: str, workers: int, study: Study, runs: int) -> dict[str, Any]:
    """Median and spread of ``runs`` runs of ``study`` on one cluster."""
    cases = study.expand()
    case_days = cases[0].days
    walls = []
    cpu_per_case = []
    warm = 0.0
    with tempfile.TemporaryDirectory(prefix="ml314-bench-sweep-") as tmp, cluster(kind, workers, Path(tmp)) as c:
        for i in range(runs):
            outcome = run_study(study, Path(tmp) / f"run{i}", c, report=False)
            if outcome.failed:
                bad = next(r for r in outcome.rows if r.get("error"))
                raise RuntimeError(f"a case failed: {bad['error']}")
            walls.append(outcome.wall_s)
            cpu_per_case += [float(r["cpu_s"]) for r in outcome.rows]
            if i == 0:
                warm = outcome.warm_up_s  # later runs find the kernels loaded
    rates = [len(cases) * case_days / 365.0 / (w / 3600.0) for w in walls]
    return {
        "cluster": "local processes" if kind == "local" else "dask scheduler (loopback)",
        "workers": workers,
        "modules": cases[0].modules,
        "with_link": cases[0].request().with_link,
        "cases": len(cases),
        "case_days": case_days,
        "runs": runs,
        "wall_s": statistics.median(walls),
        "wall_s_spread": max(walls) - min(walls),
        "case_years_per_hour": statistics.median(rates),
        "case_years_per_hour_spread": max(rates) - min(rates),
        "case_years_per_cpu_hour": case_days / 365.0 / (statistics.median(cpu_per_case) / 3600.0),
        "warm_up_s": warm,
        "load_avg_1min": os.getloadavg()[0],
    }


def main() -> None:
    """Measure every configuration for each study; print the table; write the JSON when asked."""
    args = parse_args(__doc__)
    modules = 16
    runs = 3 if args.quick else 5
    # (with_link, days per case): the link runs by events, so its cases are as long as the others
    days = 0.1 if args.quick else 1.0
    variants = ((False, days), (True, days))
    rows: list[dict[str, Any]] = []
    for with_link, days in variants:
        grid = {"modules": str(modules), "days": str(days), "pv_kw": "4,6,8,10"}
        study = read_study(None, {"with_link": with_link, "sample_s": 3600.0, "grid": grid})
        base = None
        for kind, workers in (("local", 1), ("local", 2), ("scheduler", 2)):
            row = measure(kind, workers, study, runs)
            if base is None:
                base = row["case_years_per_hour"]
            row["efficiency"] = row["case_years_per_hour"] / base / workers
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    finish(NAME, rows, COLUMNS, args.json)


if __name__ == "__main__":
    main()
