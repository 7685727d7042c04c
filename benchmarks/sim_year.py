"""A year of a 16-module bank at 1 s steps with 10 s samples: wall time, peak memory and file size.

Runs the installed command as a user would, in a child process,

    ml314 simulate --scenario home --modules 16 --days 365 --sample 10s --no-report --quiet --no-bms --out TMP

(the twin alone, issue 2's target; the BMS year is extrapolated by sim_speed.py from one simulated day)

and measures its wall time (process start to exit: interpreter start, imports, numba cache load, the run, the
parquet footer) and its peak resident set size. Then it renders the report of that year's file in a second
child process (``ml314.storage.report.write_report``) and measures that too. Each child's peak RSS comes from
``os.wait4`` (the ``getrusage`` record of that one child, so the second measurement is not the maximum of
both, as ``RUSAGE_CHILDREN`` would be). ``--quick`` simulates 30 days instead of 365.

    python benchmarks/sim_year.py [--quick] [--json PATH]
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import finish, parse_args

NAME = "sim_year"
MODULES = 16
SAMPLE_S = 10
TARGET_WALL_S = 120
TARGET_PEAK_RSS_MB = 1024
CHILD_TIMEOUT_S = 1800.0
COLUMNS = (
    "step",
    "modules",
    "days",
    "sample_s",
    "wall_s",
    "target_wall_s",
    "realtime_factor",
    "engine_realtime_factor",
    "peak_rss_mb",
    "target_peak_rss_mb",
    "series_mb",
)

_REPORT_SCRIPT = """
import json, sys
from pathlib import Path
from ml314.storage.report import write_report
series, out = Path(sys.argv[1]), Path(sys.argv[2])
summary = json.loads(Path(sys.argv[3]).read_text())
write_report(series, out, summary, title="ml314 simulate: " + summary["run"]["scenario"])
"""


@dataclass(frozen=True)
class ChildRun:
    """Wall time and peak RSS of one finished child process."""

    wall_s: float
    peak_rss_mb: float


def _maxrss_mb(ru_maxrss: int) -> float:
    # Linux reports kibibytes, macOS bytes.
    return ru_maxrss / 2**20 if sys.platform == "darwin" else ru_maxrss / 1024.0


def run_child(argv: list[str], log_dir: Path, label: str) -> ChildRun:
    """Run ``argv`` to completion; return its wall time and its own peak RSS; raise with its output on failure."""
    out_path = log_dir / f"{label}.stdout"
    err_path = log_dir / f"{label}.stderr"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        timer = threading.Timer(CHILD_TIMEOUT_S, proc.kill)
        timer.start()
        try:
            if hasattr(os, "wait4"):
                _, status, usage = os.wait4(proc.pid, 0)
                proc.returncode = os.waitstatus_to_exitcode(status)
                peak = _maxrss_mb(usage.ru_maxrss)
            else:  # pragma: no cover - no wait4: fall back to the maximum over all waited-for children
                proc.wait()
                peak = _maxrss_mb(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
        finally:
            timer.cancel()
        wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = err_path.read_text(errors="replace")[-4000:] or out_path.read_text(errors="replace")[-4000:]
        raise RuntimeError(f"{label} exited with {proc.returncode}: {' '.join(argv)}\n{tail}")
    return ChildRun(wall, peak)


def ml314_command() -> str:
    """The installed ``ml314`` console script of the interpreter running this benchmark."""
    here = Path(sys.executable).parent
    for name in ("ml314", "ml314.exe"):
        if (here / name).is_file():
            return str(here / name)
    raise SystemExit(f"no ml314 console script next to {sys.executable}; install the package (pip install -e .)")


def main() -> None:
    args = parse_args(__doc__)
    days = 30 if args.quick else 365
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="ml314-bench-year-") as tmp_name:
        tmp = Path(tmp_name)
        run_dir = tmp / "run"
        argv = [
            ml314_command(),
            "simulate",
            "--scenario",
            "home",
            "--modules",
            str(MODULES),
            "--days",
            str(days),
            "--sample",
            f"{SAMPLE_S}s",
            "--no-report",
            "--quiet",
            "--no-bms",
            "--out",
            str(run_dir),
        ]
        print(f"simulating {days} days of {MODULES} modules in a child process ...", file=sys.stderr, flush=True)
        sim = run_child(argv, tmp, "simulate")
        series = run_dir / "timeseries.parquet"
        summary_path = run_dir / "summary.json"
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        series_mb = series.stat().st_size / 2**20
        results.append(
            {
                "step": "simulate",
                "modules": MODULES,
                "days": days,
                "sample_s": SAMPLE_S,
                "wall_s": sim.wall_s,
                "realtime_factor": days * 86400.0 / sim.wall_s,
                "engine_wall_s": summary["run"]["wall_time_s"],
                "engine_realtime_factor": summary["run"]["realtime_factor"],
                "rows": summary["run"]["rows"],
                "peak_rss_mb": sim.peak_rss_mb,
                "series_mb": series_mb,
                "target_wall_s": TARGET_WALL_S,
                "target_peak_rss_mb": TARGET_PEAK_RSS_MB,
            }
        )

        print("rendering the report of that file in a child process ...", file=sys.stderr, flush=True)
        report_dir = tmp / "report"
        rep = run_child(
            [sys.executable, "-c", _REPORT_SCRIPT, str(series), str(report_dir), str(summary_path)], tmp, "report"
        )
        if not (report_dir / "report.html").is_file():
            raise RuntimeError("the report child exited 0 but wrote no report.html")
        results.append(
            {
                "step": "report",
                "modules": MODULES,
                "days": days,
                "sample_s": SAMPLE_S,
                "wall_s": rep.wall_s,
                "peak_rss_mb": rep.peak_rss_mb,
                "series_mb": series_mb,
                "target_peak_rss_mb": TARGET_PEAK_RSS_MB,
            }
        )
    finish(NAME, results, COLUMNS, args.json)


if __name__ == "__main__":
    main()
