"""A protection tripped in the twin reaches the inverter as the bit its RS485 protocol defines.

The twin is driven into the protection physically (its cells at -6 degC or at 62 degC, as the cold-morning
scenario does), the BMS trips its protection rows, the status is built as ``ml314 run`` builds it, and the bytes
each RS485 codec sends to its inverter's poll are read bit by bit.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from ml314.bms.parameters import load_default_parameters
from ml314.domain.battery_status import AlarmKind, BankStatus
from ml314.protocols import modbus_rtu as mb
from ml314.protocols import pylon_ascii
from ml314.protocols.base import Rs485Codec
from ml314.protocols.registry import create, resolve
from ml314.system.compiled_system import CompiledBankSystem
from ml314.system.status import StatusBuilder
from ml314.twin import kernel as k
from ml314.twin.bank import Bank
from ml314.twin.params import load_cell_parameters


def _tripped(temperature_c: float, *requests_a: float) -> BankStatus:
    """The bank after 30 s at each of ``requests_a`` (a charger or load that ignores the limits) at that heat."""
    bank = Bank(1, load_cell_parameters(), seed=3, initial_soc=0.5, ambient_c=temperature_c)
    bank.cell_state[k.CS_TEMP_C] = temperature_c
    bank.mod_state[[k.MS_ENCLOSURE_C, k.MS_BOARD_C, k.MS_MOSFET_C]] = temperature_c
    system = CompiledBankSystem(bank, load_default_parameters(), seed=3)
    inputs = np.zeros((k.IN_ROWS, 1))
    inputs[k.IN_AMBIENT_C, 0] = temperature_c
    for request in requests_a or (0.0,):
        inputs[k.IN_REQUEST, 0] = request
        for _ in range(30):  # debounce and delay of the temperature rows are a few seconds
            system.advance(1, k.MODE_CURRENT, inputs, obey_limits=False)
    return StatusBuilder(system).build()


@pytest.fixture(scope="module")
def cold() -> BankStatus:
    status = _tripped(-6.0, 50.0)  # the temperature rows watch only while current flows that way
    assert AlarmKind.CHARGE_UNDERTEMPERATURE in status.protections
    return status


@pytest.fixture(scope="module")
def hot() -> BankStatus:
    status = _tripped(62.0, 50.0, -50.0)
    assert {AlarmKind.CHARGE_OVERTEMPERATURE, AlarmKind.DISCHARGE_OVERTEMPERATURE} <= status.protections
    return status


def _answers(name: str, status: BankStatus) -> dict[bytes, bytes]:
    codec = create(resolve(name))
    assert isinstance(codec, Rs485Codec)
    answers = {}
    for request in codec.inverter_requests():
        answer = codec.respond(request, status)
        assert answer is not None
        answers[request] = answer
    return answers


def _voltronic_word(status: BankStatus, address: int) -> int:
    answer = next(iter(_answers("voltronic-rs485", status).values()))  # the 0x0030 x 16 read
    data = answer[4:-2]
    return int.from_bytes(data[2 * (address - 0x0030) : 2 * (address - 0x0030) + 2], "big")


def _growatt_word(status: BankStatus, address: int) -> int:
    read = list(_answers("growatt-modbus", status).values())[1]  # after the handshake: 0x0010 x 26
    response = mb.parse_response(read)
    assert isinstance(response, mb.ReadResponse)
    return response.values[address - 0x0010]


def _pylon_status1(status: BankStatus) -> int:
    answers = list(_answers("pylon-rs485", status).values())
    info = pylon_ascii.parse(answers[2]).info  # 0x44 for every pack: FLAG, M, cells, temps, 3 states, Status1..5
    cells = info[2]
    temps = info[3 + cells]
    return info[3 + cells + 1 + temps + 3]


def _pyl_flags(status: BankStatus) -> int:
    return pylon_ascii.parse(list(_answers("voltronic-pyl", status).values())[2]).info[-1]


Check = Callable[[BankStatus], bool]
COLD: list[tuple[str, Check]] = [
    ("voltronic-rs485 0x0039 b9 CLT", lambda s: bool(_voltronic_word(s, 0x0039) >> 9 & 1)),
    ("growatt-modbus 0x0014 b7 UTC", lambda s: bool(_growatt_word(s, 0x0014) >> 7 & 1)),
    ("voltronic-pyl 0x92 b7 charge enable cleared", lambda s: not _pyl_flags(s) >> 7 & 1),
]
HOT: list[tuple[str, Check]] = [
    ("voltronic-rs485 0x0039 b8 CHT", lambda s: bool(_voltronic_word(s, 0x0039) >> 8 & 1)),
    ("voltronic-rs485 0x003B b14 DHT", lambda s: bool(_voltronic_word(s, 0x003B) >> 14 & 1)),
    ("growatt-modbus 0x0014 b5 OTC", lambda s: bool(_growatt_word(s, 0x0014) >> 5 & 1)),
    ("growatt-modbus 0x0014 b4 OTD", lambda s: bool(_growatt_word(s, 0x0014) >> 4 & 1)),
    ("pylon-rs485 0x44 Status1 b6 charge over-temperature", lambda s: bool(_pylon_status1(s) >> 6 & 1)),
    ("pylon-rs485 0x44 Status1 b5 discharge over-temperature", lambda s: bool(_pylon_status1(s) >> 5 & 1)),
    ("voltronic-pyl 0x92 b7/b6 both enables cleared", lambda s: _pyl_flags(s) & 0xC0 == 0),
]


@pytest.mark.parametrize(("bit", "check"), COLD, ids=[b for b, _ in COLD])
def test_a_cold_pack_trips_charge_under_temperature_on_the_wire(cold: BankStatus, bit: str, check: Check) -> None:
    assert check(cold), bit


@pytest.mark.parametrize(("bit", "check"), HOT, ids=[b for b, _ in HOT])
def test_a_hot_pack_trips_the_over_temperature_bits_on_the_wire(hot: BankStatus, bit: str, check: Check) -> None:
    assert check(hot), bit


def test_a_healthy_pack_sets_none_of_them() -> None:
    status = _tripped(25.0, 50.0, -50.0)
    assert not status.protections
    checks = [c for _, c in COLD[:2] + HOT[:-1]]
    assert not any(c(status) for c in checks)
    assert _pyl_flags(status) & 0xC0 == 0xC0
