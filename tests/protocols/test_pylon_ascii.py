"""The Pylon RS485 ASCII frame grammar against reference/protocols.md 1.2, byte for byte."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ml314.errors import FrameError
from ml314.protocols import pylon_ascii as pa
from ml314.protocols.pylon_ascii import FrameCheckError, PylonFrame, Rtn


def _chksum(chars: bytes) -> int:
    """The reference's formula, written out independently of the module."""
    return ((~sum(chars)) + 1) & 0xFFFF


# LCHKSUM table of the reference (verified there against real frames)
LENGTHS = [
    (0, 0x0000),
    (2, 0xE002),
    (4, 0xC004),
    (18, 0xD012),
    (20, 0xB014),
    (50, 0xB032),
    (64, 0xC040),
    (94, 0xD05E),
    (122, 0xF07A),
    (126, 0xB07E),
    (130, 0x6082),
    (136, 0x0088),
    (2020, 0x77E4),
]

# real and specification frames whose CHKSUM the reference verified
GOLDEN = [
    b"~20024642E00202FD33\r",
    b"~200246000000FDB2",
    b"~2002460060821102100CE40CE50CE60CE70CE80CE90CEA0CEB0CEC0CED0CEE0CEF0CF00CF10CF20CF3060BA50B9B0B9C0B9D0B9E0BAF"
    b"FF85CE40FFFF04FFFF002A02654804CA90DF80\r",
    b"~20024600B032110E420BEA0AF00D030A470384D2F0B3B0A9EC0D030A47FC7CF272",
    b"~20024600B01402D002AFC80000FCE040F93F",
    b"~2002460080441102100000000000000000000000000000000006000000000000000000000E400000F0BE\r",
    b"~2000464F0000FD9A",
    b"~200046510000FDAE",
    b"~20024642C0040201FCD2",
    b"~20024600C040555333303030430000000102" + b"50594C4F4E" + b"00" * 15 + b"F113",
]


@pytest.mark.parametrize(("lenid", "length"), LENGTHS)
def test_length_field_matches_the_reference_table(lenid: int, length: int) -> None:
    assert pa.length_field(lenid) == length
    assert pa.lchksum(lenid) == length >> 12


def test_length_136_masks_lchksum_to_four_bits() -> None:
    assert f"{pa.length_field(136):04X}" == "0088"


def test_length_beyond_lenid_is_a_frame_error() -> None:
    with pytest.raises(FrameError):
        pa.length_field(4096)


def test_chksum_of_the_spec_request() -> None:
    assert sum(b"20024642E00202") == 0x02CD
    assert pa.chksum(b"20024642E00202") == 0xFD33


@pytest.mark.parametrize("frame", GOLDEN)
def test_golden_frames_parse_and_rebuild_byte_for_byte(frame: bytes) -> None:
    parsed = pa.parse(frame)
    body = frame.rstrip(b"\r")
    assert _chksum(body[1:-4]) == int(body[-4:], 16)
    assert pa.build(parsed) == body + b"\r"
    assert len(parsed.info) * 2 == int(body[9:13], 16) & 0xFFF


def test_parse_fields_of_the_spec_request() -> None:
    f = pa.parse(b"~20024642E00202FD33\r")
    assert f == PylonFrame(ver=0x20, adr=0x02, cid1=0x46, cid2=0x42, info=b"\x02")


def test_parse_fields_of_a_response() -> None:
    f = pa.parse(b"~20024600B01402D002AFC80000FCE040F93F")
    assert (f.ver, f.adr, f.cid1, f.rtn) == (0x20, 0x02, 0x46, Rtn.NORMAL)
    assert f.info == bytes.fromhex("02D002AFC80000FCE040")


def test_lower_case_hex_anywhere_is_accepted() -> None:
    body = b"200a4642e0020a"
    frame = b"~" + body + f"{_chksum(body):04x}".encode() + b"\r"
    f = pa.parse(frame)
    assert (f.adr, f.cid2, f.info) == (0x0A, 0x42, b"\x0a")


def test_build_prints_upper_case_and_eoi() -> None:
    assert pa.build(PylonFrame(0x20, 0x02, 0x46, 0x42, b"\x02")) == b"~20024642E00202FD33\r"


def test_build_of_2020_info_characters_has_length_77e4() -> None:
    frame = pa.build(PylonFrame(0x20, 0x02, 0x46, 0x00, bytes(1010)))
    assert frame[9:13] == b"77E4"


def test_build_rejects_info_beyond_lenid_and_fields_beyond_a_byte() -> None:
    with pytest.raises(FrameError):
        pa.build(PylonFrame(0x20, 0x02, 0x46, 0x00, bytes(2048)))
    with pytest.raises(FrameError):
        pa.build(PylonFrame(0x120, 0x02, 0x46, 0x00))


def test_bad_chksum_is_reported_distinctly_with_the_header() -> None:
    with pytest.raises(FrameCheckError) as exc:
        pa.parse(b"~20024642E00202FD34\r")
    assert exc.value.rtn == Rtn.CHKSUM_ERROR
    assert exc.value.frame.adr == 0x02 and exc.value.frame.cid2 == 0x42
    assert isinstance(exc.value, FrameError)


def test_bad_lchksum_is_reported_distinctly() -> None:
    body = b"20024642F00202"  # LCHKSUM F instead of E, CHKSUM right for these characters
    with pytest.raises(FrameCheckError) as exc:
        pa.parse(b"~" + body + f"{_chksum(body):04X}".encode() + b"\r")
    assert exc.value.rtn == Rtn.LCHKSUM_ERROR


def test_lenid_disagreeing_with_info_is_a_frame_error() -> None:
    body = b"20024642C00402"  # LENID 4 with a correct LCHKSUM, 2 INFO characters
    with pytest.raises(FrameCheckError) as exc:
        pa.parse(b"~" + body + f"{_chksum(body):04X}".encode())
    assert exc.value.rtn == Rtn.FORMAT_ERROR


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"20024642E00202FD33\r",  # no SOI
        b"~20024642E00202FDG3\r",  # not hex
        b"~2002\r",  # too short
        b"~20024642E002021FD33\r",  # odd length
        b"~20024642E00202FD33\r\r",  # bytes after EOI
    ],
)
def test_grammar_violations_are_frame_errors(data: bytes) -> None:
    with pytest.raises(FrameError):
        pa.parse(data)


def test_rtn_table_is_complete() -> None:
    assert {int(r) for r in Rtn} == {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x90, 0x91}
    assert set(pa.RTN_TEXT) == set(Rtn)


def test_take_frame_drops_garbage_and_splits_frames() -> None:
    buf = bytearray(b"\x00\xffnoise~20024642E00202FD33\r~2000464F0000FD9A\r~2002")
    assert pa.take_frame(buf) == b"~20024642E00202FD33\r"
    assert pa.take_frame(buf) == b"~2000464F0000FD9A\r"
    assert pa.take_frame(buf) is None
    assert buf == bytearray(b"~2002")
    buf += b"4642E00202FD33\r"
    assert pa.take_frame(buf) == b"~20024642E00202FD33\r"
    assert buf == bytearray()


def test_take_frame_restarts_at_a_new_soi() -> None:
    buf = bytearray(b"~2002464~20024642E00202FD33\r")
    assert pa.take_frame(buf) == b"~20024642E00202FD33\r"


def test_take_frame_without_soi_empties_the_buffer() -> None:
    buf = bytearray(b"garbage without a start\r")
    assert pa.take_frame(buf) is None
    assert buf == bytearray()


def test_take_frame_bounds_a_start_that_never_ends() -> None:
    buf = bytearray(b"~" + b"0" * (pa.MAX_FRAME_BYTES + 10))
    assert pa.take_frame(buf) is None
    assert len(buf) <= pa.MAX_FRAME_BYTES


@given(st.lists(st.binary(max_size=600), max_size=20))
def test_fuzz_take_frame_stays_bounded_and_returns_whole_frames(chunks: list[bytes]) -> None:
    buf = bytearray()
    for chunk in chunks:
        buf += chunk
        while (frame := pa.take_frame(buf)) is not None:
            assert frame.startswith(b"~") and frame.endswith(b"\r")
            assert b"~" not in frame[1:]
        assert len(buf) <= pa.MAX_FRAME_BYTES + len(chunk)


@given(st.binary(max_size=200))
def test_fuzz_parse_raises_only_frame_error(data: bytes) -> None:
    with contextlib.suppress(FrameError):
        pa.parse(data)


@given(
    st.integers(0, 255),
    st.integers(0, 255),
    st.integers(0, 255),
    st.integers(0, 255),
    st.binary(max_size=100),
)
def test_fuzz_build_parse_round_trip(ver: int, adr: int, cid1: int, cid2: int, info: bytes) -> None:
    frame = PylonFrame(ver, adr, cid1, cid2, info)
    wire = pa.build(frame)
    assert pa.parse(wire) == frame
    body = wire[1:-5].lower()  # a sender printing lower case sums its own characters
    assert pa.parse(b"~" + body + f"{_chksum(body):04x}".encode()) == frame
