"""Event log, messages with the manual's disposal text, and the per-module counters."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ml314.bms.events import (
    C_CHARGE_AH,
    C_CYCLES,
    COUNTER_COLUMNS,
    DISPOSAL,
    QUANTITY_TEXT,
    Counters,
    Event,
    EventLog,
    compile_counter_thresholds,
    disposal,
    event_from_change,
)
from ml314.bms.parameters import QUANTITIES, load_default_parameters
from ml314.bms.protection import CH_LATCH, CH_LOCKOUT, CH_RELEASE, CH_TRIP, Change
from ml314.errors import InputError

PARAMS = load_default_parameters()


def ev(t: float, key: str = "x.info", module_id: int = 1) -> Event:
    return Event(t, module_id, "info", key, message=f"event at {t}")


# --- Event and EventLog ------------------------------------------------------------------------------------------


def test_event_rejects_unknown_kind_and_level() -> None:
    with pytest.raises(ValueError, match="kind"):
        Event(0.0, 1, "boom", "k")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="level"):
        Event(0.0, 1, "info", "k", level="fatal")  # type: ignore[arg-type]


def test_ring_keeps_the_newest() -> None:
    log = EventLog(capacity=5)
    for t in range(12):
        log.append(ev(float(t)))
    assert len(log) == 5
    assert [e.t_s for e in log] == [7.0, 8.0, 9.0, 10.0, 11.0]
    assert log.dropped == 7
    assert [e.t_s for e in log.recent(2)] == [10.0, 11.0]
    assert [e.t_s for e in log.recent(50)] == [7.0, 8.0, 9.0, 10.0, 11.0]
    assert log.recent(0) == ()
    assert [e.t_s for e in log.since(9.0)] == [9.0, 10.0, 11.0]
    assert log.since(100.0) == ()


def test_default_capacity_is_ten_thousand() -> None:
    log = EventLog()
    log.extend(ev(float(t)) for t in range(10_050))
    assert len(log) == 10_000 == log.capacity
    assert next(iter(log)).t_s == 50.0


@given(
    st.lists(
        st.builds(
            Event,
            t_s=st.floats(-1e9, 1e9),
            module_id=st.integers(0, 63),
            kind=st.sampled_from(["trip", "release", "lockout", "latch", "alarm", "state", "sync", "info"]),
            key=st.text(max_size=20),
            quantity=st.text(max_size=10),
            value=st.floats(allow_nan=True, allow_infinity=False),
            threshold=st.floats(allow_nan=True, allow_infinity=False),
            unit=st.sampled_from(["", "V", "A", "degC"]),
            level=st.sampled_from(["warning", "alarm", "protection", "info"]),
            action=st.text(max_size=20),
            message=st.text(max_size=40),
        ),
        max_size=20,
    )
)
def test_records_round_trip_through_json(events: list[Event]) -> None:
    log = EventLog(events=events)
    text = json.dumps(log.to_records(), allow_nan=False)  # NaN stored as null: strict JSON
    back = EventLog.from_records(json.loads(text))
    for a, b in zip(log, back, strict=True):
        for field in Event.__slots__:
            x, y = getattr(a, field), getattr(b, field)
            assert x == y or (isinstance(x, float) and math.isnan(x) and math.isnan(y))


@pytest.mark.parametrize(
    ("records", "match"),
    [
        ("not a list", "list"),
        ([{"t_s": 0, "module_id": 1, "kind": "info"}], r"events\[0\].*missing field 'key'"),
        ([{"t_s": 0, "module_id": 1, "kind": "info", "key": "k", "colour": "red"}], "unknown field 'colour'"),
        ([{"t_s": "noon", "module_id": 1, "kind": "info", "key": "k"}], "expected a number"),
        ([{"t_s": 0, "module_id": 1.5, "kind": "info", "key": "k"}], "integer"),
        ([{"t_s": 0, "module_id": 1, "kind": "explode", "key": "k"}], "kind"),
        ([{"t_s": 0, "module_id": 1, "kind": "info", "key": 3}], "expected text"),
        ([42], "object"),
    ],
)
def test_bad_records_raise_input_error(records: object, match: str) -> None:
    with pytest.raises(InputError, match=match):
        EventLog.from_records(records)  # type: ignore[arg-type]


# --- messages ----------------------------------------------------------------------------------------------------


def test_table_12_1_disposals() -> None:
    assert disposal("charge_overcurrent.protection").text == "Stop charge, check the settings and limitation"
    assert disposal("charge_overtemperature.protection").text == "Stop charge, wait for the temp recovery"
    assert disposal("discharge_overcurrent.protection").text == "Stop discharge, check if there is an overload"
    assert disposal("discharge_overtemperature.protection").text == "Stop discharge, wait for the temp recovery"
    assert disposal("charge_overcurrent.alarm").source == "Table 12-1"
    assert disposal("cell_imbalance.alarm").text == "Examine/balance the cell"
    assert disposal("voltage_sensor.protection").text == "Replace BMS"
    assert disposal("short_circuit.protection").source == "Table 12-2 #5"
    assert disposal("cell_overvoltage.warning") is None


def test_disposal_keys_name_real_rows() -> None:
    keys = {r.key for r in PARAMS.protection}
    names = {r.name for r in PARAMS.protection}
    assert set(DISPOSAL) <= keys | names
    # every protection-level row that opens a path says what to do
    for r in PARAMS.protection:
        if r.level.name == "PROTECTION":
            assert disposal(r.key) is not None, r.key


def test_every_quantity_has_a_readable_name() -> None:
    assert set(QUANTITY_TEXT) == set(QUANTITIES)


def test_trip_message() -> None:
    row = PARAMS.row("charge_overcurrent.protection")
    e = event_from_change(Change(0, row, CH_TRIP, 262.4), 120.0, 3, sensor="shunt")
    assert (e.kind, e.key, e.level, e.unit) == ("trip", "charge_overcurrent.protection", "protection", "A")
    assert (e.value, e.threshold, e.quantity) == (262.4, 250.0, "charge_current_a")
    assert e.action == "charge path opened"
    assert e.message == (
        "Module 3: charge overcurrent protection tripped: charge current 262.4 A on shunt, trip level 250 A; "
        "charge path opened. Stop charge, check the settings and limitation (Table 12-1)."
    )


def test_release_lockout_and_latch_messages() -> None:
    row = PARAMS.row("charge_overtemperature.protection")
    rel = event_from_change(Change(0, row, CH_RELEASE, 56.0), 10.0, 2, sensor="NTC 3", value=48.5)
    assert rel.kind == "release" and rel.threshold == 50.0 and rel.value == 48.5
    assert "48.5 degC on NTC 3, release level 50 degC" in rel.message
    assert "may close again" in rel.action and "Stop charge" not in rel.message
    lock = event_from_change(Change(0, PARAMS.row("discharge_overcurrent.alarm"), CH_LOCKOUT, 180.0), 1.0, 1)
    assert lock.kind == "lockout" and "locked out until RESET" in lock.message and lock.level == "alarm"
    latch = event_from_change(Change(0, PARAMS.row("deep_discharge.protection"), CH_LATCH, 2.45), 1.0, 1)
    assert latch.kind == "latch" and "service clear" in latch.message and "40 V" in latch.message
    warn = event_from_change(Change(0, PARAMS.row("cell_undervoltage.warning"), CH_TRIP, 2.899), 1.0, 1)
    assert warn.level == "warning" and warn.action == "warning raised, derated"


# --- counters ----------------------------------------------------------------------------------------------------


def test_throughput_cycles_and_energy() -> None:
    c = Counters(2, capacity_ah=314.0)
    # module 0 charges at 157 A for 2 h then discharges 2 h; module 1 rests
    for _ in range(7200):
        c.update(np.array([157.0, 0.0]), np.array([53.0, 52.0]), 20.0, 25.0, 0.5, 1.0)
    for _ in range(7200):
        c.update(np.array([-157.0, 0.0]), np.array([51.0, 52.0]), 20.0, 25.0, 0.5, 1.0)
    assert c.column("charge_ah")[0] == pytest.approx(314.0)
    assert c.column("discharge_ah")[0] == pytest.approx(314.0)
    assert c.column("charge_wh")[0] == pytest.approx(314.0 * 53.0)
    assert c.column("discharge_wh")[0] == pytest.approx(314.0 * 51.0)
    assert c.column("cycles")[0] == pytest.approx(1.0)
    assert c.values[1, C_CHARGE_AH] == c.values[1, C_CYCLES] == 0.0


def test_cycles_follow_the_capacity_at_the_time() -> None:
    c = Counters(1, capacity_ah=100.0)
    c.update(100.0, 52.0, 20.0, 20.0, 0.5, 3600.0)  # 100 Ah in: half a cycle of 100 Ah
    c.capacity_ah[:] = 50.0
    c.update(-50.0, 52.0, 20.0, 20.0, 0.5, 3600.0)  # 50 Ah out: half a cycle of 50 Ah
    assert c.column("cycles")[0] == pytest.approx(1.0)


def test_time_at_extremes_is_strict_and_per_module() -> None:
    c = Counters(4, thresholds=compile_counter_thresholds(0.0, 45.0, 0.10, 0.95))
    t_min = np.array([-0.1, 0.0, 20.0, 20.0])
    t_max = np.array([10.0, 45.0, 45.1, 20.0])
    soc = np.array([0.09, 0.10, 0.95, 0.96])
    for _ in range(30):
        c.update(0.0, 52.0, t_min, t_max, soc, 2.0)
    assert c.column("cold_s").tolist() == [60.0, 0.0, 0.0, 0.0]
    assert c.column("hot_s").tolist() == [0.0, 0.0, 60.0, 0.0]
    assert c.column("soc_low_s").tolist() == [60.0, 0.0, 0.0, 0.0]
    assert c.column("soc_high_s").tolist() == [0.0, 0.0, 0.0, 60.0]


def test_nan_readings_add_nothing() -> None:
    c = Counters(1)
    c.update(math.nan, math.nan, math.nan, math.nan, math.nan, 1.0)
    assert not np.any(np.nan_to_num(c.values, nan=0.0))


def test_trips_syncs_and_balancing() -> None:
    c = Counters(2, n_cells=4)
    trip = event_from_change(Change(0, PARAMS.row("cell_overvoltage.protection"), CH_TRIP, 3.66), 5.0, 1)
    release = event_from_change(Change(0, PARAMS.row("cell_overvoltage.protection"), CH_RELEASE, 3.66), 9.0, 1)
    c.count_event(0, trip)
    c.count_event(0, release)
    c.count_event(0, trip)
    c.count_trip(1, "short_circuit.protection")
    assert c.trips == [{"cell_overvoltage.protection": 2}, {"short_circuit.protection": 1}]
    assert math.isnan(c.column("last_full_charge_s")[0])
    c.record_full_sync(1, 1000.0)
    c.record_full_sync(1, 5000.0)
    assert c.column("full_syncs").tolist() == [0.0, 2.0]
    assert c.column("last_full_charge_s")[1] == 5000.0
    on = np.array([[1, 0, 0, 1], [0, 0, 0, 0]], dtype=bool)
    for _ in range(10):
        c.add_balancing(on, 1.0)
    assert c.balancing_s.tolist() == [[10.0, 0.0, 0.0, 10.0], [0.0] * 4]


def test_counter_record_round_trip() -> None:
    c = Counters(3, n_cells=2, capacity_ah=np.array([314.0, 300.0, 280.0]))
    c.update(np.array([10.0, -20.0, 0.0]), 52.0, -5.0, 50.0, 0.05, 60.0)
    c.count_trip(2, "cell_imbalance.alarm")
    c.record_full_sync(0, 77.0)
    c.add_balancing(np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]), 3.0)
    back = Counters.from_record(json.loads(json.dumps(c.to_record(), allow_nan=False)))
    np.testing.assert_array_equal(back.values, c.values)
    np.testing.assert_array_equal(back.balancing_s, c.balancing_s)
    np.testing.assert_array_equal(back.capacity_ah, c.capacity_ah)
    np.testing.assert_array_equal(back.thresholds, c.thresholds)
    assert back.trips == c.trips
    assert list(c.to_record()["columns"]) == list(COUNTER_COLUMNS)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda r: r.pop("columns"), "malformed"),
        (lambda r: r["columns"].update(charge_ah=[1.0]), "expected 2 values"),
        (lambda r: r["columns"].update(mystery=[1.0, 2.0]), "unknown column 'mystery'"),
        (lambda r: r.update(balancing_s=[[0.0]]), "balancing_s"),
        (lambda r: r.update(trips=[{}]), "trips"),
        (lambda r: r.update(n_modules="two"), "malformed"),
    ],
)
def test_bad_counter_records_raise_input_error(mutate, match: str) -> None:  # type: ignore[no-untyped-def]
    rec = Counters(2, n_cells=3).to_record()
    mutate(rec)
    with pytest.raises(InputError, match=match):
        Counters.from_record(rec)
