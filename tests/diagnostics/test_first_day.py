"""The first day of the history's daily buckets, and the installer report's page built from plain records."""

from __future__ import annotations

from ml314.diagnostics.checks import Check, Installation, ModuleFacts, Result
from ml314.diagnostics.first_day import first_day, max_soc_pct
from ml314.storage.installer_report import InstallerReport, render_html

COLUMNS: dict[str, list[float | None]] = {
    "t_s": [0.0, 86400.0, 172800.0],
    "soc_pct:min": [None, 40.0, 30.0],
    "soc_pct:max": [None, 80.0, 99.5],
    "cell_min_v:min": [None, 3.21, 3.1],
    "cell_max_v:max": [None, 3.42, 3.5],
    "cell_temp_min_c:min": [None, 21.0, 20.0],
    "cell_temp_max_c:max": [None, 29.5, 30.0],
    "charged_kwh:min": [None, 10.0, 14.0],
    "charged_kwh:max": [None, 14.0, 20.0],
    "discharged_kwh:min": [None, 5.0, 7.5],
    "discharged_kwh:max": [None, 7.5, 9.0],
    "alarms:max": [None, 1.0, 0.0],
    "protections:max": [None, 0.0, 0.0],
}


def test_the_first_day_with_data_and_the_highest_soc() -> None:
    day = first_day(COLUMNS)
    assert day is not None
    assert day.day_start_s == 86400 and (day.soc_min_pct, day.soc_max_pct) == (40.0, 80.0)
    assert day.charged_kwh == 4.0 and day.discharged_kwh == 2.5  # what the cumulative counters added that day
    assert day.alarms_max == 1 and day.cell_temp_max_c == 29.5
    assert max_soc_pct(COLUMNS) == 99.5
    assert first_day({"t_s": [0.0], "soc_pct:max": [None]}) is None
    assert max_soc_pct({}) is None


def test_the_report_page_escapes_every_text() -> None:
    m = ModuleFacts(1, 1, True, True, True, "<b>SN</b>", 50.0, 100.0, 0.0, (3.3, 3.31), (25.0, 24.0, 26.0))
    check = Check("k", "Title & <i>", Result.FAIL, ("evidence <script>",), "do <this>", "8.6.1")
    page = render_html(InstallerReport(Installation((m,)), (check,), first_day(COLUMNS), 0.0, site="<site>"))
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "&lt;b&gt;SN&lt;/b&gt;" in page and "&lt;site&gt;" in page
    assert "do &lt;this&gt;" in page  # a failed check shows what to do
    assert 'class="badge fail"' in page and "4.00 kWh / 2.50 kWh" in page
