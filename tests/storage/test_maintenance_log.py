"""The record of maintenance work in the data dir: survives a reopen, refuses an unknown item or a torn file."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml314.diagnostics.maintenance import WorkRecord
from ml314.errors import InputError
from ml314.storage.maintenance_log import MAINTENANCE_FILE, MaintenanceLog


def test_records_survive_a_reopen_and_the_start_is_kept(tmp_path: Path) -> None:
    path = tmp_path / MAINTENANCE_FILE
    log = MaintenanceLog(path, now_s=1000.0)
    assert path.exists() and log.start_s == 1000.0
    log.add(WorkRecord("power_cables", 5000.0, by="tech", note="tightened M8 lug"))
    log.add(WorkRecord("charge_discharge", 3000.0, result="SOC normal, SOH normal"))
    again = MaintenanceLog(path, now_s=9999.0)
    assert again.start_s == 1000.0  # the first open's date, not this one's
    assert [r.item for r in again.records] == ["charge_discharge", "power_cables"]  # in time order
    assert again.records[1].note == "tightened M8 lug"
    assert not (tmp_path / (MAINTENANCE_FILE + ".tmp")).exists()


def test_unknown_item_and_unreadable_file_are_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / MAINTENANCE_FILE
    log = MaintenanceLog(path, now_s=0.0)
    with pytest.raises(InputError, match="power_cables"):
        log.add(WorkRecord("cables", 1.0))
    path.write_text('{"version": 1, "start_s": 0, "rec')
    with pytest.raises(InputError, match="unreadable"):
        MaintenanceLog(path, now_s=0.0)
    assert path.read_text().endswith('"rec')  # left as it was, never overwritten
