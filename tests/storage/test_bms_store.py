"""The BMS memory file: round trip, crashes at every step of a save, damaged files, backups."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from ml314.bms.events import Counters, Event, EventLog
from ml314.errors import ConfigError, InputError
from ml314.storage import bms_store
from ml314.storage.bms_store import (
    backup_path,
    bank_store_path,
    load_bms_state,
    read_bms_file,
    save_bms_state,
    temp_path,
)


def sample(n_events: int = 3, soc: float = 0.5) -> tuple[EventLog, Counters, dict[str, object]]:
    log = EventLog()
    for i in range(n_events):
        log.append(Event(float(i), 1, "trip", "cell_overvoltage.protection", "cell_voltage_max_v", 3.66, 3.65, "V",
                         "protection", "charge path opened", f"trip {i}"))  # fmt: skip
    counters = Counters(2, n_cells=16)
    counters.update(np.array([100.0, -50.0]), 52.0, -1.0, 46.0, 0.05, 60.0)
    counters.count_trip(0, "cell_overvoltage.protection")
    counters.record_full_sync(1, 1234.0)
    state = {"soc": [soc, soc + 0.1], "capacity_ah": np.array([314.0, 310.0]), "latched": {"1": ["deep_discharge"]}}
    return log, counters, state


def test_round_trip(tmp_path: Path) -> None:
    path = bank_store_path(tmp_path, "bank-1")
    log, counters, state = sample()
    save_bms_state(path, log, counters, state, t_s=99.0)
    got = load_bms_state(path, 2)
    assert got.source == "main" and got.saved_t_s == 99.0
    assert list(got.events) == list(log)
    np.testing.assert_array_equal(got.counters.values, counters.values)
    np.testing.assert_array_equal(got.counters.balancing_s, counters.balancing_s)
    assert got.counters.trips == counters.trips
    assert got.state == {"soc": [0.5, 0.6], "capacity_ah": [314.0, 310.0], "latched": {"1": ["deep_discharge"]}}
    assert json.loads(path.read_text())["format"] == "ml314.bms_store"
    assert not temp_path(path).exists()


def test_second_save_keeps_the_first_as_backup(tmp_path: Path) -> None:
    path = tmp_path / "b.bms.json"
    save_bms_state(path, *sample(soc=0.1), t_s=1.0)
    save_bms_state(path, *sample(soc=0.2), t_s=2.0)
    assert read_bms_file(path).state["soc"][0] == 0.2
    assert read_bms_file(backup_path(path)).state["soc"][0] == 0.1


def test_missing_file_starts_empty_with_an_info_event(tmp_path: Path) -> None:
    got = load_bms_state(tmp_path / "none.bms.json", 4, n_cells=16, t_s=5.0)
    assert got.source == "empty" and got.state == {} and math.isnan(got.saved_t_s)
    assert got.counters.n_modules == 4 and not np.any(np.nan_to_num(got.counters.values))
    (e,) = got.events
    assert (e.key, e.level, e.t_s) == ("store.empty", "info", 5.0)
    with pytest.raises(InputError, match="no such file"):
        load_bms_state(tmp_path / "none.bms.json", 4, on_error="raise")


def test_crash_while_writing_the_temp_file_leaves_the_main_file(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "b.bms.json"
    save_bms_state(path, *sample(soc=0.1), t_s=1.0)
    before = path.read_bytes()

    def torn_write(target: Path, data: bytes, mode: int = 0o644) -> None:
        target.write_bytes(data[: len(data) // 2])  # power lost half-way through
        raise OSError("simulated power loss")

    monkeypatch.setattr(bms_store, "write_durably", torn_write)
    with pytest.raises(OSError, match="power loss"):
        save_bms_state(path, *sample(soc=0.9), t_s=2.0)
    assert path.read_bytes() == before
    assert temp_path(path).exists()  # the truncated temp file is left behind...
    got = load_bms_state(path, 2)
    assert got.source == "main" and got.state["soc"][0] == 0.1  # ...and ignored
    monkeypatch.undo()
    save_bms_state(path, *sample(soc=0.9), t_s=3.0)  # the next save overwrites it
    assert load_bms_state(path, 2).state["soc"][0] == 0.9
    assert not temp_path(path).exists()


@pytest.mark.parametrize("fail_at", [1, 2])
def test_crash_at_each_rename_loses_nothing(tmp_path: Path, monkeypatch, fail_at: int) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "b.bms.json"
    save_bms_state(path, *sample(soc=0.1), t_s=1.0)
    save_bms_state(path, *sample(soc=0.2), t_s=2.0)
    real_replace = os.replace
    calls = []

    def crashing_replace(src: object, dst: object) -> None:
        calls.append(dst)
        if len(calls) == fail_at:
            raise OSError("simulated crash")
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "replace", crashing_replace)
    with pytest.raises(OSError, match="crash"):
        save_bms_state(path, *sample(soc=0.3), t_s=3.0)
    monkeypatch.undo()
    # fail_at 1: before the backup rotation; 2: backup rotated, main not yet replaced
    assert load_bms_state(path, 2).state["soc"][0] == 0.2
    assert read_bms_file(backup_path(path)).state["soc"][0] == (0.1 if fail_at == 1 else 0.2)


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[: len(b) // 3],  # truncated
        lambda b: b"",  # empty
        lambda b: b"\xff\xfe garbage",  # not text
        lambda b: b.replace(b'"charge path opened"', b'"charge path closed"'),  # still JSON: checksum catches it
        lambda b: b.replace(b'"version": 1', b'"version": 99'),
    ],
)
def test_damaged_main_file_falls_back_to_the_backup(tmp_path: Path, damage) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "b.bms.json"
    save_bms_state(path, *sample(soc=0.1), t_s=1.0)
    save_bms_state(path, *sample(soc=0.2), t_s=2.0)
    path.write_bytes(damage(path.read_bytes()))
    got = load_bms_state(path, 2, t_s=50.0)
    assert got.source == "backup" and got.state["soc"][0] == 0.1 and got.saved_t_s == 1.0
    warning = got.events.recent(1)[0]
    assert (warning.key, warning.level, warning.t_s) == ("store.restored_from_backup", "warning", 50.0)
    assert "b.bms.json" in warning.message


def test_saving_over_a_damaged_main_file_keeps_the_good_backup(tmp_path: Path) -> None:
    path = tmp_path / "b.bms.json"
    save_bms_state(path, *sample(soc=0.1), t_s=1.0)
    save_bms_state(path, *sample(soc=0.2), t_s=2.0)
    path.write_bytes(b"{ torn")
    save_bms_state(path, *sample(soc=0.3), t_s=3.0)
    assert read_bms_file(backup_path(path)).state["soc"][0] == 0.1  # not replaced by the torn file
    assert path.with_name(path.name + ".corrupt").read_bytes() == b"{ torn"  # kept for inspection
    assert read_bms_file(path).state["soc"][0] == 0.3


def test_both_files_damaged(tmp_path: Path) -> None:
    path = tmp_path / "b.bms.json"
    path.write_text("nope")
    backup_path(path).write_text('{"format": "something else"}')
    with pytest.raises(InputError, match=r"no usable BMS memory.*not a valid JSON.*not an ml314 BMS store"):
        load_bms_state(path, 2, on_error="raise")
    got = load_bms_state(path, 2, t_s=7.0)
    assert got.source == "empty"
    (e,) = got.events
    assert (e.key, e.level) == ("store.unusable", "warning")
    assert path.read_text() == "nope"  # loading never deletes evidence


def test_a_bank_of_another_shape_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "b.bms.json"
    save_bms_state(path, *sample())
    with pytest.raises(ConfigError, match=r"2 modules x 16 cells.*16 x 16"):
        load_bms_state(path, 16)
    with pytest.raises(ConfigError, match="2 x 8"):
        load_bms_state(path, 2, n_cells=8)


def test_unserialisable_state_is_refused_before_any_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "b.bms.json"
    save_bms_state(path, *sample(soc=0.1))
    before = path.read_bytes()
    log, counters, _ = sample()
    with pytest.raises(InputError, match="cannot be saved"):
        save_bms_state(path, log, counters, {"when": object()})
    assert path.read_bytes() == before and not backup_path(path).exists()


def test_state_with_int_keys_and_tuples_verifies(tmp_path: Path) -> None:
    path = tmp_path / "b.bms.json"
    log, counters, _ = sample()
    save_bms_state(path, log, counters, {"latched": {10: (1, 2), 2: ()}, "nan": math.nan})
    got = load_bms_state(path, 2)
    assert got.source == "main"
    assert got.state["latched"] == {"10": [1, 2], "2": []} and math.isnan(got.state["nan"])


def test_a_full_log_round_trips_with_its_drop_count(tmp_path: Path) -> None:
    path = tmp_path / "b.bms.json"
    log = EventLog(capacity=10_000)
    log.extend(Event(float(i), i % 16 + 1, "alarm", "k.alarm", message="m") for i in range(10_500))
    save_bms_state(path, log, Counters(2))
    got = load_bms_state(path, 2)
    assert len(got.events) == 10_000 and got.events.dropped == 500
    assert got.events.recent(1)[0].t_s == 10_499.0


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", "x" * 65, "bank 1"])
def test_bank_names_that_are_not_file_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(InputError, match="bank name"):
        bank_store_path(tmp_path, name)
