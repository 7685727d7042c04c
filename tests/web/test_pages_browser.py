"""The PC-software pages and the front panel in headless Chromium (Debian's ``chromium`` + ``chromium-driver``,
Selenium) on one real ``ml314 run`` of 4 modules, one browser shared by the tests of this file (they run in file
order: the DIP switch + RESET last, as it changes the bank). Each test saves its page's screenshot: into
``docs/screenshots/`` (the README shows them) with ``make screenshots``, else into a temporary folder, so a test run
leaves the tree as it was."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from ml314.twin.frontpanel import DipSwitches
from tests.browser import chromium, until
from tests.web.running import RunningBank

DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SCREENSHOTS = DOCS_SCREENSHOTS if os.environ.get("ML314_SCREENSHOTS") == "docs" else Path(tempfile.mkdtemp())
MODULES = 4
#: Table 6-4's flash periods as the page must draw them (manual 6.4 notes)
PERIOD_S = {"FLASH_1": 1.0, "FLASH_2": 1.5, "FLASH_3": 2.0, "BURST_20": 1.0}


@pytest.fixture(scope="module")
def device(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBank]:
    with RunningBank(tmp_path_factory.mktemp("pages"), "--modules", str(MODULES), "--quiet") as bank:
        yield bank


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    with chromium(1280, 900) as driver:
        yield driver


def js(driver: WebDriver, script: str, *args: Any) -> Any:
    """Run ``script`` in the page (reads in one step: no stale elements while the page redraws)."""
    return driver.execute_script(script, *args)


def text(driver: WebDriver, selector: str) -> str:
    return str(js(driver, "const e = document.querySelector(arguments[0]); return e ? e.textContent : ''", selector))


def shot(driver: WebDriver, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def test_the_overview_is_live_with_the_cell_heat_map(device: RunningBank, browser: WebDriver) -> None:
    browser.get(device.url + "/")
    until(lambda: js(browser, "return document.querySelectorAll('#modules tbody tr').length") == MODULES)
    first = until(lambda: text(browser, "#clock"))
    until(lambda: text(browser, "#clock") != first)  # a live value changes
    until(lambda: text(browser, "#online") == f"{MODULES} / {MODULES}")  # the master found every module
    for tile in ("#soc", "#voltage", "#current", "#power", "#cvl", "#ccl", "#dcl"):
        assert text(browser, tile) not in {"", "-"}, tile
    cells = js(browser, "return [...document.querySelectorAll('#heat tr')].map(r => r.querySelectorAll('td').length)")
    assert cells == [0] + [16] * MODULES  # header row, then modules x 16 cells
    marked = js(browser, "return [document.querySelectorAll('#heat td.max').length, "
                "document.querySelectorAll('#heat td.min').length]")  # fmt: skip
    assert marked == [1, 1]
    extremes = text(browser, "#extremes")
    assert "Highest" in extremes and "lowest" in extremes and "module" in extremes
    assert text(browser, "#alerts")  # alarms first: either the alarms or "No alarms, no faults."
    shot(browser, "overview")


def test_the_event_log_acknowledges(device: RunningBank, browser: WebDriver) -> None:
    browser.get(device.url + "/events")
    until(lambda: js(browser, "return document.querySelectorAll('button.ack').length"))
    event_id = str(js(browser, "const b = document.querySelector('button.ack'); b.click(); return b.dataset.id"))
    until(lambda: f"event {event_id} acknowledged" in text(browser, "#msg"))
    row = f'#events tr[data-id="{event_id}"] td:last-child'
    until(lambda: text(browser, row) == "yes")
    with httpx.Client(base_url=device.url) as c:
        events = c.get("/api/events").json()["events"]
    assert next(e for e in events if str(e["id"]) == event_id)["acknowledged"] is True
    browser.find_element(By.ID, "f-unack").click()
    browser.find_element(By.CSS_SELECTOR, "#filters button").click()
    until(lambda: not js(browser, "return document.querySelector(arguments[0])", f'#events tr[data-id="{event_id}"]'))
    shot(browser, "events")


def test_settings_refuse_a_wrong_pin_and_take_the_right_one(device: RunningBank, browser: WebDriver) -> None:
    browser.get(device.url + "/settings")
    until(lambda: js(browser, "return document.body.dataset.loaded"))
    assert "ML314 default" in text(browser, "#param-name")
    assert "cell_overvoltage" in str(js(browser, "return document.getElementById('param-text').value"))
    Select(browser.find_element(By.ID, "can")).select_by_value("victron-can")
    wrong = "1" * len(device.pin) if device.pin != "1" * len(device.pin) else "2" * len(device.pin)
    pin = browser.find_element(By.ID, "proto-pin")
    pin.send_keys(wrong)
    browser.find_element(By.ID, "proto-apply").click()
    until(lambda: "refused" in text(browser, "#proto-msg"))
    assert "wrong technician PIN" in text(browser, "#proto-msg")
    pin.clear()
    pin.send_keys(device.pin)
    browser.find_element(By.ID, "proto-apply").click()
    until(lambda: "restart required" in text(browser, "#proto-msg"))
    until(lambda: "victron" in text(browser, "#sel-can").lower())
    # the parameter set: shown to all, installed only with the PIN (validated as --params is)
    param_pin = browser.find_element(By.ID, "param-pin")
    param_pin.send_keys(wrong)
    browser.find_element(By.ID, "param-apply").click()
    until(lambda: "refused" in text(browser, "#param-msg"))
    assert "PIN" in text(browser, "#param-msg")
    param_pin.clear()
    param_pin.send_keys(device.pin)
    browser.find_element(By.ID, "param-apply").click()
    until(lambda: "restart required" in text(browser, "#param-msg"))
    assert 'installed "ML314 default"' in text(browser, "#param-msg")
    shot(browser, "settings")


def test_history_charts_with_date_and_clock_and_a_csv_export(device: RunningBank, browser: WebDriver) -> None:
    browser.get(device.url + "/history")
    until(lambda: int(js(browser, "return Number(document.body.dataset.points || 0)")) >= 2)  # samples recorded
    until(lambda: js(browser, "return Number(document.body.dataset.modules || 0)") == MODULES)
    charts = js(browser, "return [...document.querySelectorAll('.chart')].map(c => c.dataset.chart)")
    assert charts == ["soc", "voltage", "current", "current_split", "power", "daily", "cell_spread", "temperature"]
    titles = js(browser, "return [...document.querySelectorAll('.chart h2')].map(h => h.textContent)")
    assert titles[0].startswith("SOC (%)") and titles[3].startswith("The bank's current split")
    legend = " ".join(js(browser, "return [...document.querySelectorAll('.u-legend th')].map(e => e.textContent)"))
    assert "CVL" in legend and "CCL" in legend and "DCL" in legend and "inverter's view" in legend
    assert "BMS SOC + bound" in legend  # the SOC's uncertainty band
    split = chart_legend(browser, "current_split")
    assert split == [f"module {i}" for i in range(1, MODULES + 1)]
    assert len(set(js(browser, DASH_AND_COLOUR, "current_split"))) == MODULES  # each module told apart
    assert chart_legend(browser, "daily") == ["charged", "discharged"]
    assert int(js(browser, "return Number(document.body.dataset.days)")) >= 1  # a bar group for today
    for chart in ("daily", "current_split", "soc"):
        assert inked(browser, chart) > 500, chart  # the canvas is drawn, not blank
    for chart in ("current_split", "soc"):
        assert series_ink(browser, chart) > 0, chart  # and its lines are on it
    shown = text(browser, "#shown")
    assert "step" in shown
    href = str(browser.find_element(By.ID, "csv").get_attribute("href"))
    assert "format=csv" in href
    with httpx.Client() as c:
        r = c.get(href)
    assert r.status_code == 200, r.text
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows and {"t_s", "time_utc", "soc_pct", "cvl_v", "ccl_a", "dcl_a"} <= set(rows[0])
    assert all(float(row["t_s"]) > 0 for row in rows) and any(row["soc_pct"] for row in rows)
    shot(browser, "history")


#: each series of a chart as (colour, dash) the way uPlot drew its legend marker
DASH_AND_COLOUR = """return [...document.querySelectorAll(`.chart[data-chart="${arguments[0]}"] .u-legend .u-series`)]
    .slice(1).map(e => { const m = e.querySelector('.u-marker');
                         return m.style.borderColor + ' ' + m.style.borderStyle; });"""


def chart_legend(driver: WebDriver, chart: str) -> list[str]:
    """The series names in a chart's legend (the time or x column left out)."""
    return list(js(driver, """return [...document.querySelectorAll(`.chart[data-chart="${arguments[0]}"] .u-legend
        .u-series .u-label`)].slice(1).map(e => e.textContent)""", chart))  # fmt: skip


def inked(driver: WebDriver, chart: str) -> int:
    """Pixels of a chart's canvas that are not background (a drawn chart has thousands)."""
    return int(js(driver, """const c = document.querySelector(`.chart[data-chart="${arguments[0]}"] canvas`);
        if (!c) return 0; const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
        for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n;""", chart))  # fmt: skip


def series_ink(driver: WebDriver, chart: str) -> int:
    """Pixels the chart's series themselves draw: the ink with every series shown minus the ink with them hidden
    (the axes and the grid alone are not a drawn chart)."""
    return int(driver.execute_async_script("""
        const [id, done] = arguments;
        const entry = document.getElementById('charts')._mlCharts.plots[id];
        const canvas = entry.box.querySelector('canvas');
        const ink = () => { const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
                            let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; };
        const frame = () => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
        (async () => {
          const shown = ink();
          const n = entry.plot.series.length;
          for (let i = 1; i < n; i++) entry.plot.setSeries(i, { show: false });
          await frame();
          const hidden = ink();
          for (let i = 1; i < n; i++) entry.plot.setSeries(i, { show: true });
          await frame();
          done(shown - hidden);
        })();""", chart))  # fmt: skip


def _card(browser: WebDriver, index: int) -> dict[str, Any]:
    return dict(js(browser, """
        const el = document.querySelector(`section.module[data-index="${arguments[0]}"]`);
        if (!el || !el.dataset.id) return {};
        const run = el.querySelector('[data-led="RUN"]');
        return {id: el.dataset.id, name: el.querySelector('.name').textContent,
                pattern: run.dataset.pattern, period: run.dataset.period, lit: run.classList.contains('on'),
                dip: [...el.querySelectorAll('.dip button')].map(b => b.classList.contains('on')),
                note: el.querySelector('.dip-id').textContent};""", index) or {})  # fmt: skip


def test_the_front_panel_flashes_and_reads_the_dip_switches_at_reset(device: RunningBank, browser: WebDriver) -> None:
    browser.get(device.url + "/panel")
    until(lambda: js(browser, "return document.querySelectorAll('section.module[data-id]').length") == MODULES)
    assert js(browser, "return document.querySelectorAll('.dip button').length") == 8 * MODULES
    assert until(lambda: text(browser, "#ports"))  # the links with their state
    run = _card(browser, 0)
    if run["pattern"] in PERIOD_S:  # a flashing RUN: the page flashes it at the manual's period
        assert float(run["period"]) == PERIOD_S[run["pattern"]]
        until(lambda: _card(browser, 0)["lit"])
        until(lambda: not _card(browser, 0)["lit"])
    shot(browser, "panel")

    # the last module: move its ID switches to 7 (keeping switch 8), one switch at a time as a hand would
    last = MODULES - 1
    card = _card(browser, last)
    old_id = int(card["id"])
    target = list(DipSwitches.from_id(7, termination=card["dip"][7]).positions)
    for k in range(8):
        if _card(browser, last)["dip"][k] != target[k]:
            js(browser, "document.querySelector(arguments[0]).click()",
               f'section.module[data-index="{last}"] .dip button[data-switch="{k}"]')  # fmt: skip
            until(lambda k=k: _card(browser, last)["dip"][k] == target[k])  # type: ignore[misc]
    until(lambda: "7 at RESET" in _card(browser, last)["note"])
    assert _card(browser, last)["id"] == str(old_id)  # moved, not read yet
    js(browser, "document.querySelector(arguments[0]).click()", f'section.module[data-index="{last}"] button.reset')
    until(lambda: _card(browser, last)["id"] == "7")
    assert _card(browser, last)["name"] == "Module 7" and _card(browser, last)["dip"] == target


def test_the_lcd_page_is_linked_and_drawn(device: RunningBank, browser: WebDriver) -> None:
    browser.get(device.url + "/")
    until(lambda: js(browser, "return document.querySelector('#nav a[href=\"/lcd\"]')"))
    browser.find_element(By.CSS_SELECTOR, '#nav a[href="/lcd"]').click()
    until(lambda: js(browser, "return document.getElementById('lcd')?.dataset.page"))
    browser.find_element(By.ID, "lcd").click()  # a touch wakes it
    until(lambda: "dimmed" not in str(browser.find_element(By.ID, "lcd").get_attribute("class")))
    bright = "return ['none', 'brightness(1)'].includes(getComputedStyle(document.getElementById('lcd')).filter)"
    until(lambda: js(browser, bright))  # the wake-up fade has ended
    shot(browser, "lcd")
