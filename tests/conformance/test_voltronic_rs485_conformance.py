"""RS485:P04 Voltronic, played as the document's inverter ("Voltronic Inverter and BMS 485 communication
protocol", 2020-03-25): read commands to the common ID 0x01 and to the pack's own ID, the normal response with its
length in registers (3.2), the three error codes (3.3), a request that dribbles in byte by byte and two requests
sent back to back, against ``ml314 run`` over TCP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ml314.protocols import modbus_rtu as mb
from ml314.protocols import voltronic_rs485 as v

from .conftest import Battery, running

MODULES = 3


@pytest.fixture(scope="module")
def battery(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Battery]:
    with running("RS485:P04", tmp_path_factory.mktemp("p04"), modules=MODULES) as b:
        yield b


def _words(answer: bytes) -> list[int]:
    body = mb.check_crc(answer)
    length = int.from_bytes(body[2:4], "big")
    assert len(body) == 4 + 2 * length, "data length x 2 bytes of data follow"
    return [int.from_bytes(body[4 + 2 * i : 6 + 2 * i], "big") for i in range(length)]


def test_the_inverters_poll_is_answered_with_the_length_in_registers(battery: Battery) -> None:
    with battery.inverter("voltronic-rs485") as inverter:
        words: list[int] = []
        while not words or words[0x0036 - 0x0030] != MODULES:  # until the bank link has found every pack
            summary = inverter.transact(mb.with_crc(bytes.fromhex("01 03 0030 0010")))
            assert summary[:4] == bytes.fromhex("01 03 0010")  # 16 registers, not 32 bytes
            words = _words(summary)
            assert 1 <= words[0x0036 - 0x0030] <= MODULES  # online packs
        assert 400 <= words[0x0032 - 0x0030] <= 600  # an LFP 16S pack in 0.1 V
        assert 0 <= words[0x0033 - 0x0030] <= 100
        limits = inverter.transact(mb.with_crc(bytes.fromhex("01 03 0070 0008")))
        assert limits[:4] == bytes.fromhex("01 03 0008")
        cvl, dvl, ccl, dcl, flags = _words(limits)[:5]
        assert cvl > dvl > 0 and ccl >= 0 and dcl >= 0
        assert flags & 0b11 == 0  # b1/b0 are not defined


def test_the_packs_own_id_answers_the_same_data(battery: Battery) -> None:
    with battery.inverter("voltronic-rs485") as inverter:
        common = inverter.transact(mb.with_crc(bytes.fromhex("01 03 0010 0001")))
        own = inverter.transact(mb.with_crc(bytes.fromhex("0F 03 0010 0001")))  # rotary position 0 = ID 0x0F
        assert common == mb.with_crc(bytes.fromhex("01 03 0001 0010"))  # 16 cells
        assert own == mb.with_crc(bytes.fromhex("0F 03 0001 0010"))


def test_error_codes(battery: Battery) -> None:
    read = mb.with_crc(bytes.fromhex("01 03 0030 0010"))
    with battery.inverter("voltronic-rs485") as inverter:
        assert inverter.transact(read[:-1] + bytes([read[-1] ^ 0xFF])) == mb.with_crc(bytes.fromhex("01 83 03"))
        assert inverter.transact(mb.with_crc(bytes.fromhex("01 06 0070 0238"))) == mb.with_crc(
            bytes.fromhex("01 86 02")
        )
        assert inverter.transact(mb.with_crc(bytes.fromhex("11 03 0030 0010"))) == mb.with_crc(
            bytes.fromhex("11 83 01")
        )
        # another pack's ID (inside 1..16) is that pack's to answer: the next frame answers the following read
        answer = inverter.assert_ignored(mb.with_crc(bytes.fromhex("05 03 0030 0010")), read)
        assert answer[:4] == bytes.fromhex("01 03 0010")


def test_a_request_dribbling_in_and_two_back_to_back(battery: Battery) -> None:
    first = mb.with_crc(bytes.fromhex("01 03 0033 0001"))
    second = mb.with_crc(bytes.fromhex("01 03 0036 0001"))
    with battery.inverter("voltronic-rs485") as inverter:
        soc = inverter.transact(first, byte_by_byte=True)
        assert soc[:4] == bytes.fromhex("01 03 0001")
        inverter.send(first + second)
        assert inverter.receive()[:4] == bytes.fromhex("01 03 0001")
        packs = _words(inverter.receive())
        assert len(packs) == 1 and 1 <= packs[0] <= MODULES


def test_the_traffic_log_holds_each_exchange(battery: Battery) -> None:
    with battery.inverter("voltronic-rs485") as inverter:
        inverter.transact(mb.with_crc(bytes.fromhex("01 03 0074 0001")))
    lines = battery.log.read_text().splitlines()
    assert any(line.endswith(" rx 010300740001" + mb.with_crc(bytes.fromhex("01 03 0074 0001"))[-2:].hex().upper())
               for line in lines)  # fmt: skip
    assert v.INFO.baud == 9600
