"""Snapshots survive the JSON wire form every surface uses, and a value that does not fit names its path."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from ml314.domain.battery_status import AlarmKind, BankStatus, ModuleStatus
from ml314.domain.faults import SystemFault, SystemFaultKind
from ml314.domain.limits import ChargeLimits
from ml314.domain.snapshot_json import SnapshotDecodeError, from_jsonable, to_jsonable
from ml314.protocols.examples import worked_example


def test_a_bank_status_round_trips_through_json_text() -> None:
    status = worked_example(3)
    status = replace(status, alarms=frozenset({AlarmKind.CELL_OVERVOLTAGE}))
    text = json.dumps(to_jsonable(status))
    back = from_jsonable(BankStatus, json.loads(text))
    assert back == status
    assert isinstance(back.modules[0], ModuleStatus)
    assert back.alarms == frozenset({AlarmKind.CELL_OVERVOLTAGE})


def test_enums_are_names_and_sets_are_sorted_lists() -> None:
    fault = SystemFault(SystemFaultKind.INVERTER_LOST, "no frame for 60 s", link="can")
    data = to_jsonable(fault)
    assert isinstance(data, dict) and data["kind"] == "INVERTER_LOST"
    assert from_jsonable(SystemFault, data) == fault
    assert to_jsonable(frozenset({2, 1})) == [1, 2]


def test_a_non_finite_float_is_null_and_reads_back_as_nan() -> None:
    data = to_jsonable(ChargeLimits(cvl_v=float("nan"), dvl_v=44.8, ccl_a=10.0, dcl_a=20.0))
    assert isinstance(data, dict) and data["cvl_v"] is None
    assert from_jsonable(ChargeLimits, data).dvl_v == 44.8


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"cvl_v": "high", "dvl_v": 44.8, "ccl_a": 1.0, "dcl_a": 1.0}, "ChargeLimits.cvl_v"),
        ({"cvl_v": 56.0, "dvl_v": 44.8, "ccl_a": 1.0, "dcl_a": 1.0, "volts": 3}, "unknown field 'volts'"),
        ([1, 2], "expected an object"),
    ],
)
def test_a_value_that_does_not_fit_names_its_path(data: object, where: str) -> None:
    with pytest.raises(SnapshotDecodeError, match=where.replace(".", r"\.")):
        from_jsonable(ChargeLimits, data)
