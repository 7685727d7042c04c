"""Pylon LV RS485, played as its inverters: V3.3 (pylon-rs485, as a Pylon-mode inverter polls 0x4F, 0x42/0x44 for
every pack and 0x92) and V2.8 as an Axpert in "PYL" mode polls it (voltronic-pyl; diyBMS ``pylon_rs485.cpp``:
0x4F, 0x42, 0x92 at ADR 02 with VER 28), with the RTN answers of the specification's error table, against
``ml314 run`` over TCP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ml314.protocols import pylon_ascii as pa
from ml314.protocols.pylon_ascii import PylonFrame

from .conftest import Battery, Inverter, running

MODULES = 3


@pytest.fixture(scope="module")
def v33(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Battery]:
    with running("pylon-rs485", tmp_path_factory.mktemp("v33"), modules=MODULES) as b:
        yield b


@pytest.fixture(scope="module")
def v28(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Battery]:
    with running("voltronic-pyl", tmp_path_factory.mktemp("v28"), modules=MODULES) as b:
        yield b


def _req(ver: int, adr: int, cid2: int, info: str = "") -> bytes:
    return pa.build(PylonFrame(ver, adr, 0x46, cid2, bytes.fromhex(info)))


def _every_pack(inverter: Inverter, request: bytes) -> PylonFrame:
    """The 0x42 answer once the bank link has found every pack (polled until then, as an inverter does)."""
    while True:
        analog = pa.parse(inverter.transact(request))
        assert analog.rtn == 0 and 1 <= analog.info[1] <= MODULES
        if analog.info[1] == MODULES:
            return analog


def _granted(inverter: Inverter, request: bytes) -> PylonFrame:
    """The 0x92 answer once the BMS grants a discharge current (it starts at 0 while the bank comes up)."""
    while True:
        management = pa.parse(inverter.transact(request))
        assert management.rtn == 0
        if int.from_bytes(management.info[7:9], "big"):
            return management


def test_v33_poll_and_error_answers(v33: Battery) -> None:
    with v33.inverter("pylon-rs485") as inverter:
        assert pa.parse(inverter.transact(_req(0x20, 2, 0x4F))).rtn == 0
        _every_pack(inverter, _req(0x20, 2, 0x42, "FF"))
        analog = pa.parse(inverter.transact(_req(0x20, 2, 0x42, "FF"), byte_by_byte=True))
        assert analog.rtn == 0 and analog.info[1] == MODULES
        alarm = pa.parse(inverter.transact(_req(0x20, 2, 0x44, "FF")))
        assert alarm.rtn == 0 and alarm.info[1] == MODULES
        management = _granted(inverter, _req(0x20, 2, 0x92, "02"))
        assert int.from_bytes(management.info[7:9], "big", signed=True) < 0  # DCL sent negative, as US5000 do
        bad = bytearray(_req(0x20, 2, 0x92, "02"))
        bad[-3] = ord("0") if bad[-3] != ord("0") else ord("1")  # CHKSUM wrong
        assert pa.parse(inverter.transact(bytes(bad))).rtn == 0x02
        assert pa.parse(inverter.transact(_req(0x20, 2, 0x99))).rtn == 0x04  # CID2 invalid
        assert pa.parse(inverter.transact(_req(0x20, 3, 0x42, "FF"))).rtn == 0x06  # 0xFF only at the master
        # an address without a module is silent; the next frame answers the master's
        answer = inverter.assert_ignored(_req(0x20, 2 + MODULES, 0x4F), _req(0x20, 2, 0x4F))
        assert pa.parse(answer).adr == 2


def test_v28_as_an_axpert_polls_it(v28: Battery) -> None:
    with v28.inverter("voltronic-pyl") as inverter:
        assert inverter.transact(b"~2802464F0000FD90\r") == b"~280246000000FDAA\r"  # diyBMS' answer, byte for byte
        analog = _every_pack(inverter, b"~28024642E002FFFD01\r")
        assert analog.ver == 0x28
        cells, temps = analog.info[2], analog.info[3 + 2 * 16]
        tail = analog.info[2 + 1 + 2 * cells + 1 + 2 * temps + 4 :][:7]  # after current and voltage
        assert tail[2] == 0x02  # user-defined count 02, as V2.8 senders send it
        remaining, full = int.from_bytes(tail[:2], "big"), int.from_bytes(tail[3:5], "big")
        assert full == 0xFFFF and 0 < remaining <= full
        management = _granted(inverter, b"~28024692E00202FD26\r")
        dcl = int.from_bytes(management.info[7:9], "big", signed=True)
        assert management.ver == 0x28 and dcl > 0  # positive, as diyBMS and ai-republic send it
