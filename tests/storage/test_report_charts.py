"""The data of the charts: daily energy against the power integrated second by second, the highest and lowest cell
named, the simulated calendar, the report's tables without empty or home-only ones, and the history's days."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from ml314.storage.history import HistorySample, HistoryStore
from ml314.storage.history_daily import daily_history, increments
from ml314.storage.report import Envelope
from ml314.storage.report_charts import calendar_origin_s, cell_extremes, chart_document, daily_energy
from ml314.storage.report_html import report_summary
from ml314.storage.timeseries import Column, open_writer

DAY = 86400
SAMPLE = 600  # s per row: the rows hold the interval means of a power that changes every second


def power_w(t: np.ndarray) -> np.ndarray:
    """A battery power that changes sign through the day (second by second)."""
    return 3000.0 * np.sin(2 * np.pi * t / DAY) + 800.0 * np.sin(2 * np.pi * t / 3700.0)


def test_daily_energy_matches_the_power_integrated_second_by_second(tmp_path: Path) -> None:
    t0 = calendar_origin_s(80) + 6 * 3600  # the run starts at 06:00: the first day is short
    seconds = np.arange(0, int(2.5 * DAY))  # the second [s, s + 1) of the run
    p = power_w(seconds.astype(np.float64))
    rows = seconds[SAMPLE - 1 :: SAMPLE] + 1  # a row closes its interval
    means = p.reshape(-1, SAMPLE).mean(axis=1)
    path = tmp_path / "series.parquet"
    with open_writer(path, [Column("t_s", "s"), Column("battery_w", "W"), Column("pv_w", "W")], "parquet") as w:
        w.write(np.column_stack([rows, means, np.full(len(rows), 500.0)]))
    got = daily_energy(path, t0, batch_rows=7)  # batches that cut through days
    # independently: each second's energy, for the day (of the simulated calendar) that second is in
    day = (t0 + seconds) // DAY
    days = np.unique(day)
    # the interval means net charge and discharge within one interval: the independent sum does the same
    interval_energy = np.repeat(means, SAMPLE)
    charged = [np.maximum(interval_energy[day == d], 0).sum() / 3.6e6 for d in days]
    discharged = [np.maximum(-interval_energy[day == d], 0).sum() / 3.6e6 for d in days]
    assert got.day_s.tolist() == (days * DAY).tolist()
    assert got.kwh["charged_kwh"] == pytest.approx(charged, rel=1e-9, abs=1e-9)
    assert got.kwh["discharged_kwh"] == pytest.approx(discharged, rel=1e-9, abs=1e-9)
    assert got.kwh["pv_kwh"] == pytest.approx([np.sum(day == d) * 500.0 / 3.6e6 for d in days])
    # and the days add up to the run, which the mean interval power also tells
    assert sum(got.kwh["charged_kwh"]) - sum(got.kwh["discharged_kwh"]) == pytest.approx(p.sum() / 3.6e6, rel=1e-9)
    assert "load_kwh" not in got.kwh  # no column, no bars


def test_the_highest_and_the_lowest_cell_are_named(tmp_path: Path) -> None:
    n = 50
    cols = [Column("t_s", "s")]
    for m in ("m01", "m02", "m03"):
        cols += [Column(f"{m}_{q}", "V") for q in ("cell_min_v", "cell_max_v", "cell_min_index", "cell_max_index")]
    data = np.zeros((n, len(cols)))
    data[:, 0] = np.arange(1, n + 1) * 60.0
    for k in range(3):
        base = 1 + 4 * k
        data[:, base : base + 4] = [3.30, 3.32, 1, 2]
    data[17, 1 + 4 * 1 + 1], data[17, 1 + 4 * 1 + 3] = 3.61, 9  # module 2, cell 9 highest at row 17
    data[40, 1 + 4 * 2 + 0], data[40, 1 + 4 * 2 + 2] = 2.95, 14  # module 3, cell 14 lowest at row 40
    data[30, 1 + 4 * 0 + 1], data[30, 1 + 4 * 0 + 3] = 3.50, 16  # module 1: spread 200 mV, cells 16 and 1
    path = tmp_path / "cells.parquet"
    with open_writer(path, cols, "parquet") as w:
        w.write(data)
    x = cell_extremes(path, ["m01", "m02", "m03"], batch_rows=16)
    assert x.highest is not None and x.lowest is not None and x.spread_high and x.spread_low
    assert (x.highest.module, x.highest.cell, x.highest.voltage_v, x.highest.t_s) == (2, 9, 3.61, 18 * 60.0)
    assert (x.lowest.module, x.lowest.cell, x.lowest.voltage_v) == (3, 14, 2.95)
    assert x.spread_mv == pytest.approx(370.0)  # module 3 at row 40: 3.32 - 2.95
    assert (x.spread_high.module, x.spread_high.cell, x.spread_low.cell) == (3, 2, 14)
    lines = x.lines(calendar_origin_s(80))
    assert lines[0] == "Highest cell: module 2 cell 9 (3.610 V, 2026-03-21 00:18)."
    assert lines[1].startswith("Lowest cell: module 3 cell 14 (2.950 V")


def test_the_simulated_calendar_starts_at_midnight_of_the_start_day() -> None:
    assert datetime.fromtimestamp(calendar_origin_s(80), UTC) == datetime(2026, 3, 21, tzinfo=UTC)
    assert datetime.fromtimestamp(calendar_origin_s(1), UTC) == datetime(2026, 1, 1, tzinfo=UTC)


def test_a_lab_report_has_no_home_tables_and_no_empty_ones() -> None:
    summary = {
        "run": {"scenario": "lab", "modules": 1},
        "energy": {"battery_charged_kwh": 1.0, "pv_kwh": 0.0, "grid_import_kwh": 0.0, "load_kwh": 0.0},
        "ratios": {"self_consumption_pct": None, "autarky_pct": None},
        "losses": {"cells_kwh": 0.1, "inverter_kwh": 0.0},
        "inverter": None,
        "notes": [],
    }
    assert report_summary(summary) == {
        "run": {"scenario": "lab", "modules": 1},
        "energy": {"battery_charged_kwh": 1.0},
        "losses": {"cells_kwh": 0.1},
    }
    home = {**summary, "run": {"scenario": "home"}}
    assert report_summary(home)["energy"]["pv_kwh"] == 0.0  # a house keeps its (zero) PV


def test_counter_increments_skip_gaps_and_survive_a_reset() -> None:
    nan = np.nan
    low = np.array([1.0, 2.0, nan, 4.0, 0.0, 0.5])
    high = np.array([2.0, 3.0, nan, 4.5, 0.5, 1.0])
    assert increments(low, high).tolist() == [1.0, 1.0, 0.0, 1.5, 0.5, 0.5]


@pytest.mark.parametrize("history_db_url", ["sqlite"], indirect=True)
def test_history_days_match_the_power_integrated_independently(history_db_url: str) -> None:
    start = int(datetime(2026, 6, 1, 20, 0, tzinfo=UTC).timestamp())
    seconds = np.arange(0, 30 * 3600, 5)  # 30 hours at 5 s (the store takes any seconds)
    p = power_w(seconds.astype(np.float64))
    charged = np.cumsum(np.maximum(p, 0) * 5) / 3.6e6
    discharged = np.cumsum(np.maximum(-p, 0) * 5) / 3.6e6
    store = HistoryStore(history_db_url, writer=False)
    try:
        store.write([
            HistorySample(int(start + s), {"charged_kwh": float(c), "discharged_kwh": float(d)}, ())
            for s, c, d in zip(seconds, charged, discharged, strict=True)
        ])  # fmt: skip
        offset = 2 * 3600  # the browser's day: UTC+2
        got = daily_history(store, start, start + 30 * 3600, offset)
    finally:
        store.close()
    day = (start + seconds + offset) // DAY
    days = np.unique(day)
    # independently: the energy of each 5-s step counted for the day the step ends in (as the counter shows it)
    step_c = np.diff(np.r_[0.0, charged])
    step_d = np.diff(np.r_[0.0, discharged])
    want_c = [step_c[day == d].sum() for d in days]
    want_d = [step_d[day == d].sum() for d in days]
    want_c[0] -= step_c[0]  # the first sample starts the counter: nothing before it is known
    want_d[0] -= step_d[0]
    assert got.day_s == [int(d * DAY - offset) for d in days]
    assert got.kwh["charged_kwh"] == pytest.approx(want_c, abs=1e-6)
    assert got.kwh["discharged_kwh"] == pytest.approx(want_d, abs=1e-6)


def test_the_report_series_from_envelopes() -> None:
    t = np.array([600.0, 1200.0, 1800.0])

    def env(values: list[float]) -> Envelope:
        a = np.asarray(values)
        return Envelope(t, a - 1.0, a, a + 1.0)

    envs = {
        "bus_voltage_v": env([52.0, 53.0, 54.0]),
        "bus_current_a": env([100.0, 100.0, -50.0]),
        "bank_cvl_v": env([55.2, 55.2, 55.2]),
        "bank_ccl_a": env([150.0, 150.0, 150.0]),
        "bank_dcl_a": env([200.0, 200.0, 200.0]),
        "m01_soc": env([0.5, 0.6, 0.7]),
        "m02_soc": env([0.5, 0.6, 0.7]),
        "m01_bms_soc": env([0.52, 0.6, 0.7]),
        "m02_bms_soc": env([0.48, 0.6, 0.7]),
        "m01_bms_soc_bound": Envelope(t, np.zeros(3), np.zeros(3), np.array([0.05, 0.02, 0.01])),
        "m02_bms_soc_bound": Envelope(t, np.zeros(3), np.zeros(3), np.array([0.03, 0.04, 0.01])),
        "m01_current_a": env([50.0, 50.0, -25.0]),
        "m02_current_a": env([50.0, 50.0, -25.0]),
    }
    doc = chart_document(envs, ["m01", "m02"], {"run": {"scenario": "home"}}, title="t", t0_s=1000.0, daily=None,
                         cells=None)  # fmt: skip
    charts = {c["id"]: c for c in doc["charts"]}
    assert doc["t"] == [1600.0, 2200.0, 2800.0] and doc["utc"] is True
    soc = {s["label"]: s["values"] for s in charts["soc"]["series"]}
    assert soc["true SOC"] == [50.0, 60.0, 70.0] and soc["BMS SOC"] == [50.0, 60.0, 70.0]
    assert soc["BMS SOC + bound"] == [55.0, 64.0, 71.0]  # the widest module's bound at each point
    assert soc["BMS SOC - bound"] == [45.0, 56.0, 69.0]
    assert charts["soc"]["bands"] == [{"series": [3, 2], "fill": "rgba(30,136,229,0.15)"}]
    current = {s["label"]: s["values"] for s in charts["current"]["series"]}
    assert current["-DCL"] == [-200.0] * 3 and current["CCL"] == [150.0] * 3
    split = charts["current_split"]["series"]
    assert [(s["label"], s["module"]) for s in split] == [("M1", 0), ("M2", 1)] and "color" not in split[0]
    assert [s["label"] for s in charts["voltage"]["series"]] == ["bus voltage", "CVL"]
    assert "power" not in charts and "daily" not in charts  # no PV/load columns, no daily sums given


def test_a_lab_run_plots_voltage_against_the_ah_of_each_step() -> None:
    t = np.arange(1, 13) * 600.0  # 2 h at 10 min: charge 1 h, rest 0.5 h, discharge 0.5 h
    current = np.r_[np.full(6, 100.0), np.zeros(3), np.full(3, -200.0)]
    voltage = np.linspace(50.0, 55.0, 12)
    envs = {"bus_current_a": Envelope(t, current, current, current), "bus_voltage_v": Envelope(t, voltage, voltage,
            voltage)}  # fmt: skip
    steps = [
        {"step": 1, "text": "charge", "start_s": 0.0, "duration_s": 3600.0, "charged_ah": 100.0},
        {"step": 2, "text": "rest", "start_s": 3600.0, "duration_s": 1800.0},
        {"step": 3, "text": "discharge", "start_s": 5400.0, "duration_s": 1800.0, "discharged_ah": 100.0},
    ]
    doc = chart_document(envs, [], {"run": {"scenario": "lab"}, "steps": steps}, title="lab", t0_s=0.0, daily=None,
                         cells=None)  # fmt: skip
    xy = doc["charts"][0]
    assert xy["id"] == "voltage_ah" and [s["label"] for s in xy["series"]] == ["step 1: charge", "step 3: discharge"]
    x = xy["x"]
    charge = dict(zip(x, xy["series"][0]["values"], strict=True))
    assert [a for a, v in charge.items() if v is not None] == pytest.approx([100 / 6 * i for i in range(1, 7)], 0.01)
    discharge = [a for a, v in zip(x, xy["series"][1]["values"], strict=True) if v is not None]
    assert discharge == pytest.approx([100 / 3, 200 / 3, 100.0], abs=0.01)  # 200 A for 10 min: 33.3 Ah each
