"""Modbus RTU frames: CRC vectors, builders and parsers, buffer splitting, fuzzing."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymodbus.framer.rtu import FramerRTU

from ml314.errors import FrameError
from ml314.protocols import modbus_rtu as mb


def test_crc_known_vectors() -> None:
    assert mb.with_crc(bytes.fromhex("010300000001"))[-2:] == bytes.fromhex("840A")
    assert mb.crc16(b"123456789") == 0x4B37  # CRC-16/MODBUS check value
    # the textbook exception response "illegal data address" to a read of slave 1
    assert mb.build_exception(1, 0x03, 2) == bytes.fromhex("018302C0F1")


@given(st.binary(max_size=300))
def test_crc_matches_pymodbus(data: bytes) -> None:
    assert mb.crc16(data).to_bytes(2, "little") == FramerRTU.compute_CRC(data).to_bytes(2, "big")


def test_check_crc() -> None:
    frame = mb.build_read_request(1, 0, 1)
    assert mb.check_crc(frame) == frame[:-2]
    with pytest.raises(FrameError, match="CRC"):
        mb.check_crc(frame[:-1] + bytes([frame[-1] ^ 1]))
    with pytest.raises(FrameError, match="too short"):
        mb.check_crc(b"\x01\x03\x00")


def test_growatt_handshake_example() -> None:
    # reference/protocols.md section 3: "01 10 00 13 00 01 02 0C 00 CRC"
    frame = mb.build_write_request(1, 0x0013, [0x0C00])
    assert frame[:-2] == bytes.fromhex("01 10 00 13 00 01 02 0C 00")
    assert mb.parse_request(frame) == mb.WriteRequest(1, 0x0013, (0x0C00,))
    assert mb.build_write_response(1, 0x0013, 1)[:-2] == bytes.fromhex("01 10 00 13 00 01")


def test_round_trips() -> None:
    assert mb.parse_request(mb.build_read_request(7, 0x0010, 26)) == mb.ReadRequest(7, 0x0010, 26)
    assert mb.parse_response(mb.build_read_response(7, [1, 0xFFFF])) == mb.ReadResponse(7, (1, 0xFFFF))
    assert mb.parse_response(mb.build_write_response(7, 5, 2)) == mb.WriteResponse(7, 5, 2)
    assert mb.parse_response(mb.build_exception(7, 0x10, 2)) == mb.ExceptionResponse(7, 0x10, 2)
    assert mb.parse_request(mb.with_crc(bytes.fromhex("01 04 00 00 00 01"))) == mb.OtherRequest(
        1, 4, bytes.fromhex("00 00 00 01")
    )


def test_builders_refuse_what_does_not_fit() -> None:
    with pytest.raises(FrameError):
        mb.build_read_request(1, 0, 126)
    with pytest.raises(FrameError):
        mb.build_read_request(1, 0x10000, 1)
    with pytest.raises(FrameError):
        mb.build_write_request(1, 0, [0x10000])
    with pytest.raises(FrameError):
        mb.build_read_response(256, [1])


def test_parse_frame_tells_directions_apart() -> None:
    assert isinstance(mb.parse_frame(mb.build_read_request(1, 0, 4)), mb.ReadRequest)
    assert isinstance(mb.parse_frame(mb.build_read_response(1, [0, 0])), mb.ReadResponse)
    assert isinstance(mb.parse_frame(mb.build_write_request(1, 0, [3])), mb.WriteRequest)
    assert isinstance(mb.parse_frame(mb.build_write_response(1, 0, 1)), mb.WriteResponse)
    assert isinstance(mb.parse_frame(mb.build_exception(1, 3, 1)), mb.ExceptionResponse)


def test_parse_rejects_inconsistent_lengths() -> None:
    with pytest.raises(FrameError, match="byte count"):
        mb.parse_response(mb.with_crc(bytes.fromhex("01 03 04 00 01")))
    with pytest.raises(FrameError, match="twice"):
        mb.parse_request(mb.with_crc(bytes.fromhex("01 10 00 00 00 02 02 00 01")))
    with pytest.raises(FrameError, match="8 bytes"):
        mb.parse_request(mb.with_crc(bytes.fromhex("01 03 00 00 00")))


def test_take_request_skips_garbage_and_waits_for_the_rest() -> None:
    a = mb.build_read_request(1, 0x0010, 26)
    b = mb.build_write_request(1, 0x0013, [0x0C00])
    buf = bytearray(b"\xff\x00\x42" + a + b[:5])
    assert mb.take_request(buf) == a
    assert mb.take_request(buf) is None
    assert bytes(buf) == b[:5]  # kept: it may still become a frame
    buf += b[5:]
    assert mb.take_request(buf) == b
    assert buf == bytearray()


def test_take_request_skips_a_frame_with_a_bad_crc() -> None:
    good = mb.build_read_request(1, 0, 1)
    bad = bytearray(good)
    bad[-1] ^= 0xFF
    buf = bytearray(bytes(bad) + good)
    assert mb.take_request(buf) == good


def test_take_response_handles_every_kind() -> None:
    frames = [mb.build_read_response(1, [1, 2, 3]), mb.build_write_response(1, 0x13, 1), mb.build_exception(1, 3, 2)]
    buf = bytearray(b"".join(frames))
    assert [mb.take_response(buf) for _ in frames] == frames
    assert mb.take_response(buf) is None


@given(st.binary(max_size=64))
def test_fuzz_parsers(data: bytes) -> None:
    for parse in (mb.parse_request, mb.parse_response, mb.parse_frame):
        with contextlib.suppress(FrameError):
            parse(data)


@given(st.binary(max_size=120), st.booleans())
def test_fuzz_take(data: bytes, response: bool) -> None:
    buf = bytearray(data)
    while (frame := (mb.take_response(buf) if response else mb.take_request(buf))) is not None:
        assert mb.crc16(frame[:-2]) == int.from_bytes(frame[-2:], "little")
    assert len(buf) <= len(data)


@given(st.integers(0, 247), st.integers(0, 0xFFFF - 124), st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=123))
def test_fuzz_round_trip(address: int, start: int, values: list[int]) -> None:
    req = mb.build_write_request(address, start, values)
    assert mb.parse_request(req) == mb.WriteRequest(address, start, tuple(values))
    buf = bytearray(req)
    assert mb.take_request(buf) == req
    resp = mb.build_read_response(address, values)
    assert mb.parse_response(resp) == mb.ReadResponse(address, tuple(values))
