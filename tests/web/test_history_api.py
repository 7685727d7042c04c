"""``GET /api/history`` served by uvicorn on a loopback port, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
import uvicorn
from fastapi import FastAPI

from ml314.storage.history import HistoryStore
from ml314.web.history_api import MAX_JSON_POINTS, history_router
from tests.storage.test_history import T0, bank_v, fill
from tests.web.running import RunningBank, wait_for


class Served:
    """An app on a free loopback port, in a thread, until :meth:`stop`."""

    def __init__(self, app: FastAPI) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        ready = threading.Event()
        while not ready.wait(0.02):
            if self.server.started:
                ready.set()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join()
        self.sock.close()


@pytest.fixture
def client(history_db_url: str) -> Iterator[httpx.Client]:
    store = HistoryStore(history_db_url, flush_every_s=0.05)
    fill(store, T0, T0 + 1200, modules=2)
    app = FastAPI()
    app.include_router(history_router(store))
    served = Served(app)
    try:
        with httpx.Client(base_url=served.url) as c:
            yield c
    finally:
        served.stop()
        store.close()


def error(r: httpx.Response) -> dict[str, str | None]:
    assert r.status_code == 400, r.text
    body = r.json()["error"]
    assert set(body) >= {"code", "message", "field"}
    return body  # type: ignore[no-any-return]


def test_json_columns_at_a_step(client: httpx.Client) -> None:
    r = client.get("/api/history", params={"from": T0, "to": T0 + 1200, "fields": "voltage_v,voltage_v:max",
                                            "step": "5min"})  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["step_s"] == 300 and body["series"] == "bank" and body["units"]["voltage_v"] == "V"
    cols = body["columns"]
    assert cols["t_s"] == [T0 + 300 * i for i in range(4)]
    mean = sum(bank_v(t) for t in range(T0, T0 + 300)) / 300
    assert cols["voltage_v"][0] == pytest.approx(mean, abs=1e-4)
    assert cols["voltage_v:max"][0] == pytest.approx(max(bank_v(t) for t in range(T0, T0 + 300)), abs=1e-4)


def test_iso_times_every_module_and_defaults(client: httpx.Client) -> None:
    r = client.get("/api/history", params={"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T00:02:00+00:00",
                                            "fields": "current_a,state", "step": "60", "module": "all"})  # fmt: skip
    assert r.status_code == 200, r.text
    cols = r.json()["columns"]
    assert cols["module_id"] == [1, 2, 1, 2] and cols["t_s"] == [T0, T0, T0 + 60, T0 + 60]
    assert set(cols["state"]) <= {"charge", "protection"}
    default = client.get("/api/history").json()  # the day up to the newest sample, SOC
    assert default["to"] == T0 + 1200 and "soc_pct" in default["columns"]
    assert (
        client.get("/api/history", params={"fields": "peer_soc_pct", "step": 60}).json()["columns"]["peer_soc_pct"]
        == [None] * 20
    )  # nothing stored: null


def test_csv_export_parses(client: httpx.Client) -> None:
    r = client.get("/api/history", params={"from": T0, "to": T0 + 600, "fields": "voltage_v,cell_max_index",
                                            "step": 1, "module": 2, "format": "csv"})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 600
    assert int(rows[5]["t_s"]) == T0 + 5 and rows[0]["time_utc"] == "2026-01-01T00:00:00Z"
    assert float(rows[5]["voltage_v"]) == pytest.approx(bank_v(T0 + 5) + 0.2, abs=1e-4)


def test_parquet_export_reads_back(client: httpx.Client) -> None:
    r = client.get("/api/history", params={"from": T0, "to": T0 + 1200, "fields": "cell_1_v,cell_16_v",
                                            "step": 10, "module": 1, "format": "parquet"})  # fmt: skip
    assert r.status_code == 200, r.text
    table = pq.read_table(io.BytesIO(r.content))
    assert table.num_rows == 120
    assert table.column_names == ["t_s", "time_utc", "cell_1_v", "cell_16_v"]


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"fields": "soc_pc"}, "soc_pc", "nearest valid: 'soc_pct'"),
        ({"fields": "soc_pct", "module": "7x"}, "module", "module ID"),
        ({"fields": "temp_board_c"}, "module", "per module"),
        ({"from": "yesterday"}, "from", "ISO 8601"),
        ({"from": "2026-01-01T00:00:00"}, "from", "time zone"),
        ({"from": T0 + 10, "to": T0}, "to", "not after"),
        ({"step": "fast"}, "step", "duration"),
        ({"format": "xlsx"}, "format", "json, csv, parquet"),
        ({"from": 0, "to": 4e9, "step": 1, "module": "all"}, "step", "format=csv"),
    ],
)
def test_errors_are_typed_json_naming_the_field(client: httpx.Client, params: dict[str, object], field: str,
                                                 words: str) -> None:  # fmt: skip
    body = error(client.get("/api/history", params=params))  # type: ignore[arg-type]
    assert body["field"] == field
    assert words in str(body["message"])


def test_json_limit_is_stated() -> None:
    assert MAX_JSON_POINTS >= 16 * 7 * 24 * 12  # a week of every module at 5 min fits


def test_fields_are_listed(client: httpx.Client) -> None:
    body = client.get("/api/history/fields").json()
    assert body["module"]["fields"]["voltage_v"]["unit"] == "V"
    assert "soc_pct:min" in body["bank"]["names"] and body["cell"]["raw_step_s"] == 10


def test_energy_per_day_in_the_callers_days(client: httpx.Client) -> None:
    r = client.get("/api/history/daily", params={"from": T0, "to": T0 + 1200, "utc_offset": 60})
    assert r.status_code == 200, r.text
    body = r.json()
    local_midnight = (T0 + 3600) // 86400 * 86400 - 3600  # the day of T0 at UTC+1
    assert body["days"] == [local_midnight] and body["units"] == "kWh" and body["utc_offset"] == 60
    assert body["charged_kwh"] == [0.0] and body["discharged_kwh"] == [0.0]  # these samples carry no counters
    bad = client.get("/api/history/daily", params={"utc_offset": 5000})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "utc_offset"
    bad = client.get("/api/history/daily", params={"from": T0 + 10, "to": T0})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "to"


def test_history_off_says_so() -> None:
    app = FastAPI()
    app.include_router(history_router(None))
    served = Served(app)
    try:
        r = httpx.get(served.url + "/api/history")
        assert r.status_code == 503 and r.json()["error"]["code"] == "history_off"
    finally:
        served.stop()


def test_a_running_bank_serves_its_history(tmp_path: Path) -> None:
    """``ml314 run`` records its seconds and serves them: JSON by module, CSV that parses, a bad field named."""
    with RunningBank(tmp_path, "--modules", "2") as bank, bank.client() as c:

        def enough() -> dict[str, Any] | None:
            since = time.time() - 3600  # an hour at 1 s fits a JSON answer; a day (the default) would not
            r = c.get("/api/history", params={"from": since, "fields": "voltage_v,online", "step": 1, "module": "all"})
            body: dict[str, Any] = r.json()
            return body if r.status_code == 200 and len(body["columns"]["t_s"]) >= 6 else None

        body = wait_for(enough, "six module rows of history", alive=bank)
        assert set(body["columns"]["module_id"]) == {1, 2}
        assert all(48.0 < v < 58.4 for v in body["columns"]["voltage_v"])
        text = c.get("/api/history", params={"fields": "soc_pct,cvl_v", "step": 1, "format": "csv"}).text  # a day
        rows = list(csv.DictReader(io.StringIO(text)))
        assert rows and 0.0 <= float(rows[-1]["soc_pct"]) <= 100.0
        assert error(c.get("/api/history", params={"fields": "soc"}))["field"] == "soc"
    assert (tmp_path / "data" / "history.sqlite").exists()
    assert any(line.startswith("history: SQLite") for line in bank.lines)
