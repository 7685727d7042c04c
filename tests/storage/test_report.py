"""Simulation report: streamed envelopes against numpy, PNGs and HTML, bounded memory."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pytest

from ml314.storage.report import (
    downsample_envelope,
    format_value,
    modules_in,
    nice_rows_per_bin,
    write_report,
)
from ml314.storage.timeseries import Column, open_writer

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HOME_PLOTS = ("soc.png", "voltage.png", "current.png", "power.png", "cell_spread.png", "temperature.png")
MODULE_QUANTITIES = (
    ("current_a", "A"), ("voltage_v", "V"), ("soc", "1"), ("cell_min_v", "V"), ("cell_max_v", "V"),
    ("temp_min_c", "°C"), ("temp_max_c", "°C"),
)  # fmt: skip
HOME_COLUMNS = (
    ("grid_up", "1"), ("pv_w", "W"), ("load_w", "W"), ("grid_w", "W"), ("battery_w", "W"),
    ("curtailed_w", "W"), ("unserved_w", "W"),
)  # fmt: skip


def bank_columns(modules: int, home: bool) -> list[Column]:
    """The simulator's column convention (see the storage brief)."""
    cols = [Column("t_s", "s"), Column("ambient_c", "°C")]
    if home:
        cols += [Column(n, u) for n, u in HOME_COLUMNS]
    cols += [Column("bus_voltage_v", "V"), Column("bus_current_a", "A")]
    cols += [Column(f"m{m:02d}_{q}", u) for m in range(1, modules + 1) for q, u in MODULE_QUANTITIES]
    return cols


def bank_block(t_s: npt.NDArray[np.float64], modules: int, home: bool) -> npt.NDArray[np.float64]:
    """Plausible rows: a daily PV cycle, an evening load, a grid outage, modules sharing current unevenly."""
    day = (t_s % 86400) / 86400
    pv = np.clip(np.sin((day - 0.25) * 2 * np.pi), 0, None) * 6000
    load = 700 + 1500 * (np.abs(day - 0.8) < 0.05)
    battery = pv - load
    bus_i = battery / 51.2
    soc = 0.5 + 0.4 * np.sin(t_s / 86400 * 2 * np.pi)
    cols = [t_s, 20 + 5 * np.sin(day * 2 * np.pi)]
    if home:
        grid_up = ((t_s // 3600) % 30 != 7).astype(np.float64)
        cols += [grid_up, pv, load, np.clip(-battery, 0, None) * 0.1, battery, 0 * t_s, (1 - grid_up) * 50]
    cols += [52 + 2 * soc, bus_i]
    share = np.linspace(0.9, 1.1, modules)
    share /= share.sum()
    for m in range(modules):
        v = 52 + 2 * soc + 0.01 * bus_i
        cols += [
            bus_i * share[m],
            v,
            soc - 0.01 * m,
            v / 16 - 0.004,
            v / 16 + 0.001 * m,
            22 + 0 * t_s,
            25 + 0 * t_s,
        ]
    return np.column_stack(cols)


def write_bank(path: Path, rows: int, modules: int, home: bool, fmt: Literal["parquet", "csv"]) -> None:
    with open_writer(path, bank_columns(modules, home), fmt) as w:
        for start in range(0, rows, 10_000):
            w.write(bank_block(np.arange(start, min(start + 10_000, rows), dtype=np.float64) * 10.0, modules, home))


def _synthetic(path: Path, rows: int) -> npt.NDArray[np.float64]:
    rng = np.random.default_rng(7)
    data = np.column_stack([np.arange(rows) * 10.0, rng.normal(size=rows), rng.normal(size=rows)])
    data[rng.integers(0, rows, 50), 1] = np.nan
    with open_writer(path, [Column("t_s", "s"), Column("x_v", "V"), Column("y_a", "A")], "parquet") as w:
        for start in range(0, rows, 3333):
            w.write(data[start : start + 3333])
    return data


@pytest.mark.parametrize(("max_points", "batch_rows"), [(97, 1000), (2000, 5000), (1, 1024)])
def test_envelope_matches_numpy(tmp_path: Path, max_points: int, batch_rows: int) -> None:
    rows = 12_345
    data = _synthetic(tmp_path / "s.parquet", rows)
    env = downsample_envelope(tmp_path / "s.parquet", ["x_v", "y_a"], max_points, batch_rows=batch_rows)
    per_bin = -(-rows // max_points)
    chunks = range(0, rows, per_bin)
    assert len(env["x_v"].mean) == len(chunks) <= max_points
    for i, start in enumerate(chunks):
        part = data[start : start + per_bin]
        assert env["x_v"].t_s[i] == pytest.approx(part[:, 0].mean())
        assert env["x_v"].min[i] == np.nanmin(part[:, 1])
        assert env["x_v"].max[i] == np.nanmax(part[:, 1])
        assert env["x_v"].mean[i] == pytest.approx(np.nanmean(part[:, 1]), rel=1e-9, abs=1e-12)
        assert env["y_a"].min[i] == part[:, 2].min()
        assert env["y_a"].max[i] == part[:, 2].max()
    assert "t_s" not in env


def test_envelope_with_fewer_rows_than_points_is_the_series_itself(tmp_path: Path) -> None:
    data = _synthetic(tmp_path / "s.parquet", 300)
    env = downsample_envelope(tmp_path / "s.parquet", ["y_a"], max_points=2000)
    for arr in (env["y_a"].min, env["y_a"].mean, env["y_a"].max):
        np.testing.assert_array_equal(arr, data[:, 2])
    np.testing.assert_array_equal(env["y_a"].t_s, data[:, 0])


def test_envelope_all_nan_bin_is_nan_and_derived_series_are_binned(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    data = np.column_stack([np.arange(8.0), [1, 2, np.nan, np.nan, 5, 6, 7, 8], np.arange(8.0) * 2])
    with open_writer(path, [Column("t_s", "s"), Column("a_v", "V"), Column("b_v", "V")], "csv") as w:
        w.write(data)
    env = downsample_envelope(
        path, ["a_v", "b_v"], max_points=4, derived={"d_mv": lambda b: (b["b_v"] - b["a_v"]) * 1000}
    )
    np.testing.assert_array_equal(env["a_v"].min, [1, np.nan, 5, 7])
    np.testing.assert_array_equal(env["a_v"].max, [2, np.nan, 6, 8])
    np.testing.assert_array_equal(env["d_mv"].max, [0, np.nan, 4000, 6000])
    np.testing.assert_array_equal(env["b_v"].mean, [1, 5, 9, 13])


def test_nice_bins_are_round_durations(tmp_path: Path) -> None:
    path = tmp_path / "s.parquet"
    _synthetic(path, 30_000)  # 10 s steps, 83 h
    per_bin = nice_rows_per_bin(path, 30_000, 2000)
    assert per_bin == 30  # 5 min: the smallest round duration giving <= 2000 bins
    assert nice_rows_per_bin(path, 3_153_600, 2000) == 2160  # a year: 6 h bins


def test_modules_are_discovered_from_names() -> None:
    names = ["t_s", "m02_soc", "m01_voltage_v", "m10_current_a", "mx1_soc", "m1_soc", "bus_voltage_v"]
    assert modules_in(names) == ["m01", "m02", "m10"]


@pytest.mark.parametrize(
    ("key", "value", "text"),
    [
        ("pv_kwh", 1234.5678, "1,235 kWh"),
        ("self_sufficiency_pct", 87.254, "87.25 %"),
        ("min_cell_v", 2.91234, "2.912 V"),
        ("peak_current_a", -212.345, "-212.3 A"),
        ("max_temp_c", 41.2, "41.2 °C"),
        ("duration_s", 86400.0 * 3, "259,200 s (3.0 d)"),
        ("losses_wh", 0.0, "0 Wh"),
        ("modules", 16, "16"),
        ("ok", True, "yes"),
        ("soc_error_pct", float("nan"), "—"),
        ("name", "x", "x"),
    ],
)
def test_summary_values_carry_units_from_key_suffix(key: str, value: object, text: str) -> None:
    assert format_value(key, value) == text


def _check_pngs(out: Path, names: tuple[str, ...]) -> None:
    for name in names:
        data = (out / name).read_bytes()
        assert len(data) > 1000 and data[:8] == PNG_SIGNATURE, name


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_home_report_has_every_plot_and_escaped_html(tmp_path: Path, fmt: Literal["parquet", "csv"]) -> None:
    series = tmp_path / "run" / f"series.{fmt}"
    write_bank(series, 30_000, 3, home=True, fmt=fmt)
    summary = {
        "scenario": "<b>bold</b>",
        "duration_s": 300_000.0,
        "energy": {"pv_kwh": 1234.5678, "self_sufficiency_pct": 87.25},
        "bank": {"modules": 3, "limits": {"max_charge_a": 200.0}},
    }
    page = write_report(series, tmp_path / "out", summary, "Run <script>alert(1)</script> & co")
    assert page == tmp_path / "out" / "report.html"
    _check_pngs(page.parent, HOME_PLOTS)
    text = page.read_text(encoding="utf-8")
    for name in HOME_PLOTS:
        assert f"src='{name}'" in text
    assert "<script>alert" not in text
    assert "Run &lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in text
    assert "&lt;b&gt;bold&lt;/b&gt;" in text
    assert "1,235 kWh" in text and "87.25 %" in text and "200 A" not in text and "200.0 A" in text
    assert ">energy</h3>" in text and ">limits</h4>" in text
    assert "Generated by ml314" in text
    assert "30,000 rows, 3 module(s)" in text


def test_lab_report_skips_plots_without_columns(tmp_path: Path) -> None:
    series = tmp_path / "lab.parquet"
    write_bank(series, 5_000, 1, home=False, fmt="parquet")
    page = write_report(series, tmp_path, {}, "lab")
    text = page.read_text(encoding="utf-8")
    lab_plots = ("soc.png", "voltage.png", "current.png", "cell_spread.png", "temperature.png")
    _check_pngs(tmp_path, lab_plots)
    assert all(f"src='{n}'" in text for n in lab_plots)
    assert "power.png" not in text and not (tmp_path / "power.png").exists()


@pytest.mark.long
def test_report_memory_stays_bounded(tmp_path: Path) -> None:
    """1 M rows x 123 columns (16 modules, ~1 GB of float64): report peak RSS grows < 300 MB."""
    series = tmp_path / "big.parquet"
    script = textwrap.dedent(
        f"""
        import resource, sys
        from pathlib import Path
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_report import write_bank
        from ml314.storage.report import write_report

        path = Path({str(series)!r})
        write_bank(path, 1_000_000, 16, home=True, fmt="parquet")
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        write_report(path, path.parent, {{}}, "big")
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print((after - before) * 1024)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    growth_bytes = int(out.stdout.split()[-1])
    assert growth_bytes < 300 * 2**20, f"max RSS grew {growth_bytes / 2**20:.0f} MB"
    _check_pngs(tmp_path, HOME_PLOTS)
