"""``ml314 simulate`` as a user runs it: a real process, its files, its exit code and its one-line errors."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ML314 = (sys.executable, "-m", "ml314.cli.main")
SMALL = ("--days", "0.25", "--sample", "10min", "--quiet")
SUMMARY_KEYS = {"run", "energy", "ratios", "losses", "soc", "cells", "bank"}
REPORT_FILES = (
    "report.html",
    "soc.png",
    "voltage.png",
    "current.png",
    "power.png",
    "cell_spread.png",
    "temperature.png",
    "summary.json",
    "timeseries.parquet",
)
LAB_EXPERIMENT = "discharge 0.5C to 2.8 V; rest 10 min"
#: a safety net only: a command ends on its own; a first start may compile the battery model for minutes
TIMEOUT_S = 900


def ml314(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run the command line in a fresh interpreter, as the installed ``ml314`` script does."""
    return subprocess.run([*ML314, *map(str, args)], capture_output=True, text=True, timeout=TIMEOUT_S, check=False)


def simulate(out: Path, *args: str | Path, report: bool = False) -> subprocess.CompletedProcess[str]:
    """A small ``ml314 simulate`` run into ``out`` (options given later win over the small defaults)."""
    return ml314("simulate", *SMALL, "--out", out, *(() if report else ("--no-report",)), *args)


def succeeded(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return result


def summary_of(out: Path) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text())
    return summary


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Exit 2, nothing on stdout, one ``ml314: error:`` line on stderr containing every needle."""
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert result.returncode == 2, output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("ml314: error: "), line
    for needle in needles:
        assert needle in line, f"{needle!r} not in {line!r}"
    return line


# -- happy paths -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def home_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("home") / "out"
    return out, succeeded(simulate(out, "--modules", "2"))


def test_home_writes_a_summary_with_every_section(home_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    out, _ = home_run
    summary = summary_of(out)
    assert summary.keys() >= SUMMARY_KEYS
    assert summary["run"]["scenario"] == "home"
    assert summary["run"]["modules"] == 2
    assert summary["run"]["simulated_days"] == pytest.approx(0.25)
    assert summary["outages"]["count"] >= 0
    assert (out / "timeseries.parquet").is_file()
    assert not (out / "report.html").exists()


def test_home_summary_values_are_sane(home_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    out, _ = home_run
    summary = summary_of(out)
    soc = summary["soc"]
    assert 0.0 <= soc["min_pct"] <= soc["max_pct"] <= 100.0
    assert soc["min_pct"] <= soc["end_pct"] <= soc["max_pct"]
    assert soc["start_pct"] == pytest.approx(50.0, abs=1.0)
    for name, value in summary["energy"].items():
        if name != "stored_change_kwh":  # the one signed quantity
            assert value >= 0.0, name
    for name, value in summary["losses"].items():
        assert value >= 0.0, name
    cells = summary["cells"]
    assert 2.0 < cells["min_v"] <= cells["max_v"] < 4.0
    assert cells["min_c"] <= cells["max_c"]
    assert summary["bank"]["max_module_current_a"] <= summary["bank"]["max_bus_current_a"] + 1e-9
    assert summary["run"]["rows"] == round(0.25 * 86400 / 600)


def test_home_prints_where_the_results_are(home_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    out, result = home_run
    assert "simulated 0.25 days of 2 module(s)" in result.stdout
    assert str(out / "summary.json") in result.stdout
    assert "report:" not in result.stdout
    assert result.stderr == ""  # --quiet: no progress bar


def test_report_writes_html_plots_summary_and_parquet(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = succeeded(simulate(out, report=True))
    for name in REPORT_FILES:
        path = out / name
        assert path.is_file(), name
        assert path.stat().st_size > 0, name
    for name in REPORT_FILES:
        if name.endswith(".png"):
            assert (out / name).read_bytes().startswith(b"\x89PNG\r\n\x1a\n"), name
    assert str(out / "report.html") in result.stdout


def test_lab_experiment_ends_steps_by_limit_then_time(tmp_path: Path) -> None:
    out = tmp_path / "lab"
    succeeded(
        simulate(out, "--scenario", "lab", "--experiment", LAB_EXPERIMENT, "--initial-soc", "0.3", "--modules", "1")
    )
    summary = summary_of(out)
    assert summary["run"]["scenario"] == "lab"
    steps = summary["steps"]
    assert [step["ended_by"] for step in steps] == ["limit", "time"]
    assert [step["text"] for step in steps] == ["discharge 0.5C to 2.8 V", "rest 10 min"]
    discharge, rest = steps
    assert discharge["discharged_ah"] > 0.0
    assert discharge["charged_ah"] == 0.0
    assert discharge["end_cell_min_v"] == pytest.approx(2.8, abs=0.01)
    assert rest["start_s"] == pytest.approx(discharge["start_s"] + discharge["duration_s"])
    assert rest["duration_s"] == pytest.approx(600.0)
    assert rest["end_cell_min_v"] > discharge["end_cell_min_v"]  # the cells relax upwards at rest
    assert summary["inverter"] is None


def csv_day(seed: int) -> tuple[str, ...]:
    return ("--format", "csv", "--seed", str(seed), "--modules", "2", "--days", "1")


@pytest.fixture(scope="module")
def seeded_csvs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One day of two modules as CSV, three times at once: seeds 7, 7 and 8."""
    root = tmp_path_factory.mktemp("seeds")
    runs = {
        name: subprocess.Popen(
            [*ML314, "simulate", *SMALL, "--no-report", "--no-link", "--out", str(root / name), *csv_day(seed)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, seed in (("a", 7), ("b", 7), ("c", 8))
    }
    for process in runs.values():
        stdout, stderr = process.communicate(timeout=TIMEOUT_S)
        succeeded(subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr))
    return {name: root / name / "timeseries.csv" for name in runs}


def test_csv_format_writes_a_csv_starting_with_time(seeded_csvs: dict[str, Path]) -> None:
    path = seeded_csvs["a"]
    assert not path.with_suffix(".parquet").exists()
    with path.open(newline="") as file:
        rows = list(csv.reader(file))
    header, data = rows[0], rows[1:]
    assert header[0] == "t_s"
    assert any(name.startswith("m02_") for name in header)
    assert not any(name.startswith("m03_") for name in header)
    assert len(data) == 86400 // 600
    assert all(len(row) == len(header) for row in data)
    times = [float(row[0]) for row in data]
    assert times == sorted(times)
    assert times[1] - times[0] == pytest.approx(600.0)


def test_same_seed_gives_a_byte_identical_series(seeded_csvs: dict[str, Path]) -> None:
    assert seeded_csvs["a"].read_bytes() == seeded_csvs["b"].read_bytes()


def test_another_seed_gives_another_series(seeded_csvs: dict[str, Path]) -> None:
    assert seeded_csvs["a"].read_bytes() != seeded_csvs["c"].read_bytes()


# -- bad input ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("--modules", "17"), ("--modules 17", "1..16")),
        (("--modules", "0"), ("--modules 0", "1..16")),
        (("--days", "-1"), ("--days -1", "positive")),
        (("--days", "nan"), ("--days nan",)),
        (("--sample", "1x"), ("--sample '1x'", "not a duration")),
        (("--sample", "0.5s", "--dt", "1s"), ("--sample 0.5", "shorter than the step")),
        (("--sample", "10min", "--dt", "7s"), ("--sample", "whole number of 7")),
        (("--weather", "foggy"), ("--weather 'foggy'", "sunny, cloudy or mixed")),
        (("--format", "xlsx"), ("--format 'xlsx'", "parquet or csv")),
        (("--scenario", "nope"), ("--scenario 'nope'", "home, lab")),
        (("--mode", "island"), ("--mode 'island'",)),
        (("--reserve", "1.5"), ("--reserve 1.5",)),
        (("--ambient", "1000"), ("--ambient 1000",)),
        (("--outage-hours", "inf"), ("--outage-hours inf",)),
        (("--load-csv", "/nonexistent.csv"), ("--load-csv /nonexistent.csv", "no such file")),
        (("--scenario", "lab"), ("--scenario lab", "--experiment")),
        (("--modules", "x"), ("--modules",)),
        (("--bogus",), ("--bogus",)),
    ],
    ids=lambda value: " ".join(value) if isinstance(value[0], str) and value[0].startswith("--") else "",
)
def test_bad_option_is_one_error_line(tmp_path: Path, args: tuple[str, ...], needles: tuple[str, ...]) -> None:
    out = tmp_path / "out"
    assert_one_line_error(simulate(out, *args), *needles)
    assert not out.exists()  # refused before anything was written


def test_bad_number_in_load_csv_names_the_file_and_line(tmp_path: Path) -> None:
    profile = tmp_path / "house_load.csv"
    profile.write_text("t_s,power_w\n0,100\n60,200\n120,300\n180,12.5.3\n240,100\n")
    line = assert_one_line_error(simulate(tmp_path / "out", "--load-csv", profile), "house_load.csv", "line 5")
    assert "12.5.3" in line


def test_lab_experiment_typo_names_the_step_and_suggests_the_word(tmp_path: Path) -> None:
    result = simulate(tmp_path / "out", "--scenario", "lab", "--experiment", "dischrge 0.5C to 2.5 V")
    line = assert_one_line_error(result, "dischrge 0.5C to 2.5 V", "'discharge'")
    assert "did you mean" in line


def test_out_that_is_a_regular_file_is_refused_and_kept(tmp_path: Path) -> None:
    out = tmp_path / "results"
    out.write_text("not a directory\n")
    assert_one_line_error(simulate(out), "--out", str(out))
    assert out.read_text() == "not a directory\n"


def test_bare_command_shows_help_without_a_traceback() -> None:
    result = ml314()
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    assert "simulate" in result.stdout + result.stderr


def test_unknown_command_is_one_error_line() -> None:
    assert_one_line_error(ml314("simulat"), "simulat")


def test_a_mixed_bank_raises_the_caution_of_13_1_5(tmp_path: Path) -> None:
    r = simulate(tmp_path / "mix", "--modules", "3", "--capacity-ah", "314,314,280", "--days", "0.02")
    assert r.returncode == 0, r.stderr
    assert "differs from the master (capacity 280 Ah)" in r.stdout and "13.1 (5)" in r.stdout
    summary = summary_of(tmp_path / "mix")
    assert summary["bank_link"]["warnings"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--modules", "2", "--capacity-ah", "314"), "--capacity-ah: 1 values for 2 modules"),
        (("--modules", "2", "--capacity-ah", "314,9999"), "--capacity-ah: each module's capacity must be 50..400 Ah"),
        (("--modules", "2", "--capacity-ah", "314,abc"), "--capacity-ah"),
        (("--modules", "3", "--ids", "1,2"), "--ids: 2 values for 3 modules"),
        (("--modules", "2", "--termination", "1,maybe"), "--termination"),
        (("--modules", "2", "--link-baud", "1234"), "--link-baud 1234"),
        (("--modules", "1", "--link-bytes"), "--link-bytes"),
    ],
)
def test_bad_bank_options_are_one_line_errors(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    r = simulate(tmp_path / "bad", *args)
    assert r.returncode == 2, r.stdout
    assert message in r.stderr and "Traceback" not in r.stderr


def test_link_bytes_runs_the_link_on_bytes_with_the_same_membership(tmp_path: Path) -> None:
    for name, extra in (("events", ()), ("bytes", ("--link-bytes",))):
        succeeded(simulate(tmp_path / name, "--modules", "3", "--days", "0.01", *extra))
    events, on_bytes = summary_of(tmp_path / "events")["bank_link"], summary_of(tmp_path / "bytes")["bank_link"]
    assert events["online"] == on_bytes["online"] == [2, 3]
    assert events["events"] == on_bytes["events"]
    assert events["polling_rounds"] == on_bytes["polling_rounds"] > 800


def test_resume_continues_in_the_same_output_folder(tmp_path: Path) -> None:
    out = tmp_path / "run"
    succeeded(simulate(out))
    first = summary_of(out)
    r = succeeded(simulate(out, "--resume", out))
    assert f"resumed from {out / 'bms_state.json'} at t 06:00:00" in r.stdout
    second = summary_of(out)
    assert second["soc"]["start_pct"] == pytest.approx(first["soc"]["end_pct"])
    assert_one_line_error(simulate(tmp_path / "x", "--resume", tmp_path / "nothing"), "--resume", "no saved state")
    assert_one_line_error(simulate(tmp_path / "y", "--resume", out, "--modules", "2"), "saved for a bank of 1 modules")
    assert not (tmp_path / "y").exists()
