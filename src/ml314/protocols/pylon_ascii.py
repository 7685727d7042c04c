"""The Pylon RS485 ASCII frame grammar (reference/protocols.md 1.2; Pylon LV RS485 V3.3 and V2.8).

``~ VER ADR CID1 CID2|RTN LENGTH INFO CHKSUM \\r``: every field between SOI and EOI is hex ASCII, two characters
per byte. LENGTH = LCHKSUM (4 bits) + LENID (12 bits, the number of INFO characters); CHKSUM is the two's
complement of the sum of the ASCII codes from VER to the end of INFO. Parsing accepts either hex case anywhere
(the sums are taken over the characters as received) and a frame with or without EOI; building prints upper case
and always ends with EOI. This module knows nothing of commands; the codecs do.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ml314.errors import FrameError

__all__ = [
    "EOI",
    "MAX_FRAME_BYTES",
    "MAX_LENID",
    "RTN_TEXT",
    "SOI",
    "FrameCheckError",
    "PylonFrame",
    "Rtn",
    "build",
    "chksum",
    "lchksum",
    "length_field",
    "parse",
    "take_frame",
]

SOI = 0x7E  # '~'
EOI = 0x0D  # '\r'
MAX_LENID = 0xFFF
#: SOI + 12 header characters + the longest INFO + 4 CHKSUM characters + EOI
MAX_FRAME_BYTES = 1 + 12 + MAX_LENID + 4 + 1


class Rtn(enum.IntEnum):
    """The response codes a battery puts where the request had CID2."""

    NORMAL = 0x00
    VER_ERROR = 0x01
    CHKSUM_ERROR = 0x02
    LCHKSUM_ERROR = 0x03
    CID2_INVALID = 0x04
    FORMAT_ERROR = 0x05
    INVALID_DATA = 0x06
    ADR_ERROR = 0x90
    INTERNAL_COMMUNICATION_ERROR = 0x91


RTN_TEXT: dict[Rtn, str] = {
    Rtn.NORMAL: "normal",
    Rtn.VER_ERROR: "VER error",
    Rtn.CHKSUM_ERROR: "CHKSUM error",
    Rtn.LCHKSUM_ERROR: "LCHKSUM error",
    Rtn.CID2_INVALID: "CID2 invalid",
    Rtn.FORMAT_ERROR: "command format error",
    Rtn.INVALID_DATA: "invalid data",
    Rtn.ADR_ERROR: "ADR error",
    Rtn.INTERNAL_COMMUNICATION_ERROR: "internal communication error",
}


@dataclass(frozen=True, slots=True)
class PylonFrame:
    """One frame with its INFO as bytes; ``cid2`` is the command of a request or the RTN of a response."""

    ver: int
    adr: int
    cid1: int
    cid2: int
    info: bytes = b""

    @property
    def rtn(self) -> int:
        return self.cid2


class FrameCheckError(FrameError):
    """A frame whose header was readable but whose LENGTH or CHKSUM is wrong.

    ``frame`` holds what was read (unverified) so a battery can still answer the address; ``rtn`` is the code it
    answers with: CHKSUM_ERROR, LCHKSUM_ERROR, or FORMAT_ERROR when LENID disagrees with the INFO received.
    """

    def __init__(self, message: str, frame: PylonFrame, rtn: Rtn) -> None:
        super().__init__(message)
        self.frame = frame
        self.rtn = rtn


def lchksum(lenid: int) -> int:
    """The 4-bit LCHKSUM of ``lenid``: two's complement of the nibble sum, modulo 16 (136 -> 0, 18 -> 0xD)."""
    return -((lenid & 0xF) + (lenid >> 4 & 0xF) + (lenid >> 8 & 0xF)) & 0xF


def length_field(lenid: int) -> int:
    """The 16-bit LENGTH field for ``lenid`` INFO characters (18 -> 0xD012, 2020 -> 0x77E4)."""
    if not 0 <= lenid <= MAX_LENID:
        raise FrameError(f"INFO of {lenid} characters does not fit LENID (at most {MAX_LENID})")
    return lchksum(lenid) << 12 | lenid


def chksum(chars: bytes) -> int:
    """CHKSUM of the characters from VER to the end of INFO: (~sum + 1) & 0xFFFF."""
    return -sum(chars) & 0xFFFF


def build(frame: PylonFrame) -> bytes:
    """The bytes on the wire for ``frame`` (upper-case hex, ending with EOI)."""
    for name, value in (("VER", frame.ver), ("ADR", frame.adr), ("CID1", frame.cid1), ("CID2", frame.cid2)):
        if not 0 <= value <= 0xFF:
            raise FrameError(f"{name} 0x{value:X} is not one byte")
    info = frame.info.hex().upper()
    head = f"{frame.ver:02X}{frame.adr:02X}{frame.cid1:02X}{frame.cid2:02X}{length_field(len(info)):04X}"
    body = (head + info).encode("ascii")
    return b"~" + body + f"{chksum(body):04X}".encode("ascii") + b"\r"


def parse(data: bytes) -> PylonFrame:
    """The frame in ``data`` (SOI to CHKSUM, EOI optional).

    Raises :class:`FrameError` for anything that is not the grammar and :class:`FrameCheckError` for a readable
    frame whose CHKSUM, LCHKSUM or LENID is wrong (checked in that order).
    """
    if not data or data[0] != SOI:
        raise FrameError("a Pylon frame starts with '~'")
    body = data[1:-1] if data[-1] == EOI else data[1:]
    rest = body.translate(None, b"0123456789ABCDEFabcdef")
    if rest:
        raise FrameError(f"byte 0x{rest[0]:02X} in a Pylon frame is not a hex character")
    if len(body) < 16:
        raise FrameError(f"a Pylon frame has at least 16 characters between '~' and '\\r', got {len(body)}")
    if len(body) % 2:
        raise FrameError(f"a Pylon frame has an even number of characters, got {len(body)}")
    text = body.decode("ascii")
    ver, adr, cid1, cid2 = (int(text[i : i + 2], 16) for i in range(0, 8, 2))
    length = int(text[8:12], 16)
    info_text = text[12:-4]
    frame = PylonFrame(ver, adr, cid1, cid2, bytes.fromhex(info_text))
    got = int(text[-4:], 16)
    want = chksum(body[:-4])
    if got != want:
        raise FrameCheckError(f"CHKSUM {got:04X} should be {want:04X}", frame, Rtn.CHKSUM_ERROR)
    lenid = length & MAX_LENID
    if length >> 12 != lchksum(lenid):
        raise FrameCheckError(
            f"LCHKSUM {length >> 12:X} of LENID {lenid} should be {lchksum(lenid):X}", frame, Rtn.LCHKSUM_ERROR
        )
    if lenid != len(info_text):
        raise FrameCheckError(
            f"LENID says {lenid} INFO characters, the frame has {len(info_text)}", frame, Rtn.FORMAT_ERROR
        )
    return frame


def take_frame(buffer: bytearray) -> bytes | None:
    """Remove and return the first frame (``~`` ... ``\\r``) from ``buffer``, or ``None`` while none is complete.

    Bytes before ``~`` are dropped; a ``~`` before the awaited ``\\r`` means the earlier frame was cut off, so
    reading restarts there; a start with no ``\\r`` within :data:`MAX_FRAME_BYTES` is dropped, so garbage never
    grows the buffer beyond that. The frame returned is not validated (see :func:`parse`).
    """
    while True:
        start = buffer.find(b"~")
        if start < 0:
            buffer.clear()
            return None
        del buffer[:start]
        end = buffer.find(b"\r", 1)
        restart = buffer.find(b"~", 1)
        if restart > 0 and (end < 0 or restart < end):
            del buffer[:restart]
            continue
        if end < 0:
            if len(buffer) > MAX_FRAME_BYTES:
                buffer.clear()
            return None
        frame = bytes(buffer[: end + 1])
        del buffer[: end + 1]
        return frame
