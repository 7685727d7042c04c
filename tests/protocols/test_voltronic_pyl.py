"""Voltronic/Axpert "PYL" mode: Pylon RS485 V2.8 with VER 0x28 (reference/protocols.md 1.8)."""

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
    frames = [pa.parse(r) for r in requests]
    assert all((f.ver, f.adr, f.cid1) == (0x28, 0x02, 0x46) for f in frames)
    assert [f.cid2 for f in frames] == [0x4F, 0x42, 0x92]


def test_protocol_version_answer_carries_ver_28_like_diybms() -> None:
    assert CODEC.respond(b"~2802464F0000FD90\r", worked_example(1)) == b"~280246000000FDAA\r"
    assert CODEC.describe(b"~280246000000FDAA\r")[1]["version"] == "2.8"


def test_answers_are_the_pylon_layout_with_ver_28() -> None:
    status = worked_example(1)
    request = b"~20024642E00202FD33\r"
    v28 = pa.parse(CODEC.respond(request, status) or b"")
    v33 = pa.parse(pylon_rs485.Codec().respond(request, status) or b"")
    assert v28.ver == 0x28 and v33.ver == 0x20
    assert replace(v28, ver=0x20) == v33


def test_management_answer_bytes() -> None:
    assert CODEC.respond(b"~28024692E00202FD26\r", worked_example(1)) == b"~28024600B01402DDE0BB8005DCF830C0F908\r"


@pytest.mark.parametrize("n", [1, 16])
def test_one_poll_cycle_carries_the_bank_without_alarms(n: int) -> None:
    status = worked_example(n)
    view = _cycle(status)
    assert "alarms" not in CODEC.carries and "protections" not in CODEC.carries
    for name in CODEC.carries:
        want = getattr(status.limits if name in {"cvl_v", "dvl_v", "ccl_a", "dcl_a"} else status, name)
        got = getattr(view, name)
        assert got == (pytest.approx(want) if isinstance(want, float) else want), name
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
