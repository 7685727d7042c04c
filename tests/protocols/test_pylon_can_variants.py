"""The brands that speak Pylon LV CAN (reference/protocols.md 1.3, 1.7): frame sets, quirks, keep-alives."""

from __future__ import annotations

from dataclasses import replace
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml314.domain.battery_status import AlarmKind, BatteryView
from ml314.domain.limits import ChargeLimits
from ml314.errors import FrameError
from ml314.protocols import deye_can, luxpower_can, pylon_can, registry, solark_can, solis_can, victron_can
from ml314.protocols.base import CanFrame, Transport
from ml314.protocols.examples import worked_example

MODULES: dict[str, ModuleType] = {
    "P14-PYL": pylon_can,
    "P03-DY": deye_can,
    "P02-SLK": solark_can,
    "P06-LUX": luxpower_can,
    "P09-SOL": solis_can,
    "P05-VCT": victron_can,
}
V12 = [0x351, 0x355, 0x356, 0x359, 0x35C, 0x35E]
# the six V1.2 frames of the worked example (1.1)
WORKED_V12 = {
    0x351: bytes.fromhex("38 02 C0 5D 00 7D E0 01"),
    0x355: bytes.fromhex("32 00 64 00"),
    0x356: bytes.fromhex("A0 14 50 F8 FA 00"),
    0x359: bytes.fromhex("00 00 00 00 10 50 4E"),
    0x35C: bytes.fromhex("C0 00"),
    0x35E: b"PYLON   ",
}


def ids(frames: tuple[CanFrame, ...]) -> list[int]:
    return [f.arbitration_id for f in frames]


def by_id(frames: tuple[CanFrame, ...]) -> dict[int, bytes]:
    return {f.arbitration_id: f.data for f in frames}


@pytest.mark.parametrize("code", MODULES)
def test_info_matches_the_registry_row(code: str) -> None:
    mod = MODULES[code]
    entry = registry.resolve(f"CAN:{code}")
    assert entry.module == mod.__name__.rsplit(".", 1)[1]
    assert (mod.INFO.code, mod.INFO.brand, mod.INFO.name) == (entry.code, entry.brand, entry.name)
    assert mod.INFO.transport is Transport.CAN and mod.INFO.period_s == 1.0
    assert "Pylon" in mod.INFO.document
    codec = registry.create(entry)
    assert isinstance(codec, pylon_can.PylonCanCodec) and isinstance(codec, mod.Codec)
    assert codec.info == mod.INFO
    assert mod.Codec().info == mod.INFO


@pytest.mark.parametrize("code", MODULES)
def test_carried_fields_round_trip(code: str) -> None:
    codec = MODULES[code].Codec()
    status = worked_example(16)
    view = codec.decode_all(codec.battery_cycle(status))
    expected: dict[str, object] = {
        "voltage_v": status.voltage_v,
        "current_a": status.current_a,
        "temperature_c": status.temperature_c,
        "soc_pct": status.soc_pct,
        "soh_pct": status.soh_pct,
        "cvl_v": status.limits.cvl_v,
        "dvl_v": status.limits.dvl_v,
        "ccl_a": status.limits.ccl_a,
        "dcl_a": status.limits.dcl_a,
        "charge_enable": True,
        "discharge_enable": True,
        "force_charge_1": False,
        "force_charge_2": False,
        "full_charge_request": False,
        "module_count": 16,
        "installed_capacity_ah": status.installed_capacity_ah,
        "cell_voltage_min_v": status.cell_voltage_min_v,
        "cell_voltage_max_v": status.cell_voltage_max_v,
        "cell_temperature_min_c": status.cell_temperature_min_c,
        "cell_temperature_max_c": status.cell_temperature_max_c,
        "alarms": frozenset(),
        "protections": frozenset(),
        "manufacturer": status.manufacturer,
    }
    assert codec.carries <= set(expected)
    for name in codec.carries:
        want = expected[name]
        got = getattr(view, name)
        if isinstance(want, float):
            assert got == pytest.approx(want, abs=0.5 if "temperature" in name else 0.06), name
        else:
            assert got == want, name
    missing = {n for n in expected if getattr(view, n) is None}
    assert not (missing & codec.carries)


@pytest.mark.parametrize("code", ["P03-DY", "P09-SOL"])
def test_plain_v12_variants_send_the_worked_example(code: str) -> None:
    frames = MODULES[code].Codec().battery_cycle(worked_example(16))
    assert ids(frames) == V12
    assert by_id(frames) == WORKED_V12


def test_pylon_sends_v12_then_its_extensions() -> None:
    frames = pylon_can.Codec().battery_cycle(worked_example(16))
    assert ids(frames) == [*V12, 0x35A, 0x35F, 0x379]
    assert {i: d for i, d in by_id(frames).items() if i in WORKED_V12} == WORKED_V12


def test_deye_requires_a_name_beginning_pylon() -> None:
    codec = deye_can.Codec()
    assert by_id(codec.battery_cycle(worked_example(1)))[0x35E].startswith(b"PYLON")
    assert codec.decode(CanFrame(0x35E, b"PYLONDIY")).manufacturer == "PYLONDIY"
    with pytest.raises(FrameError, match="PYLON"):
        codec.decode(CanFrame(0x35E, b"DIYPYLON"))
    with pytest.raises(ValueError, match="PYLON"):
        replace(deye_can.DEYE, name="ML314")
    # the other brands take any name
    assert pylon_can.Codec().decode(CanFrame(0x35E, b"DIYPYLON")).manufacturer == "DIYPYLON"


def test_solark_sends_every_frame_with_dlc_8() -> None:
    frames = solark_can.Codec().battery_cycle(worked_example(16))
    assert ids(frames) == V12
    assert all(len(f.data) == 8 for f in frames)
    sent = by_id(frames)
    assert sent[0x359] == bytes.fromhex("00 00 00 00 10 50 4E 00")  # byte 7 = 0
    assert sent[0x35C] == bytes.fromhex("C0 00 00 00 00 00 00 00")
    assert sent[0x351] == WORKED_V12[0x351]  # DVL in bytes 6-7
    for ident, data in sent.items():
        assert data.startswith(WORKED_V12[ident])
    # the padded 0x355 still decodes as 50 %, not as a 0.00 % high-resolution SOC
    assert solark_can.Codec().decode(CanFrame(0x355, sent[0x355])).soc_pct == 50.0


def test_solark_inverter_answers_305_zeros() -> None:
    codec = solark_can.Codec()
    assert codec.inverter_cycle(BatteryView()) == (CanFrame(0x305, bytes(8)),)
    assert codec.is_inverter_alive(CanFrame(0x305, bytes(8)))


def test_luxpower_sends_installed_capacity_and_no_name() -> None:
    frames = luxpower_can.Codec().battery_cycle(worked_example(16))
    assert ids(frames) == [0x351, 0x355, 0x356, 0x359, 0x35C, 0x379]
    assert by_id(frames)[0x379] == bytes.fromhex("A0 13 00 00")  # 5024 Ah
    assert "installed_capacity_ah" in luxpower_can.Codec.carries
    assert "manufacturer" not in luxpower_can.Codec.carries


def test_victron_frame_set() -> None:
    codec = victron_can.Codec()
    frames = codec.battery_cycle(worked_example(16))
    assert ids(frames) == [0x351, 0x355, 0x356, 0x35A, 0x35E, 0x35F, *range(0x370, 0x37A), 0x382]
    sent = by_id(frames)
    assert 0x359 not in sent and 0x35C not in sent
    assert sent[0x351] == WORKED_V12[0x351]
    assert sent[0x355] == bytes.fromhex("32 00 64 00 88 13")  # 50.00 % in 0.01 %
    assert sent[0x35E] == b"ML314\0\0\0"
    assert sent[0x370] + sent[0x371] == b"ML314-51.2-W08\0\0"
    assert sent[0x372] == bytes.fromhex("10 00 00 00 00 00 00 00")
    # 3300 mV, 3315 mV, 297 K, 297 K (24.0 and 24.3 degC rounded to whole kelvin)
    assert sent[0x373] == bytes.fromhex("E4 0C F3 0C 29 01 29 01")
    assert [sent[i].rstrip(b"\0") for i in range(0x374, 0x378)] == [b"M01C01", b"M01C16", b"M01T01", b"M01T04"]
    assert sent[0x379] == bytes.fromhex("A0 13 00 00")
    assert sent[0x382] == b"ML314\0\0\0"
    assert "manufacturer" in victron_can.Codec.carries


def test_victron_module_counts_and_energy() -> None:
    status = worked_example(3)
    modules = (replace(status.modules[0], charge_mosfet_on=False), *status.modules[1:])
    status = replace(status, modules=modules, charged_energy_kwh=211.2, discharged_energy_kwh=183.5)
    sent = by_id(victron_can.Codec().battery_cycle(status))
    assert sent[0x372] == bytes.fromhex("03 00 01 00 00 00 00 00")
    assert sent[0x378] == bytes.fromhex("40 08 00 00 2B 07 00 00")  # dfch capture values


def test_victron_never_sends_cvl_zero() -> None:
    status = replace(worked_example(1), limits=ChargeLimits(cvl_v=0.2, dvl_v=0.0, ccl_a=0.0, dcl_a=0.0))
    victron = by_id(victron_can.Codec().battery_cycle(status))[0x351]
    assert int.from_bytes(victron[:2], "little") == 410
    assert by_id(pylon_can.Codec().battery_cycle(status))[0x351][:2] == bytes.fromhex("02 00")


def test_victron_keepalives() -> None:
    codec = victron_can.Codec()
    assert codec.inverter_cycle(BatteryView()) == (
        CanFrame(0x305, bytes(8)),
        CanFrame(0x306, bytes(8)),
        CanFrame(0x307, bytes.fromhex("12 34 56 78 56 49 43 00")),
    )
    for ident in (0x305, 0x306, 0x307):
        assert codec.is_inverter_alive(CanFrame(ident, bytes(8)))
    assert not pylon_can.Codec().is_inverter_alive(CanFrame(0x306, bytes(8)))
    assert victron_can.INFO.keepalive_timeout_s == 600.0  # tolerate 0x305 loss for 10 minutes
    name, fields = codec.describe(CanFrame(0x307, bytes.fromhex("12 34 56 78 56 49 43 00"))) or ("", {})
    assert (name, fields) == ("inverter_id", {"inverter_name": "VIC", "inverter_magic": 0x78563412})


def test_victron_alarms_travel_in_35a() -> None:
    codec = victron_can.Codec()
    status = replace(
        worked_example(2),
        protections=frozenset({AlarmKind.CHARGE_OVERTEMPERATURE}),
        alarms=frozenset({AlarmKind.CELL_IMBALANCE}),
    )
    view = codec.decode_all(codec.battery_cycle(status))
    assert view.protections == {AlarmKind.CHARGE_OVERTEMPERATURE}
    assert view.alarms == {AlarmKind.CELL_IMBALANCE}


@pytest.mark.parametrize("code", ["P04-MGR", "P08-INH", "P11-STU", "P12-MUST", "P15-TRB", "P16-HUB"])
def test_compatibility_rows_run_pylon_can(code: str) -> None:
    entry = registry.resolve(f"CAN:{code}")
    codec = registry.create(entry)
    assert type(codec) is pylon_can.Codec
    assert codec.info.code == code and codec.info.compatibility == "pylon-can"
    assert codec.battery_cycle(worked_example(16)) == pylon_can.Codec().battery_cycle(worked_example(16))


@settings(max_examples=200, deadline=None)
@given(
    code=st.sampled_from(sorted(MODULES)),
    ident=st.integers(0x300, 0x3FF) | st.integers(0, 0x7FF),
    data=st.binary(max_size=8),
)
def test_fuzz_every_variant(code: str, ident: int, data: bytes) -> None:
    codec = MODULES[code].Codec()
    f = CanFrame(ident, data)
    try:
        assert isinstance(codec.decode(f), BatteryView)
    except FrameError as exc:
        assert str(exc) and "\n" not in str(exc)
    try:
        described = codec.describe(f)
    except FrameError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert described is None or isinstance(described[0], str)
