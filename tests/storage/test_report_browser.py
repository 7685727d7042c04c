"""The ``ml314 simulate`` report in headless Chromium: one real home run of three modules and one lab cycle (a
module-scoped fixture runs each once), opened from the file system with no server and no network: the charts are
drawn, the legends name the modules, the highest and lowest cell are named, plots come before the tables, and a lab
run shows voltage against Ah without the house's tables. The home report's picture goes where the pages' go
(``make screenshots``: docs/screenshots/report.png)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from ml314.storage.report import modules_in
from ml314.storage.report_charts import calendar_origin_s, cell_extremes
from ml314.storage.timeseries import read_schema
from tests.browser import chromium, until
from tests.web.test_pages_browser import DASH_AND_COLOUR, chart_legend, inked, js, series_ink, shot

ML314 = (sys.executable, "-m", "ml314.cli.main")
MODULES = 3
HOME = ("--modules", str(MODULES), "--days", "1.5", "--no-link", "--sample", "10min", "--quiet")
LAB = ("--scenario", "lab", "--modules", "2", "--sample", "1min", "--quiet",
       "--experiment", "charge 0.5C to 3.6 V; rest 30 min; discharge 0.5C to 2.8 V")  # fmt: skip


def simulate(out: Path, args: tuple[str, ...]) -> Path:
    result = subprocess.run([*ML314, "simulate", *args, "--out", str(out)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("report")
    return {"home": simulate(root / "home", HOME), "lab": simulate(root / "lab", LAB)}


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    with chromium(1280, 900) as driver:
        yield driver


def open_report(browser: WebDriver, out: Path) -> list[str]:
    browser.get((out / "report.html").as_uri())
    until(lambda: js(browser, "return document.body.dataset.charts"))
    return list(js(browser, "return [...document.querySelectorAll('.chart')].map(c => c.dataset.chart)"))


def chart_doc(out: Path) -> dict[str, Any]:
    page = (out / "report.html").read_text(encoding="utf-8")
    match = re.search(r"id=ml314-charts>(.*?)</script>", page, re.S)
    assert match is not None
    return dict(json.loads(match.group(1)))


def test_the_home_report_draws_every_chart_offline(runs: dict[str, Path], browser: WebDriver) -> None:
    out = runs["home"]
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<script src" not in page and "<link" not in page  # one file: nothing fetched
    charts = open_report(browser, out)
    assert charts == ["soc", "soc_modules", "voltage", "current", "current_split", "power", "daily", "cell_spread",
                      "temperature"]  # fmt: skip
    for chart in charts:
        assert inked(browser, chart) > 500, chart
        assert series_ink(browser, chart) > 200, chart  # the lines and bars, beyond the axes and grid
    order = js(browser, "return [...document.querySelectorAll('h2, .chart, details')].map(e => e.id || e.textContent)")
    assert order.index("Summary") > order.index("Charts")  # plots first, the tables after
    modules = [f"M{i}" for i in range(1, MODULES + 1)]
    assert chart_legend(browser, "current_split") == modules
    assert len(set(js(browser, DASH_AND_COLOUR, "current_split"))) == MODULES
    assert chart_legend(browser, "cell_spread") == modules
    assert {"true SOC", "BMS SOC", "BMS SOC - bound", "BMS SOC + bound"} <= set(chart_legend(browser, "soc"))
    assert "CVL" in chart_legend(browser, "voltage")
    assert {"CCL", "-DCL"} <= set(chart_legend(browser, "current"))
    assert chart_legend(browser, "daily")[:2] == ["battery charged", "battery discharged"]
    # date and clock on the time axis of the simulated calendar (the run starts on day 80: 21 March)
    ticks = " ".join(js(browser, "return document.getElementById('charts')._mlCharts.plots.soc.plot.axes[0]._values"))
    assert "2026-03-21" in ticks and "2026-03-22" in ticks and re.search(r"\d\d:\d\d", ticks)
    # the highest and lowest cell named as the whole time series says
    names = [c.name for c in read_schema(out / "timeseries.parquet")]
    cells = cell_extremes(out / "timeseries.parquet", modules_in(names))
    note = js(browser, "return document.querySelector('.chart[data-chart=cell_spread] p.note').textContent")
    for line in cells.lines(calendar_origin_s(80)):
        assert line in note
    assert "Highest cell: module" in note and "Lowest cell: module" in note
    # the daily bars add up to the run's energy
    summary = json.loads((out / "summary.json").read_text())
    daily = next(c for c in chart_doc(out)["charts"] if c["id"] == "daily")
    charged = sum(daily["series"][0]["values"])
    assert len(daily["days"]) == 2
    assert charged == pytest.approx(summary["energy"]["battery_charged_kwh"], rel=0.03)
    browser.set_window_size(1280, 2400)  # the README's picture: the first charts
    shot(browser, "report")
    browser.set_window_size(1280, 900)


def test_dragging_over_one_chart_zooms_them_all(runs: dict[str, Path], browser: WebDriver) -> None:
    open_report(browser, runs["home"])
    span = "return [...Object.values(document.getElementById('charts')._mlCharts.plots)].filter(p => " \
           "p.box.dataset.kind === 'time').map(p => p.plot.scales.x.max - p.plot.scales.x.min)"  # fmt: skip
    before = js(browser, span)
    over = browser.find_element(By.CSS_SELECTOR, ".chart[data-chart=current] .u-over")
    ActionChains(browser).move_to_element_with_offset(over, -200, 0).click_and_hold().move_by_offset(200, 0).release(
    ).perform()  # fmt: skip
    after = until(lambda: (s := js(browser, span)) != before and s)
    assert all(a < b / 2 for a, b in zip(after, before, strict=True))


def test_a_lab_run_shows_voltage_against_ah_and_no_house(runs: dict[str, Path], browser: WebDriver) -> None:
    out = runs["lab"]
    charts = open_report(browser, out)
    assert "voltage_ah" in charts and "power" not in charts
    assert series_ink(browser, "voltage_ah") > 200
    legend = chart_legend(browser, "voltage_ah")
    assert legend == ["step 1: charge 0.5C to 3.6 V", "step 3: discharge 0.5C to 2.8 V"]
    assert chart_legend(browser, "daily") == ["battery charged", "battery discharged"]
    tables = js(browser, "return [...document.querySelectorAll('table th')].map(e => e.textContent)")
    for home_only in ("pv", "grid import", "load", "autarky", "self consumption", "inverter", "held soc"):
        assert home_only not in tables, home_only
    assert "None" not in js(browser, "return document.body.textContent")
