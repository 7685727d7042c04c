"""``ml314 sweep`` as a user runs it: a real process with a local cluster of worker processes, its files, its
exit code and its one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.cli.test_simulate_cli import assert_one_line_error, succeeded

ML314 = (sys.executable, "-m", "ml314.cli.main")
#: a safety net only: a command ends on its own; a first start may compile the battery model for minutes
TIMEOUT_S = 900


def sweep(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ML314, "sweep", *map(str, args)], capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )


def test_a_study_runs_on_local_worker_processes_and_writes_the_table_and_the_report(tmp_path: Path) -> None:
    study = tmp_path / "study.toml"
    study.write_text(
        'name = "tiny"\nwith_link = false\n[grid]\nmodules = [1]\npv_kw = [4, 8]\ndays = [0.25]\n'
        "[tariff]\nimport_per_kwh = 0.3\nexport_per_kwh = 0.08\nmodule_price = 2500\ncurrency = 'EUR'\n"
    )
    out = tmp_path / "out"
    result = succeeded(sweep(study, "--out", out, "--workers", "1", "--reserve", "0.3", "--quiet"))
    assert "2 cases: 2 run on 1 worker(s)" in result.stdout
    rows = pq.read_table(out / "results.parquet").to_pylist()
    assert sorted(r["pv_kw"] for r in rows) == [4.0, 8.0]
    assert {r["reserve"] for r in rows} == {0.3}  # the option overrode the file's grid
    for r in rows:
        assert r["error"] is None
        assert r["annual_savings"] is not None and r["soh_10y_pct"] is not None
        assert r["backup_hours_at_reserve"] > 0
    page = (out / "report.html").read_text()
    assert "ml314 sweep: tiny" in page and "autarky.png" in page
    assert (out / "autarky.png").stat().st_size > 0 and (out / "soh.png").stat().st_size > 0
    assert len(list((out / "cases").glob("*.json"))) == 2


@pytest.mark.parametrize(
    ("text", "args", "needles"),
    [
        ("[grid]\nmodulez = [1, 2]\n", (), ("grid.modulez", "'modules'")),
        ("", ("--pv-kw", "5,five"), ("--pv-kw", "five")),
        ("", ("--workers", "0"), ("--workers",)),
    ],
)
def test_a_bad_study_is_one_line_and_exit_2(
    tmp_path: Path, text: str, args: tuple[str, ...], needles: tuple[str, ...]
) -> None:
    study = tmp_path / "study.toml"
    study.write_text(text)
    assert_one_line_error(sweep(study, "--out", tmp_path / "out", *args), *needles)
    assert not (tmp_path / "out").exists()  # refused before anything was written or started


def test_a_missing_study_file_is_named() -> None:
    assert_one_line_error(sweep("no-such-study.toml"), "no-such-study.toml")
