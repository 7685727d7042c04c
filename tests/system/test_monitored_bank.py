"""A battery read over its wire becomes the project's snapshots: packs -> modules -> the bank (one aggregation
rule), the master's own limits win, a silent pack leaves the bank, CAN gives the bank and a module count."""

from __future__ import annotations

import math

import pytest

from ml314.domain.battery_status import AlarmKind, BatteryView
from ml314.protocols import pylon_rs485_poll as poll
from ml314.protocols.examples import worked_example
from ml314.protocols.pylon_rs485 import Codec
from ml314.system.monitored_bank import (
    OFFLINE,
    bank_from_view,
    bank_of_packs,
    led_mode_of,
    module_of_pack,
    state_of,
)

BANK = worked_example(4)


def readings() -> list[poll.PackReading]:
    out = []
    for module in range(1, 5):
        adr = poll.adr_of(module)
        reading = poll.PackReading(adr)
        for cid2 in poll.POLL:
            request = poll.request(adr, cid2)
            response = Codec().respond(request, BANK)
            assert response is not None
            answer = poll.read_answer(request, response)
            assert isinstance(answer, poll.PackReading)
            reading = reading.merge(answer)
        out.append(reading)
    return out


def test_the_packs_make_the_bank_the_battery_presents() -> None:
    packs = readings()
    modules = [module_of_pack(r) for r in packs]
    assert all(m is not None for m in modules)
    ms = [m for m in modules if m is not None]
    assert [m.address for m in ms] == [1, 2, 3, 4]
    assert ms[0].soc_pct == pytest.approx(50.0, abs=0.01)
    assert ms[0].state == "discharge"  # -12.3 A
    assert math.isnan(ms[0].soh_pct)  # not on the wire
    bank = bank_of_packs(ms, [True] * 4, 1.0, packs[0].management)
    assert bank is not None
    assert bank.module_count == 4
    assert bank.voltage_v == pytest.approx(BANK.voltage_v, abs=1e-3)
    assert bank.current_a == pytest.approx(BANK.current_a, abs=0.1)
    assert bank.soc_pct == pytest.approx(BANK.soc_pct, abs=0.01)
    assert bank.limits.ccl_a == pytest.approx(BANK.limits.ccl_a, abs=0.1)  # the master's 0x92, not recomputed
    assert bank.cell_voltage_max_v == max(BANK.modules[0].cell_voltages_v)


def test_a_silent_pack_leaves_the_bank_and_none_left_keeps_the_last_values() -> None:
    ms = [m for m in (module_of_pack(r) for r in readings()) if m is not None]
    bank = bank_of_packs(ms, [True, True, False, True], 1.0, None)
    assert bank is not None and [m.address for m in bank.modules] == [1, 2, 4]
    none = bank_of_packs(ms, [False] * 4, 1.0, None)
    assert none is not None and none.module_count == 0 and none.voltage_v == pytest.approx(52.8)
    assert bank_of_packs([], [], 1.0, None) is None


def test_no_analog_values_no_module() -> None:
    assert module_of_pack(poll.PackReading(2)) is None


@pytest.mark.parametrize(
    ("current_a", "protections", "online", "state"),
    [
        (5.0, frozenset(), True, "charge"),
        (-5.0, frozenset(), True, "discharge"),
        (0.1, frozenset(), True, "standby"),
        (5.0, frozenset({AlarmKind.CHARGE_OVERCURRENT}), True, "protection"),
        (5.0, frozenset(), False, OFFLINE),
    ],
)
def test_the_state_is_read_off_what_the_module_reports(
    current_a: float, protections: frozenset[AlarmKind], online: bool, state: str
) -> None:
    assert state_of(current_a, protections, online) == state
    assert led_mode_of(state, bool(protections)) is not None


def test_can_gives_the_bank_and_its_module_count() -> None:
    assert bank_from_view(BatteryView(voltage_v=52.0), 0.0) is None  # no SOC yet
    view = BatteryView(voltage_v=52.5, current_a=-30.0, soc_pct=61.0, cvl_v=55.2, ccl_a=100.0, dcl_a=150.0,
                       module_count=16)  # fmt: skip
    bank = bank_from_view(view, 3.0)
    assert bank is not None
    assert (bank.voltage_v, bank.soc_pct, bank.module_count) == (52.5, 61.0, 16)
    assert bank.limits.ccl_a == 100.0
    assert all(m.voltage_v == 52.5 and math.isnan(m.soc_pct) and m.cell_voltages_v == () for m in bank.modules)
