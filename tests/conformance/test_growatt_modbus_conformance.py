"""RS485:P01 Growatt, played as its inverter per "RS485 protocol 1xSxxP ESS" (V2.01/V2.02) and the Modbus
application protocol V1.1b3: the handshake write, the status read, the four V2.02 slices helianthus-modbusreg
reads, every exception a Modbus server owes (01, 02, 03), another slave's silence, and the device identification
(0x11, 0x2B/0x0E), against ``ml314 run`` over TCP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ml314 import __version__
from ml314.protocols import growatt_modbus as g
from ml314.protocols import modbus_rtu as mb

from .conftest import Battery, running

MODULES = 4


@pytest.fixture(scope="module")
def battery(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Battery]:
    with running("RS485:P01", tmp_path_factory.mktemp("p01"), modules=MODULES) as b:
        yield b


def _values(answer: bytes) -> tuple[int, ...]:
    response = mb.parse_response(answer)
    assert isinstance(response, mb.ReadResponse), response
    return response.values


def test_handshake_then_the_status_read(battery: Battery) -> None:
    with battery.inverter("growatt-modbus") as inverter:
        handshake = mb.with_crc(bytes.fromhex("01 10 0013 0001 02 0C00"))
        assert inverter.transact(handshake) == mb.with_crc(bytes.fromhex("01 10 0013 0001"))
        regs: dict[int, int] = {}
        while regs.get(0x001B) != 0xFFFF:  # polled until the bank link has found the 4 modules (1256 Ah)
            words = _values(inverter.transact(mb.build_read_request(1, 0x0010, 26)))
            regs = {0x0010 + i: w for i, w in enumerate(words)}
        assert regs[0x0013] >> 8 & 0b11 == 0b01  # parallel boxes
        assert regs[0x0029] == 16
        soc, remaining, full = regs[0x0015], regs[0x001A], regs[0x001B]
        assert full == 0xFFFF  # 4 x 314 Ah: scaled into the u16 10 mAh field
        assert 100 * remaining / full == pytest.approx(soc, abs=1.0)  # what an inverter derives matches 0x0015


def test_the_v202_slices(battery: Battery) -> None:
    with battery.inverter("growatt-modbus") as inverter:
        for start, count in g.V202_READS:
            assert len(_values(inverter.transact(mb.build_read_request(1, start, count)))) == count


@pytest.mark.parametrize(
    ("request_hex", "answer_hex"),
    [
        ("01 55", "01 D5 01"),  # unknown function: illegal function
        ("01 04 0010 0001", "01 84 01"),  # input registers are not this protocol's
        ("01 03 0010 0000", "01 83 03"),  # quantity 0: illegal data value
        ("01 03 0010 007E", "01 83 03"),  # quantity 126
        ("01 03 0000 0001", "01 83 02"),  # an address the map does not have: illegal data address
        ("01 10 0000 0001 02 0000", "01 90 02"),
    ],
)
def test_exceptions(battery: Battery, request_hex: str, answer_hex: str) -> None:
    with battery.inverter("growatt-modbus") as inverter:
        assert inverter.transact(mb.with_crc(bytes.fromhex(request_hex))) == mb.with_crc(bytes.fromhex(answer_hex))


def test_other_slaves_and_a_bad_crc_get_silence(battery: Battery) -> None:
    read = mb.build_read_request(1, 0x0015, 1)
    with battery.inverter("growatt-modbus") as inverter:
        for ignored in (mb.build_read_request(2, 0x0015, 1), read[:-1] + bytes([read[-1] ^ 0xFF])):
            assert len(_values(inverter.assert_ignored(ignored, read))) == 1


def test_device_identification_names_the_product(battery: Battery) -> None:
    with battery.inverter("growatt-modbus") as inverter:
        inverter.send(mb.with_crc(bytes.fromhex("01 11")))
        report = inverter.receive()
        assert report[1] == 0x11 and b"ML314-51.2-W08" in report and __version__.encode() in report
        assert b"Pymodbus" not in report
        inverter.send(mb.with_crc(bytes.fromhex("01 2B 0E 01 00")))
        while True:  # 0x2B answers are framed by their CRC (no length field): read until one checks
            try:
                ident = mb.check_crc(bytes(inverter.buf))
                break
            except Exception:
                inverter.buf += inverter.sock.recv(4096)
        assert ident[:5] == bytes.fromhex("01 2B 0E 01 82")
        assert b"ML314" in ident and b"ML314-51.2-W08" in ident and __version__.encode() in ident
