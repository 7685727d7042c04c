"""Voltronic/Axpert "PYL" mode: Pylon RS485 V2.8 with VER 0x28 (reference/protocols.md 1.8).

Golden vectors: the 0x4F exchange is diyBMS ``ESPController/src/pylon_rs485.cpp`` (stuartpittaway/diyBMSv4ESP32),
whose fixed answer ``~28024600 0000`` is sent for any 0x4F at ADR 02; its 0x42 template (``11 02 10 <16 cells> ...
FFFF 02 FFFF 0002``) gives the V2.8 layout of the capacity tail. The 0x42 and 0x92 answers below are derived byte
by byte from the worked example (``protocols/examples.py``) in the comments, and the frame checksums by
:func:`_chksum`, written here from the specification's rule (not the codec's) so the vector is checked twice.
Requests are the ones an Axpert sends per diyBMS (VER 28, ADR 02, CID1 46); their CHKSUMs likewise.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml314.domain.battery_status import AlarmKind, BankStatus, BatteryView
from ml314.errors import FrameError
from ml314.protocols import pylon_ascii as pa
from ml314.protocols import pylon_rs485, voltronic_pyl
from ml314.protocols.examples import with_modules, worked_example
from ml314.protocols.pylon_ascii import PylonFrame
from ml314.protocols.registry import create, resolve

CODEC = voltronic_pyl.Codec()


def _chksum(body: str) -> str:
    """Pylon CHKSUM: the ASCII codes after SOI summed modulo 65536, inverted, plus one (V2.8/V3.3 section 2)."""
    return f"{(~sum(body.encode()) + 1) & 0xFFFF:04X}"


def _frame(body: str) -> bytes:
    body = body.replace(" ", "")
    return f"~{body}{_chksum(body)}\r".encode()


def _cycle(status: BankStatus) -> BatteryView:
    view = BatteryView()
    for request in CODEC.inverter_requests():
        response = CODEC.respond(request, status)
        assert response is not None
        view = view.merge(CODEC.decode_response(request, response))
    return view


def test_info() -> None:
    info = voltronic_pyl.INFO
    assert (info.code, info.brand, info.name) == ("", "Voltronic (PYL mode)", "voltronic-pyl")
    assert info.document.startswith("Pylon LV RS485 V2.8 (2016-12-16)")
    assert "diyBMS pylon_rs485.cpp" in info.document
    assert info.baud == 9600


def test_registry_creates_the_v28_codec() -> None:
    codec = create(resolve("voltronic-pyl"))
    assert isinstance(codec, voltronic_pyl.Codec) and codec.ver == 0x28
    assert codec.info == voltronic_pyl.INFO


def test_inverter_polls_4f_42_92_with_ver_28_at_adr_02_and_never_44() -> None:
    requests = CODEC.inverter_requests()
    assert requests == (b"~2802464F0000FD90\r", b"~28024642E002FFFD01\r", b"~28024692E00202FD26\r")
    # LENID E002: 2 ASCII chars (COMMAND), LCHKSUM E = -(0+0+2) mod 16
    assert requests == (_frame("2802464F0000"), _frame("28024642E002FF"), _frame("28024692E00202"))
    frames = [pa.parse(r) for r in requests]
    assert all((f.ver, f.adr, f.cid1) == (0x28, 0x02, 0x46) for f in frames)
    assert [f.cid2 for f in frames] == [0x4F, 0x42, 0x92]


def test_protocol_version_answer_carries_ver_28_like_diybms() -> None:
    assert CODEC.respond(b"~2802464F0000FD90\r", worked_example(1)) == b"~280246000000FDAA\r"
    assert CODEC.describe(b"~280246000000FDAA\r")[1]["version"] == "2.8"


def test_analog_answer_bytes_have_user_defined_count_02() -> None:
    """Worked example, 1 module, COMMAND 0xFF: INFOFLAG 11, M 01, 16 cells 3300..3315 mV (0CE4..0CF3), 6 temps
    in 0.1 K (25.0 -> 0BA5, 24.0..24.3 -> 0B9B..0B9E, 26.0 -> 0BAF), current -12.3 A -> FF85, 52.800 V -> CE40,
    then V2.8's tail (diyBMS: remain, 02, total, cycles): 314 Ah does not fit 16-bit mAh, so total = FFFF
    (65.535 Ah) and remain = 157 / 314 x 65.535 Ah = 32.767 Ah -> 7FFF, count 02, cycles 42 -> 002A.
    LENID 3076: 0x076 = 118 ASCII chars, LCHKSUM 3 = -(0+7+6) mod 16."""
    cells = "".join(f"{3300 + i:04X}" for i in range(16))
    info = f"1101 10{cells} 06 0BA5 0B9B 0B9C 0B9D 0B9E 0BAF FF85 CE40 7FFF 02 FFFF 002A"
    answer = _frame("28024600 3076" + info)
    assert CODEC.respond(b"~28024642E002FFFD01\r", worked_example(1)) == answer
    v33 = pylon_rs485.Codec().respond(_frame("20024642E002FF"), worked_example(1)) or b""
    assert pa.parse(v33).info.endswith(bytes.fromhex("FFFF 04 FFFF 002A 026548 04CA90"))  # V3.x: count 04


def test_the_v28_tail_keeps_the_soc_an_inverter_derives() -> None:
    for soc, n in ((0.0, 1), (8.0, 4), (37.5, 16), (100.0, 16)):
        status = worked_example(n)
        modules = tuple(replace(m, remaining_capacity_ah=3.14 * soc) for m in status.modules)
        status = replace(with_modules(status, modules), remaining_capacity_ah=3.14 * soc * n, soc_pct=soc)
        view = _cycle(status)
        assert view.full_capacity_ah == pytest.approx(65.535 * n)
        assert view.soc_pct == pytest.approx(soc, abs=0.01)
        assert view.remaining_capacity_ah is not None and view.full_capacity_ah is not None
        assert 100 * view.remaining_capacity_ah / view.full_capacity_ah == pytest.approx(soc, abs=0.01)
        assert all(m.soc_pct == pytest.approx(soc, abs=0.01) for m in view.modules or ())


def test_management_answer_bytes() -> None:
    """COMMAND 02, CVL 56.800 V -> DDE0, DVL 48.000 V -> BB80, CCL 150.0 A -> 05DC, DCL 200.0 A -> 07D0 (positive:
    diyBMS and ai-republic send it so), status C0 (b7 charge, b6 discharge enabled). LENID B014: 20 chars."""
    answer = CODEC.respond(b"~28024692E00202FD26\r", worked_example(1))
    assert answer == _frame("28024600 B014 02 DDE0 BB80 05DC 07D0 C0") == b"~28024600B01402DDE0BB8005DC07D0C0F90E\r"
    v33 = pylon_rs485.Codec().respond(_frame("20024692E00202"), worked_example(1)) or b""
    assert pa.parse(v33).info == bytes.fromhex("02 DDE0 BB80 05DC F830 C0")  # V3.3: -200.0 A as US5000 send it


@pytest.mark.parametrize("n", [1, 16])
def test_one_poll_cycle_carries_the_bank_without_alarms(n: int) -> None:
    status = worked_example(n)
    view = _cycle(status)
    assert "alarms" not in CODEC.carries and "protections" not in CODEC.carries
    for name in CODEC.carries - {"remaining_capacity_ah", "full_capacity_ah"}:  # scaled: see the test above
        want = getattr(status.limits if name in {"cvl_v", "dvl_v", "ccl_a", "dcl_a"} else status, name)
        got = getattr(view, name)
        tolerance = 0.01 if name == "soc_pct" else None  # one count in 65535 of the scaled capacities
        assert got == (pytest.approx(want, abs=tolerance) if isinstance(want, float) else want), name
    assert view.alarms is None and view.protections is None


def test_a_stop_travels_in_the_management_bits() -> None:
    m = replace(worked_example(1).modules[0], protections=frozenset({AlarmKind.CELL_UNDERVOLTAGE}))
    status = replace(with_modules(worked_example(1), (m,)), discharge_enable=False)
    view = _cycle(status)
    assert (view.charge_enable, view.discharge_enable) == (True, False)
    limits = view.limits()
    assert limits is not None and limits.dcl_a == 0.0


@settings(max_examples=200)
@given(st.binary(max_size=80), st.integers(0, 255), st.integers(0, 255))
def test_fuzz_respond_decode_describe(info: bytes, adr: int, cid2: int) -> None:
    request = pa.build(PylonFrame(0x28, adr, 0x46, cid2, info))
    try:
        response = CODEC.respond(request, worked_example(2))
    except FrameError:
        return
    if response is not None:
        assert isinstance(CODEC.decode_response(request, response), BatteryView)
        assert CODEC.describe(response)[0]
    for frame in (request, info):
        with contextlib.suppress(FrameError):
            CODEC.describe(frame)
