"""The PC's side of Pylon LV RS485 against the battery's: every pack of a 16-module stack asked at its own address
reads back what the battery encoded (the worked example of reference/protocols.md), one rule for both sides."""

from __future__ import annotations

import pytest

from ml314.errors import FrameError
from ml314.protocols import pylon_ascii
from ml314.protocols import pylon_rs485_poll as poll
from ml314.protocols.examples import worked_example
from ml314.protocols.pylon_ascii import PylonFrame, Rtn
from ml314.protocols.pylon_rs485 import CID1, Cid2, Codec
from ml314.protocols.pylon_rs485_blocks import SYSTEM_PARAMETERS

BANK = worked_example(16)


def ask(adr: int, cid2: int) -> poll.PackReading | poll.PackRefusal:
    request = poll.request(adr, cid2)
    response = Codec().respond(request, BANK)
    assert response is not None, f"ADR {adr} did not answer 0x{cid2:02X}"
    return poll.read_answer(request, response)


@pytest.mark.parametrize("module", [1, 2, 9, 16])
def test_every_pack_reads_back_what_the_battery_sent(module: int) -> None:
    adr = poll.adr_of(module)
    reading = poll.PackReading(adr)
    for cid2 in (*poll.POLL, *poll.ONCE):
        answer = ask(adr, cid2)
        assert isinstance(answer, poll.PackReading)
        reading = reading.merge(answer)
    m = BANK.modules[module - 1]
    assert reading.analog is not None
    assert reading.analog.cells_v == m.cell_voltages_v
    assert reading.analog.temps_c == m.temperatures_c
    assert reading.analog.voltage_v == pytest.approx(m.voltage_v, abs=1e-3)
    assert reading.analog.current_a == pytest.approx(m.current_a, abs=0.1)
    assert reading.analog.remaining_ah == pytest.approx(m.remaining_capacity_ah, abs=1e-3)
    assert reading.analog.full_ah == pytest.approx(m.full_capacity_ah, abs=1e-3)
    assert reading.alarms == frozenset() and reading.protections == frozenset()
    assert reading.serial == m.serial
    assert reading.manufacturer == BANK.manufacturer
    assert reading.parameters is not None and set(reading.parameters) == {row[0] for row in SYSTEM_PARAMETERS}
    mgmt = reading.management
    assert mgmt is not None
    limits = BANK.limits if module == 1 else m.limits  # the master's 0x92 is the bank's
    assert (mgmt.cvl_v, mgmt.dvl_v) == pytest.approx((limits.cvl_v, limits.dvl_v), abs=1e-3)
    assert (mgmt.ccl_a, mgmt.dcl_a) == pytest.approx((limits.ccl_a, limits.dcl_a), abs=0.1)
    assert mgmt.charge_enable and mgmt.discharge_enable


def test_a_pack_protection_is_read_as_the_battery_set_it() -> None:
    from dataclasses import replace  # noqa: PLC0415

    from ml314.domain.battery_status import AlarmKind  # noqa: PLC0415

    m = replace(BANK.modules[2], protections=frozenset({AlarmKind.CELL_UNDERVOLTAGE}))
    bank = replace(BANK, modules=(*BANK.modules[:2], m, *BANK.modules[3:]))
    request = poll.request(poll.adr_of(3), Cid2.ALARM)
    response = Codec().respond(request, bank)
    assert response is not None
    reading = poll.read_answer(request, response)
    assert isinstance(reading, poll.PackReading)
    assert reading.protections == {AlarmKind.CELL_UNDERVOLTAGE}


def test_an_address_without_a_pack_stays_silent() -> None:
    assert Codec().respond(poll.request(poll.adr_of(17), Cid2.ANALOG), BANK) is None


def test_a_command_the_pack_does_not_serve_is_a_refusal_not_an_error() -> None:
    request = pylon_ascii.build(PylonFrame(0x20, 2, CID1, Cid2.TURN_OFF, bytes([2])))
    response = Codec().respond(request, BANK)
    assert response is not None
    refusal = poll.read_answer(request, response)
    assert isinstance(refusal, poll.PackRefusal)
    assert refusal.rtn == Rtn.CID2_INVALID
    assert "turn off refused" in str(refusal)


def test_an_answer_from_another_pack_is_a_frame_error() -> None:
    response = Codec().respond(poll.request(3, Cid2.ANALOG), BANK)
    assert response is not None
    with pytest.raises(FrameError, match="ADR 2 was asked"):
        poll.read_answer(poll.request(2, Cid2.ANALOG), response)
