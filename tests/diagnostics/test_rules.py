"""The rules on hand-made observations: each reads what it should, stays silent on what it does not know, and
cites the manual's row word for word."""

from __future__ import annotations

import math

import pytest

from ml314.bms.events import Event
from ml314.diagnostics import (
    RULES,
    InverterLinkObservation,
    ModuleObservation,
    Observation,
    ProtectionLedger,
    TracePoint,
    diagnose,
    rule,
)
from ml314.diagnostics.manual import MANUAL_ROWS, manual_row
from ml314.domain.battery_status import BatteryView
from ml314.domain.faults import SystemFault, SystemFaultKind
from ml314.protocols.base import CanCodec, Transport
from ml314.protocols.registry import create, entries


def _trip(t: float, mid: int, key: str, kind: str = "trip") -> Event:
    return Event(t_s=t, module_id=mid, kind=kind, key=key, value=1.0, threshold=0.5, unit="V", level="protection",  # type: ignore[arg-type]
                 message=f"Module {mid}: {key} tripped: value 1 V; done.")  # fmt: skip


def test_every_row_of_tables_12_1_and_12_2_has_a_rule() -> None:
    covered = {r.manual for r in RULES}
    assert covered == set(MANUAL_ROWS)
    assert len([k for k in MANUAL_ROWS if k.startswith("12-2.")]) == 10
    assert len([k for k in MANUAL_ROWS if k.startswith("12-1.")]) == 4


def test_the_manual_text_is_the_manuals() -> None:
    row = manual_row("12-2.9")
    assert row.analysis == "BMS goes into low voltage protection and goes to sleep mode."
    assert row.steps[0] == "Charge the battery immediately and it will reboot itself."
    assert manual_row("12-2.5").solution == "Disconnect the power cable and check all cables"
    assert "40V" in manual_row("12-2.10").solution


def test_a_misspelt_rule_or_row_names_the_nearest() -> None:
    with pytest.raises(KeyError, match="did you mean 'sleep'"):
        rule("slep")
    with pytest.raises(KeyError, match=r"did you mean '12-2\.9'"):
        manual_row("12-2-9")


def test_nothing_known_means_no_finding() -> None:
    obs = Observation(t_s=1000.0, modules=(ModuleObservation(0, 1),))
    assert diagnose(obs) == ()


def test_the_ledger_keeps_trips_until_released_and_latches_across_a_reset() -> None:
    ledger = ProtectionLedger()
    ledger.feed([_trip(1, 1, "cell_imbalance.alarm"), _trip(2, 2, "voltage_sensor.protection", "latch")])
    assert [e.key for e in ledger.active()] == ["cell_imbalance.alarm", "voltage_sensor.protection"]
    ledger.feed([_trip(3, 1, "cell_imbalance.alarm", "release")])
    assert [e.key for e in ledger.active()] == ["voltage_sensor.protection"]
    reset = Event(t_s=4, module_id=2, kind="state", key="state.standby", message="Module 2: fault -> standby: RESET "
                  "restarts the BMS")  # fmt: skip
    ledger.feed([reset])
    assert [e.key for e in ledger.active()] == ["voltage_sensor.protection"]  # a latch needs service


def test_an_active_trip_names_its_module_and_the_manuals_solution() -> None:
    obs = Observation(t_s=10.0, modules=(ModuleObservation(0, 1), ModuleObservation(1, 2, state="fault")),
                      active=(_trip(5, 2, "temperature_sensor.alarm"),))  # fmt: skip
    (f,) = diagnose(obs)
    assert (f.code, f.module_id, f.since_s) == ("temperature_unbalance", 2, 5.0)
    assert f.manual.ref == "Table 12-2 #7"
    assert f.manual.solution == "Replace temperature sensor cable"
    assert "Replace temperature sensor cable" in f.report()
    assert f.as_dict()["manual"]["analysis"] == "Unbalance temperature"


def test_a_warning_level_trip_is_no_12_1_alarm() -> None:
    obs = Observation(t_s=10.0, active=(_trip(5, 1, "charge_overcurrent.warning"),))
    assert diagnose(obs) == ()


def test_link_rules_tell_silence_from_another_protocol() -> None:
    silent = InverterLinkObservation("CAN", "P14-PYL pylon-can", "lost", frames_in=0)
    other = InverterLinkObservation("CAN", "P14-PYL pylon-can", "lost", frames_in=40, keepalives=0)
    ok = InverterLinkObservation("RS485", "P02-SCH schneider-rs485", "ok", frames_in=40, keepalives=40)
    assert [f.code for f in diagnose(Observation(t_s=0.0, inverter_links=(silent, ok)))] == ["no_keepalive"]
    assert [f.code for f in diagnose(Observation(t_s=0.0, inverter_links=(other, ok)))] == ["wrong_protocol"]
    junk = InverterLinkObservation("RS485", "P02-SCH schneider-rs485", "lost", bad_frames=3, understood=0)
    other_id = InverterLinkObservation("RS485", "P02-SCH schneider-rs485", "lost", frames_in=9, understood=9)
    assert [f.code for f in diagnose(Observation(t_s=0.0, inverter_links=(junk,)))] == ["wrong_protocol"]
    assert [f.code for f in diagnose(Observation(t_s=0.0, inverter_links=(other_id,)))] == ["inverter_address"]


def test_system_faults_of_the_bank_link_are_id_errors() -> None:
    faults = (
        SystemFault(SystemFaultKind.WIRING, "two modules have ID 1", t_s=3.0),
        SystemFault(SystemFaultKind.LINK_LOST, "OSError: gone", link="CAN pylon-can", t_s=4.0),
        SystemFault(SystemFaultKind.LINK_BAD_FRAME, "noise", link="RS485"),
    )
    found = diagnose(Observation(t_s=10.0, faults=faults))
    assert sorted(f.code for f in found) == ["id_error", "port_lost"]


def test_a_charger_holding_a_low_voltage_while_the_current_tapers_is_12_2_4() -> None:
    def trace(volts: float, cvl: float) -> tuple[TracePoint, ...]:
        return tuple(TracePoint(300.0 * i, volts, 2.5 * math.exp(-i / 10), 70.0, cvl, 150.0, True) for i in range(13))

    (f,) = diagnose(Observation(t_s=3600.0, trace=trace(53.0, 55.2)))
    assert f.code == "charge_voltage_low"
    assert "Regulating DC output voltage" in f.manual.solution
    assert diagnose(Observation(t_s=3600.0, trace=trace(55.2, 55.2))) == ()  # at the battery's own CVL: its taper


def test_not_full_counts_from_the_last_full_charge() -> None:
    m = ModuleObservation(0, 1, state="standby", last_full_charge_s=0.0)
    assert diagnose(Observation(t_s=29 * 86400.0, modules=(m,))) == ()
    (f,) = diagnose(Observation(t_s=31 * 86400.0, modules=(m,)))
    assert (f.code, f.module_id) == ("not_full", 1)


def test_every_can_protocols_own_inverter_is_recognised_so_a_healthy_link_is_never_the_wrong_protocol() -> None:
    for entry in entries():
        if entry.transport is not Transport.CAN:
            continue
        codec = create(entry)
        assert isinstance(codec, CanCodec)
        frames = list(codec.inverter_cycle(BatteryView()))
        assert any(codec.is_inverter_alive(f) for f in frames), entry.name
