"""Event acknowledgements outlive the run: acknowledged through the API, ``ml314 run`` stopped and started again on
the same data dir, the same event is still acknowledged (storage/acks.py); an id that names another event is not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ml314.bms.events import Event
from ml314.storage.acks import ACKS_FILE, AckStore
from tests.web.running import RunningBank, wait_for


def _events(bank: RunningBank, **params: Any) -> list[dict[str, Any]]:
    with bank.client() as c:
        events: list[dict[str, Any]] = c.get("/api/events", params=params).json()["events"]
        return events


def test_an_acknowledgement_survives_a_restart(tmp_path: Path) -> None:
    with RunningBank(tmp_path, "--quiet") as bank:
        first = wait_for(lambda: _events(bank) or None, "an event in the log", alive=bank)[0]
        with bank.client() as c:
            acked = c.post(f"/api/events/{first['id']}/ack")
        assert acked.status_code == 200 and acked.json()["acknowledged"] is True
        stored = json.loads((bank.data_dir / ACKS_FILE).read_text())  # written before the answer
        assert [a["id"] for a in stored["acks"]] == [first["id"]]
        out = bank.stop()
        assert "stopped after" in out
    with RunningBank(tmp_path, "--quiet") as again:
        events = {e["id"]: e for e in _events(again)}
        same = events[first["id"]]
        assert (same["t_s"], same["key"], same["module_id"]) == (first["t_s"], first["key"], first["module_id"])
        assert same["acknowledged"] is True
        assert first["id"] not in [e["id"] for e in _events(again, unacknowledged=True)]
        assert not any(e["acknowledged"] for i, e in events.items() if i != first["id"])


def test_an_id_that_names_another_event_is_not_acknowledged(tmp_path: Path) -> None:
    path = tmp_path / ACKS_FILE
    acks = AckStore(path)
    event = Event(10.0, 1, "state", "state.changed", message="standby")
    acks.add(7, event)
    reread = AckStore(path)  # as a restart reads it
    assert reread.problem is None and reread.is_acked(7, event)
    other = Event(3.0, 1, "state", "state.changed", message="standby")  # id 7 again after --fresh: another event
    assert not reread.is_acked(7, other) and not reread.is_acked(8, event)
    path.write_text("{not json")
    broken = AckStore(path)
    assert broken.problem is not None and "acks.json" in broken.problem and not broken.acked()
