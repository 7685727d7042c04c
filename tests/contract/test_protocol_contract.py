"""Every protocol of the registry through the same checks: identity, round trip, the inverter side, fuzzing."""

from __future__ import annotations

import contextlib
import math
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ml314.domain.battery_status import AlarmKind, BankStatus, BatteryView
from ml314.errors import FrameError
from ml314.protocols.base import CanCodec, CanFrame, Rs485Codec
from ml314.protocols.examples import worked_example
from ml314.protocols.registry import PROTOCOLS, Entry, create, info
from ml314.system.inverter_exchange import ExchangeCounters, exchange_once

IDS = [f"{e.transport.value}:{e.code or e.name}" for e in PROTOCOLS]

#: BatteryView field -> (BankStatus value, tolerance in the field's unit)
TOLERANCE = {
    "voltage_v": 0.06,
    "current_a": 0.06,
    "temperature_c": 0.6,
    "soc_pct": 0.6,
    "soh_pct": 0.6,
    "cvl_v": 0.06,
    "dvl_v": 0.06,
    "ccl_a": 0.06,
    "dcl_a": 0.06,
    "remaining_capacity_ah": 0.6,
    "full_capacity_ah": 0.6,
    "installed_capacity_ah": 0.6,
    "cell_voltage_max_v": 0.0011,
    "cell_voltage_min_v": 0.0011,
    "cell_temperature_max_c": 0.6,
    "cell_temperature_min_c": 0.6,
}


#: (module, field) -> the largest value its wire field can say (u16 10 mAh capacities)
SATURATES = {(m, f): 655.35 for m in ("growatt_can",) for f in ("remaining_capacity_ah", "full_capacity_ah")}
SATURATES |= {("growatt_modbus", f): 655.35 for f in ("ccl_a", "dcl_a")}  # u16 10 mA limits
#: modules whose capacity fields overflow and are scaled together (remaining / full kept): their largest full
SCALED_CAPACITY = {"growatt_modbus": 655.35, "voltronic_pyl": 65.535}
CAPACITIES = ("remaining_capacity_ah", "full_capacity_ah")


def expected(status: BankStatus, name: str) -> object:
    lim = status.limits
    return {
        "cvl_v": lim.cvl_v,
        "dvl_v": lim.dvl_v,
        "ccl_a": lim.ccl_a,
        "dcl_a": lim.dcl_a,
        "module_count": status.module_count,
    }.get(name, getattr(status, name, None))


def cycle(codec: CanCodec | Rs485Codec, status: BankStatus) -> BatteryView:
    view = BatteryView()
    for _ in range(2):  # request-driven protocols answer the inverter's first frames
        view = exchange_once(codec, status, view, ExchangeCounters())
    return view


@pytest.mark.parametrize("entry", PROTOCOLS, ids=IDS)
def test_the_codec_is_what_its_row_says(entry: Entry) -> None:
    codec = create(entry)
    i = codec.info
    assert i == info(entry)
    assert i.transport is entry.transport
    assert i.code == entry.code and i.name == entry.name and i.brand == entry.brand
    assert bool(i.compatibility) == bool(entry.compatibility)
    assert i.document, "every protocol names the document it follows"
    assert isinstance(codec, CanCodec if entry.transport.value == "CAN" else Rs485Codec)
    assert codec.carries, "a codec declares the fields it carries"
    assert codec.carries <= set(BatteryView.__dataclass_fields__)


@pytest.mark.parametrize("modules", [1, 4])
@pytest.mark.parametrize("entry", PROTOCOLS, ids=IDS)
def test_round_trip_through_the_inverter_side(entry: Entry, modules: int) -> None:
    codec = create(entry)
    status = worked_example(modules)
    view = cycle(codec, status)
    for name in sorted(codec.carries):
        got = getattr(view, name)
        assert got is not None, f"{name} is carried but did not arrive"
        want = expected(status, name)
        if entry.module in SCALED_CAPACITY and name in CAPACITIES:
            continue  # checked as a ratio in test_derived_values_stay_consistent
        if (entry.module, name) in SATURATES:
            want = min(float(want), SATURATES[entry.module, name])  # type: ignore[arg-type]
        if name in TOLERANCE:
            assert math.isclose(float(got), float(want), abs_tol=TOLERANCE[name]), (name, got, want)
        elif name in ("alarms", "protections"):
            assert got == frozenset(), f"{name}: a healthy bank raised {got}"
        elif name == "modules":
            assert len(got) == modules
        elif name == "manufacturer":
            assert isinstance(got, str) and got
        elif want is not None:
            assert got == want, (name, got, want)


@pytest.mark.parametrize("entry", PROTOCOLS, ids=IDS)
def test_limits_reach_the_peer_and_every_alarm_shows(entry: Entry) -> None:
    codec = create(entry)
    status = worked_example(2)
    view = cycle(codec, status)
    limits = view.limits()
    assert limits is not None, "the inverter peer must learn limits it can obey"
    assert math.isclose(limits.ccl_a, status.limits.ccl_a, abs_tol=0.06)
    assert math.isclose(limits.dcl_a, status.limits.dcl_a, abs_tol=0.06)
    everything = frozenset(AlarmKind)
    modules = tuple(replace(m, alarms=everything, protections=everything) for m in status.modules)
    alarmed = replace(status, alarms=everything, protections=everything, modules=modules)
    view = cycle(create(entry), alarmed)
    if "alarms" in codec.carries:
        assert view.alarms, "alarms raised on the bank must reach the inverter"
    if "protections" in codec.carries:
        assert view.protections, "protections active on the bank must reach the inverter"


@pytest.mark.parametrize("entry", PROTOCOLS, ids=IDS)
def test_a_disabled_direction_reaches_the_peer_as_zero(entry: Entry) -> None:
    codec = create(entry)
    status = replace(worked_example(1), charge_enable=False)
    limits = cycle(codec, status).limits()
    assert limits is not None and limits.ccl_a == 0.0 and limits.dcl_a > 0.0


@pytest.mark.parametrize("entry", PROTOCOLS, ids=IDS)
def test_sixteen_modules_reach_the_peer_clamped_not_wrapped(entry: Entry) -> None:
    codec = create(entry)
    status = replace(worked_example(16), current_a=-5024.0)
    view = cycle(codec, status)
    limits = view.limits()
    assert limits is not None
    assert 0.0 < limits.ccl_a <= status.limits.ccl_a + 0.06
    assert 0.0 < limits.dcl_a <= status.limits.dcl_a + 0.06
    if "current_a" in codec.carries:
        assert view.current_a is not None and view.current_a < 0.0, "a clamped discharge is still a discharge"
    if "installed_capacity_ah" in codec.carries:
        assert view.installed_capacity_ah is not None and view.installed_capacity_ah > 314.0


CAN_ENTRIES = [e for e in PROTOCOLS if e.transport.value == "CAN"]
RS485_ENTRIES = [e for e in PROTOCOLS if e.transport.value == "RS485"]


def _at_soc(status: BankStatus, soc: float) -> BankStatus:
    n = status.module_count
    modules = tuple(replace(m, soc_pct=soc, remaining_capacity_ah=3.14 * soc) for m in status.modules)
    return replace(status, modules=modules, soc_pct=soc, remaining_capacity_ah=3.14 * soc * n)


@pytest.mark.parametrize("soc", [0.0, 8.0, 37.0, 100.0])
@pytest.mark.parametrize("modules", [1, 4, 16])
@pytest.mark.parametrize("entry", RS485_ENTRIES, ids=[f"RS485:{e.code or e.name}" for e in RS485_ENTRIES])
def test_derived_values_stay_consistent(entry: Entry, modules: int, soc: float) -> None:
    """What an inverter derives from a bank of up to 16 modules, whatever field overflows: SOC = remaining / full
    (capacities scaled together where the field is too small) and power = voltage x current."""
    status = _at_soc(worked_example(modules), soc)
    view = cycle(create(entry), status)
    if view.remaining_capacity_ah is not None and view.full_capacity_ah:
        assert 100.0 * view.remaining_capacity_ah / view.full_capacity_ah == pytest.approx(soc, abs=0.01)
        if entry.module in SCALED_CAPACITY:
            want = min(status.full_capacity_ah, SCALED_CAPACITY[entry.module] * (modules if "pyl" in entry.name else 1))
            assert view.full_capacity_ah == pytest.approx(want, abs=0.01)
    if view.soc_pct is not None:
        assert view.soc_pct == pytest.approx(soc, abs=0.6)
    if view.voltage_v is not None and view.current_a is not None:
        power_w = status.voltage_v * status.current_a
        assert view.voltage_v * view.current_a == pytest.approx(power_w, rel=0.002)


@pytest.mark.parametrize("entry", CAN_ENTRIES, ids=[f"CAN:{e.code}" for e in CAN_ENTRIES])
def test_the_inverter_peer_sends_a_keep_alive_the_battery_recognises(entry: Entry) -> None:
    codec = create(entry)
    assert isinstance(codec, CanCodec)
    frames = codec.inverter_cycle(BatteryView())
    assert frames and any(codec.is_inverter_alive(f) for f in frames)
    assert not any(codec.is_inverter_alive(f) for f in codec.battery_cycle(worked_example(1)))


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("entry", CAN_ENTRIES, ids=[f"CAN:{e.code}" for e in CAN_ENTRIES])
@SETTINGS
@given(data=st.data())
def test_can_decoders_raise_only_frame_errors(entry: Entry, data: st.DataObject) -> None:
    codec = create(entry)
    assert isinstance(codec, CanCodec)
    known = sorted({f.arbitration_id for f in codec.battery_cycle(worked_example(1))} | {0x305, 0x301, 0x311})
    ident = data.draw(st.one_of(st.sampled_from(known), st.integers(0, 0x7FF)))
    payload = data.draw(st.binary(min_size=0, max_size=8))
    frame = CanFrame(ident, payload)
    for call in (codec.decode, codec.describe, lambda f: codec.battery_answer(f, worked_example(1))):
        with contextlib.suppress(FrameError):
            call(frame)


@pytest.mark.parametrize("entry", RS485_ENTRIES, ids=[f"RS485:{e.code or e.name}" for e in RS485_ENTRIES])
@SETTINGS
@given(data=st.data())
def test_rs485_decoders_raise_only_frame_errors(entry: Entry, data: st.DataObject) -> None:
    codec = create(entry)
    assert isinstance(codec, Rs485Codec)
    requests = codec.inverter_requests()
    good = codec.respond(requests[0], worked_example(1)) or b""
    base = data.draw(st.sampled_from([*requests, good]))
    noise = data.draw(st.binary(max_size=64))
    mode = data.draw(st.sampled_from(["random", "flip", "truncate"]))
    if mode == "random":
        blob = noise
    elif mode == "flip" and base:
        i = data.draw(st.integers(0, len(base) - 1))
        blob = base[:i] + bytes([base[i] ^ data.draw(st.integers(1, 255))]) + base[i + 1 :]
    else:
        blob = base[: data.draw(st.integers(0, max(0, len(base) - 1)))]
    for call in (
        lambda b: codec.take_frame(bytearray(b), response=False),
        lambda b: codec.take_frame(bytearray(b), response=True),
        lambda b: codec.respond(b, worked_example(1)),
        lambda b: codec.decode_response(requests[0], b),
        codec.describe,
    ):
        with contextlib.suppress(FrameError):
            call(blob)
