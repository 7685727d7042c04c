"""``/api/cell-health`` and ``/api/maintenance`` over HTTP on loopback: the twin's cycled history (a leaky cell,
a high-resistance cell) read back from SQLite and named; the schedule recorded in the data dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi import FastAPI

from ml314.storage.history import HistoryStore
from ml314.storage.history_schema import CELLS
from ml314.web.errors import install_error_handlers
from ml314.web.maintenance_api import maintenance_router
from ml314.web.pages import PAGES, pages_router
from tests.browser import chromium, until
from tests.diagnostics.cycling import Cycler
from tests.web.test_history_api import Served
from tests.web.test_pages_browser import SCREENSHOTS

T0 = 1_767_225_600  # 2026-01-01


def _load(store: HistoryStore, cycler: Cycler) -> None:
    """The cycled twin's samples (every 10 s) into the raw module and cell tables, as ``ml314 run`` keeps them."""
    s = cycler.series()
    t = (T0 + s.t_s).astype(np.int64)
    for m, mid in enumerate(s.module_ids):
        ids = np.full(t.size, mid)
        store.bulk_load("module", 1, {"t_s": t, "module_id": ids, "current_a": s.current_a[:, m]})
        cells = {f"cell_{i}_v": s.cell_v[:, m, i - 1] for i in range(1, CELLS + 1)}
        store.bulk_load("cell", 10, {"t_s": t, "module_id": ids, **cells})


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Path]]:
    root = tmp_path_factory.mktemp("maint")
    url = f"sqlite:///{root / 'history.sqlite'}"
    cycler = Cycler(2)
    cycler.bank.set_cell_defect(0, 6, self_discharge_factor=3.0)
    cycler.bank.set_cell_defect(1, 2, resistance_factor=2.0)
    for _ in range(8):
        cycler.cycle(2)
    loader = HistoryStore(url, writer=False)
    _load(loader, cycler)
    loader.close()
    store = HistoryStore(url, writer=False)  # reopened: it knows its newest sample
    app = FastAPI()
    install_error_handlers(app)  # as create_app does: an InputError is a 400 naming the field
    app.include_router(maintenance_router(root, lambda: store, clock=lambda: T0 + 200 * 86400.0))
    app.include_router(pages_router())
    server = Served(app)
    try:
        with httpx.Client(base_url=server.url, timeout=None) as client:
            yield client, root
    finally:
        server.stop()
        store.close()


def test_cell_health_names_the_weak_cells(served: tuple[httpx.Client, Path]) -> None:
    client, _ = served
    r = client.get("/api/cell-health", params={"days": 14})
    assert r.status_code == 200
    doc = r.json()
    assert any(f.startswith("module 1, cell 7") and "self-discharge is 3x" in f for f in doc["findings"])
    assert any(f.startswith("module 2, cell 3") and "resistance is" in f for f in doc["findings"])
    assert len(doc["cells"]) == 32 and doc["discharges"] == {"1": 8, "2": 8}
    weak = next(c for c in doc["cells"] if c["module_id"] == 2 and c["cell"] == 3)
    assert weak["resistance_ratio"] == pytest.approx(2.0, rel=0.1)
    one = client.get("/api/cell-health", params={"days": 14, "module": 2}).json()
    assert len(one["cells"]) == 16 and all(f.startswith("module 2,") for f in one["findings"])


def test_schedule_and_recording_work(served: tuple[httpx.Client, Path]) -> None:
    client, root = served
    doc = client.get("/api/maintenance").json()
    assert {i["key"] for i in doc["items"]} >= {"power_cables", "charge_discharge"}
    r = client.post("/api/maintenance/done", json={"item": "power_cables", "by": "tech", "note": "torqued"})
    assert r.status_code == 200
    doc = client.get("/api/maintenance").json()
    cables = next(i for i in doc["items"] if i["key"] == "power_cables")
    assert cables["status"] == "ok" and cables["last_done_s"] == T0 + 200 * 86400.0
    assert '"torqued"' in (root / "maintenance.json").read_text()
    assert any("13.1 (10)" in line for lines in doc["storage"] for line in lines)
    bad = client.post("/api/maintenance/done", json={"item": "cables"})
    assert bad.status_code == 400 and "power_cables" in bad.json()["error"]["message"]


def test_history_off_and_an_unreadable_record_are_a_clear_503(tmp_path: Path) -> None:
    (tmp_path / "maintenance.json").write_text("{torn")
    app = FastAPI()
    app.include_router(maintenance_router(None, lambda: None))
    app.include_router(maintenance_router(tmp_path, lambda: None), prefix="/torn")
    server = Served(app)
    try:
        with httpx.Client(base_url=server.url) as client:
            for path in ("/api/cell-health", "/api/maintenance"):
                r = client.get(path)
                assert r.status_code == 503 and r.json()["error"]["code"] in {"history_off", "no_maintenance_record"}
            r = client.get("/torn/api/maintenance")
            assert r.status_code == 503 and "unreadable" in r.json()["error"]["message"]
    finally:
        server.stop()
    assert (tmp_path / "maintenance.json").read_text() == "{torn"


def test_the_page_is_served_and_in_the_nav() -> None:
    assert PAGES["/maintenance"] == "maintenance.html"
    common = (Path(__file__).parents[2] / "src/ml314/web/static/pages/common.js").read_text()
    assert '["/maintenance", "Maintenance"]' in common


def test_the_page_in_the_browser(served: tuple[httpx.Client, Path]) -> None:
    """The page in headless Chromium: the findings in words, four charts, the schedule, a record made by a click."""
    client, _ = served
    with chromium(1280, 1400) as driver:
        driver.get(f"{client.base_url}/maintenance")
        until(lambda: driver.execute_script("return document.body.dataset.findings"))
        until(lambda: driver.execute_script("return document.body.dataset.items"))
        findings = driver.execute_script("return document.getElementById('findings').textContent")
        assert "module 1, cell 7" in findings and "module 2, cell 3" in findings
        charts = driver.execute_script("return document.querySelectorAll('#health-charts .chart canvas').length")
        assert charts == 4
        driver.execute_script("document.querySelector('tr[data-item=\"running_status\"] button.done').click()")
        until(lambda: driver.execute_script("return document.getElementById('msg').textContent === 'recorded'"))
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        assert driver.save_screenshot(str(SCREENSHOTS / "maintenance.png"))
    doc = client.get("/api/maintenance").json()
    assert next(i for i in doc["items"] if i["key"] == "running_status")["last_done_s"] is not None
