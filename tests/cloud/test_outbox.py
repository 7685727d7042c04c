"""The device's disk buffer: bounded, the oldest samples summarised first (ranges and statistics kept), events kept,
rows in flight untouched by a summary, and everything still there after a reopen (a restart or a kill)."""

from __future__ import annotations

import json
from pathlib import Path

from ml314.cloud.outbox import Outbox


def _sample(seq: int, soc: float) -> dict:
    bank = {
        "soc_pct": soc, "voltage_v": 52.0, "current_a": 10.0, "power_w": 520.0, "temperature_c": 25.0,
        "cell_voltage_max_v": 3.3, "cell_voltage_min_v": 3.2, "charged_energy_kwh": seq / 10,
        "discharged_energy_kwh": 0.0, "cycles": 0, "soh_pct": 100.0, "remaining_capacity_ah": 100.0,
        "alarms": ["cell_imbalance"] if seq == 3 else [], "protections": [],
    }  # fmt: skip
    module = {"n": 1, "id": 1, "soc_pct": soc, "voltage_v": 52.0, "current_a": 10.0, "cells_v": [3.2, 3.3, None]}
    return {"v": 1, "kind": "sample", "serial": "S", "seq": seq, "ts": 1000.0 + seq, "t_s": float(seq),
            "bank": bank, "modules": [module]}  # fmt: skip


def _rows(box: Outbox) -> list[dict]:
    rows = box.pending(1000)
    box.release()
    return [json.loads(p) for _, _, p in rows]


def test_the_oldest_samples_are_summarised_when_the_buffer_is_full(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", max_samples=10, group=4)
    box.add_event("t/events", 0, {"id": 0})
    for i in range(1, 21):
        assert box.add_sample("t/telemetry", lambda seq: _sample(seq, float(seq))) == i
    assert box.count("sample") <= 10 and box.count("event") == 1
    rows = _rows(box)
    assert rows[0] == {"id": 0}  # the event, never summarised
    samples = rows[1:]
    covered = []
    for r in samples:
        first = r["seq_from"] if r["kind"] == "summary" else r["seq"]
        covered += list(range(first, r["seq"] + 1))
    assert covered == list(range(1, 21))  # every sample is in exactly one row, in order
    assert samples[-1]["kind"] == "sample" and samples[-1]["seq"] == 20  # the newest kept in full
    head = samples[0]
    assert head["kind"] == "summary" and head["seq_from"] == 1
    n = head["samples"]
    assert head["bank"]["soc_pct"]["min"] == 1.0 and head["bank"]["soc_pct"]["max"] == float(n)
    assert head["bank"]["soc_pct"]["mean"] == (1 + n) / 2
    assert head["bank"]["charged_energy_kwh"] == n / 10  # a counter keeps its last value
    assert head["bank"]["alarms"] == ["cell_imbalance"]  # an alarm inside the range is kept
    assert head["modules"][0]["cell_v"]["min"] == 3.2 and head["ts_from"] == 1001.0


def test_rows_in_flight_are_not_summarised_and_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    box = Outbox(path, max_samples=4, group=2)
    for _ in range(4):
        box.add_sample("t", lambda seq: _sample(seq, 50.0))
    flying = box.pending(2)
    assert [json.loads(p)["seq"] for _, _, p in flying] == [1, 2]
    for _ in range(4):
        box.add_sample("t", lambda seq: _sample(seq, 50.0))
    rows = box._db.execute("SELECT id, payload FROM outbox ORDER BY id").fetchall()
    by_id = {i: json.loads(p) for i, p in rows}
    assert all(by_id[i]["kind"] == "sample" for i, _, _ in flying)  # untouched while in flight
    box.remove([i for i, _, _ in flying])
    box.close()
    again = Outbox(path, max_samples=4, group=2)
    assert again.last_seq == 8  # the numbering goes on after a restart
    left = _rows(again)
    first = left[0]["seq_from"] if left[0]["kind"] == "summary" else left[0]["seq"]
    assert first == 3 and left[-1]["seq"] == 8


def test_a_new_event_log_is_a_new_epoch(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    box.add_event("t", 0, {"id": 0})
    box.add_event("t", 1, {"id": 1})
    box.add_event("t", 1, {"id": 1})  # seen already: ignored
    assert box.count("event") == 2 and box.event_epoch == 0
    assert box.new_event_epoch() == 1 and box.last_event_id == -1
    box.add_event("t", 0, {"id": 0, "epoch": 1})  # the new bank's first event is kept
    assert box.count("event") == 3
