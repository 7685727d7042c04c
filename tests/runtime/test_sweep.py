"""Sweeps on real Dask clusters: resume, a failing case, and a real ``dask scheduler`` with two ``dask worker``
processes on loopback. Cases are tiny (1-2 modules, a quarter of a day) so the behaviour, not the physics, is
what takes the time."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from distributed import Client, LocalCluster

from ml314.runtime.sweep import TABLE_FILE, run_study
from ml314.runtime.sweep_study import read_study

TINY = {"with_link": False, "grid": {"days": "0.25"}}


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    """A local Dask cluster inside this process (threads: cheap to start; the process cluster is the CLI's)."""
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster,
        Client(cluster) as c,
    ):
        yield c


def table(out: Path) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = pq.read_table(out / TABLE_FILE).to_pylist()
    return rows


def test_a_stopped_study_resumes_without_redoing_finished_cases(client: Client, tmp_path: Path) -> None:
    study = read_study(None, TINY | {"grid": {"days": "0.25", "pv_kw": "4,8"}})
    first = run_study(study, tmp_path, client, report=False)
    assert (first.cases, first.ran, first.kept, first.failed) == (2, 2, 0, 0)
    kept = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "cases").iterdir()}
    assert len(kept) == 2
    again = run_study(study, tmp_path, client, report=False)
    assert (again.ran, again.kept) == (0, 2)
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "cases").iterdir()} == kept  # not rewritten
    # a bigger study in the same folder runs only its new case
    bigger = read_study(None, TINY | {"grid": {"days": "0.25", "pv_kw": "4,8,12"}})
    third = run_study(bigger, tmp_path, client, report=False)
    assert (third.cases, third.ran, third.kept) == (3, 1, 2)
    rows = table(tmp_path)
    assert sorted(r["pv_kw"] for r in rows) == [4.0, 8.0, 12.0]  # type: ignore[type-var]
    assert all(r["error"] is None and r["soh_15y_pct"] is not None for r in rows)


def test_a_failing_case_is_reported_and_the_others_finish(client: Client, tmp_path: Path) -> None:
    (tmp_path / "good.csv").write_text("time_s,power_w\n0,400\n3600,900\n")
    (tmp_path / "bad.csv").write_text("time_s,power_w\n0,400\n3600,lots\n")
    study_path = tmp_path / "study.toml"
    study_path.write_text('with_link = false\n[grid]\ndays = [0.25]\nload_csv = ["good.csv", "bad.csv"]\n')
    out = tmp_path / "out"
    outcome = run_study(read_study(study_path), out, client, report=True)
    assert (outcome.cases, outcome.ran, outcome.failed) == (2, 2, 1)
    rows = {Path(str(r["load_csv"])).name: r for r in table(out)}
    assert rows["good.csv"]["error"] is None
    assert rows["good.csv"]["autarky_pct"] is not None
    error = str(rows["bad.csv"]["error"])
    assert error.startswith("InputError") and "bad.csv" in error and "lots" in error
    assert rows["bad.csv"]["autarky_pct"] is None
    page = (out / "report.html").read_text()
    assert "Failed cases" in page and "lots" in page
    # the next run tries the failed case again (it may have been the machine's fault), not the finished one
    again = run_study(read_study(study_path), out, client, report=False)
    assert (again.ran, again.kept, again.failed) == (1, 1, 1)


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", *args], stdout=log.open("wb"), stderr=subprocess.STDOUT)


def _scheduler_address(path: Path, scheduler: subprocess.Popen[bytes], log: Path) -> str:
    """Wait for the scheduler to write its file (or die)."""
    while True:
        if scheduler.poll() is not None:
            pytest.fail(f"dask scheduler exited: {log.read_text()}")
        try:
            address: str = json.loads(path.read_text())["address"]
            return address
        except (OSError, ValueError, KeyError):
            time.sleep(0.05)  # polling a condition, not waiting a fixed time


def test_cases_run_on_a_real_dask_scheduler_with_two_workers_on_loopback(tmp_path: Path) -> None:
    file = tmp_path / "scheduler.json"
    scheduler = ["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
    procs = [_start([*scheduler, "--scheduler-file", str(file)], tmp_path / "scheduler.log")]
    try:
        address = _scheduler_address(file, procs[0], tmp_path / "scheduler.log")
        assert address.startswith("tcp://127.0.0.1:")
        worker = ["distributed.cli.dask_worker", "--scheduler-file", str(file), "--nthreads", "1", "--no-nanny"]
        for i in range(2):
            where = ["--no-dashboard", "--host", "127.0.0.1", "--local-directory", str(tmp_path / f"w{i}")]
            procs.append(_start([*worker, *where], tmp_path / f"worker{i}.log"))
        with Client(address) as client:
            client.wait_for_workers(2)
            worker_pids = set(client.run(lambda: __import__("os").getpid()).values())
            study = read_study(None, TINY | {"grid": {"days": "0.25", "modules": "1,2", "pv_kw": "4"}})
            outcome = run_study(study, tmp_path / "out", client, report=False)
        assert (outcome.cases, outcome.ran, outcome.failed, outcome.workers) == (2, 2, 0, 2)
        rows = table(tmp_path / "out")
        ran_on = {int(str(r["worker"]).rsplit(":", 1)[1]) for r in rows}
        assert ran_on <= worker_pids and len(worker_pids) == 2
        assert sorted((r["modules"], r["pv_kw"]) for r in rows) == [(1, 4.0), (2, 4.0)]  # type: ignore[type-var]
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            p.wait()
