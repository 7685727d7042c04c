"""Modbus RTU frames, pure: CRC-16/MODBUS, read holding (0x03), write multiple (0x10) and exception responses.

Frame = ``[address][function][data][CRC16, low byte first]``; every field of the data is big-endian. Requests of
functions 0x01..0x06 (8 bytes) are framed too, so a battery can answer them "illegal function", and so is any other
function code below 0x80 whose CRC checks at 4..8 bytes (RTU gives no length for an unknown function; the CRC
tells). 0x11 "report server ID" and 0x2B/0x0E "read device identification" (Modbus application protocol V1.1b3,
6.13 and 6.21) answer with :class:`DeviceIdentity`: the product, not the library. Malformed bytes raise
:class:`FrameError`. Used by the Growatt RS485 codec (reference/protocols.md section 3) and, for its CRC and
buffer splitting, by the Modbus-like Voltronic protocol (section 1.8).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ml314 import __version__
from ml314.domain.battery_status import BatteryView
from ml314.errors import FrameError

__all__ = [
    "DEVICE_ID",
    "ENCAPSULATED",
    "MAX_READ_COUNT",
    "MAX_WRITE_COUNT",
    "READ_HOLDING",
    "REPORT_SERVER_ID",
    "WRITE_MULTIPLE",
    "DeviceIdentity",
    "ExceptionCode",
    "ExceptionResponse",
    "OtherRequest",
    "ReadRequest",
    "ReadResponse",
    "Request",
    "Response",
    "WriteRequest",
    "WriteResponse",
    "build_device_identification",
    "build_exception",
    "build_read_request",
    "build_read_response",
    "build_report_server_id",
    "build_write_request",
    "build_write_response",
    "check_crc",
    "crc16",
    "parse_frame",
    "parse_request",
    "parse_response",
    "split_frame",
    "take_request",
    "take_response",
    "with_crc",
]

READ_HOLDING = 0x03
WRITE_MULTIPLE = 0x10
REPORT_SERVER_ID = 0x11
ENCAPSULATED = 0x2B
DEVICE_ID = 0x0E  # MEI type "read device identification"
MAX_READ_COUNT = 125  # Modbus application protocol V1.1b3, 6.3
MAX_WRITE_COUNT = 123  # ibid., 6.12


class ExceptionCode(enum.IntEnum):
    """Modbus exception codes a server sends back in ``[address][function | 0x80][code]``."""

    ILLEGAL_FUNCTION = 0x01
    ILLEGAL_DATA_ADDRESS = 0x02
    ILLEGAL_DATA_VALUE = 0x03
    SERVER_DEVICE_FAILURE = 0x04


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    """What 0x11 and 0x2B/0x0E say about the server: object id -> text (6.21: 0-2 basic, 3-6 regular)."""

    vendor_name: str = "ML314"
    product_code: str = "ML314-51.2-W08"
    revision: str = __version__
    vendor_url: str = ""
    product_name: str = "ML314 LiFePO4 wall battery"
    model_name: str = "ML314-51.2-W08"
    application_name: str = "ml314"

    def objects(self) -> dict[int, bytes]:
        texts = (
            self.vendor_name,
            self.product_code,
            self.revision,
            self.vendor_url,
            self.product_name,
            self.model_name,
            self.application_name,
        )
        return {i: t.encode("ascii", "replace")[:64] for i, t in enumerate(texts)}

    def server_id(self) -> bytes:
        """0x11 server ID: product code, vendor and revision as one text."""
        return f"{self.product_code} {self.vendor_name} {self.revision}".encode("ascii", "replace")[:200]


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _crc_table()


def crc16(data: bytes) -> int:
    """CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF); sent low byte first."""
    crc = 0xFFFF
    for b in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ b) & 0xFF]
    return crc


def with_crc(body: bytes) -> bytes:
    """``body`` followed by its CRC, low byte first."""
    return body + crc16(body).to_bytes(2, "little")


def check_crc(frame: bytes) -> bytes:
    """The frame without its CRC; :class:`FrameError` when the CRC does not match or the frame is too short."""
    if len(frame) < 4:
        raise FrameError(f"Modbus frame of {len(frame)} bytes is too short (at least 4)")
    body, got = frame[:-2], int.from_bytes(frame[-2:], "little")
    want = crc16(body)
    if got != want:
        raise FrameError(f"Modbus CRC mismatch: frame says {got:04X}, bytes give {want:04X}")
    return body


@dataclass(frozen=True, slots=True)
class ReadRequest:
    address: int
    start: int
    count: int


@dataclass(frozen=True, slots=True)
class WriteRequest:
    address: int
    start: int
    values: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class OtherRequest:
    """A request with a valid CRC of a function this module does not parse (answered "illegal function")."""

    address: int
    function: int
    data: bytes


@dataclass(frozen=True, slots=True)
class ReadResponse:
    address: int
    values: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class WriteResponse:
    address: int
    start: int
    count: int


@dataclass(frozen=True, slots=True)
class ExceptionResponse:
    address: int
    function: int  # the request's function code (without 0x80)
    code: int


Request = ReadRequest | WriteRequest | OtherRequest
Response = ReadResponse | WriteResponse | ExceptionResponse


def _u8(name: str, value: int) -> int:
    if not 0 <= value <= 0xFF:
        raise FrameError(f"{name} {value} does not fit a byte")
    return value


def _u16(name: str, value: int) -> bytes:
    if not 0 <= value <= 0xFFFF:
        raise FrameError(f"{name} {value} does not fit 16 bits")
    return value.to_bytes(2, "big")


def _words(data: bytes) -> tuple[int, ...]:
    return tuple(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))


def build_read_request(address: int, start: int, count: int) -> bytes:
    if not 1 <= count <= MAX_READ_COUNT:
        raise FrameError(f"read count {count} outside 1..{MAX_READ_COUNT}")
    return with_crc(bytes([_u8("address", address), READ_HOLDING]) + _u16("start", start) + _u16("count", count))


def build_write_request(address: int, start: int, values: tuple[int, ...] | list[int]) -> bytes:
    if not 1 <= len(values) <= MAX_WRITE_COUNT:
        raise FrameError(f"write count {len(values)} outside 1..{MAX_WRITE_COUNT}")
    data = b"".join(_u16("register value", v) for v in values)
    head = bytes([_u8("address", address), WRITE_MULTIPLE]) + _u16("start", start) + _u16("count", len(values))
    return with_crc(head + bytes([len(data)]) + data)


def build_read_response(address: int, values: tuple[int, ...] | list[int]) -> bytes:
    if not 1 <= len(values) <= MAX_READ_COUNT:
        raise FrameError(f"response register count {len(values)} outside 1..{MAX_READ_COUNT}")
    data = b"".join(_u16("register value", v) for v in values)
    return with_crc(bytes([_u8("address", address), READ_HOLDING, len(data)]) + data)


def build_write_response(address: int, start: int, count: int) -> bytes:
    return with_crc(bytes([_u8("address", address), WRITE_MULTIPLE]) + _u16("start", start) + _u16("count", count))


def build_exception(address: int, function: int, code: int) -> bytes:
    return with_crc(bytes([_u8("address", address), _u8("function", function & 0x7F) | 0x80, _u8("code", code)]))


def build_report_server_id(address: int, identity: DeviceIdentity) -> bytes:
    """0x11 answer: byte count, server ID, run indicator 0xFF (ON)."""
    data = identity.server_id() + b"\xff"
    return with_crc(bytes([_u8("address", address), REPORT_SERVER_ID, len(data)]) + data)


_CONFORMITY = 0x82  # regular identification, stream and individual access
_CATEGORY = {1: range(0, 3), 2: range(3, 7), 3: range(0x80, 0x100)}  # basic, regular, extended (none here)


def build_device_identification(address: int, data: bytes, identity: DeviceIdentity) -> bytes:
    """The answer to a 0x2B request whose bytes after the function code are ``data`` (MEI, code, object id).

    Stream access (codes 1-3) gives the category's objects from the requested one (an unknown start restarts at
    the category's first, as 6.21 says; the extended category is empty here, so code 3 answers the regular
    objects); code 4 one object, exception 02 for an unknown one; another MEI type or code, exception 03.
    """
    objects = identity.objects()
    if len(data) != 3 or data[0] != DEVICE_ID or data[1] not in (1, 2, 3, 4):
        return build_exception(address, ENCAPSULATED, ExceptionCode.ILLEGAL_DATA_VALUE)
    code, first = data[1], data[2]
    if code == 4:
        if first not in objects:
            return build_exception(address, ENCAPSULATED, ExceptionCode.ILLEGAL_DATA_ADDRESS)
        ids = [first]
    else:
        category = _CATEGORY[2 if code == 3 else code]
        ids = [i for i in category if i in objects]
        ids = [i for i in ids if i >= first] if first in ids else ids
    body = b"".join(bytes([i, len(objects[i])]) + objects[i] for i in ids)
    head = bytes([_u8("address", address), ENCAPSULATED, DEVICE_ID, code, _CONFORMITY, 0x00, 0x00, len(ids)])
    return with_crc(head + body)


# request length by function code: 0x01..0x06 are 8 bytes; 0x10 = 9 + byte count (byte 6); 0x11 4; 0x2B/0x0E 7
_FIXED_REQUEST = dict.fromkeys(range(0x01, 0x07), 8) | {REPORT_SERVER_ID: 4, ENCAPSULATED: 7}
_UNKNOWN_REQUEST = tuple(range(4, 9))  # a function this module does not know: whichever length the CRC confirms


def _request_length(buf: bytes | bytearray) -> tuple[int, ...] | None:
    if len(buf) < 2:
        return ()
    func = buf[1]
    if func in _FIXED_REQUEST:
        return (_FIXED_REQUEST[func],)
    if func == WRITE_MULTIPLE:
        return (9 + buf[6],) if len(buf) >= 7 else ()
    return _UNKNOWN_REQUEST if 0 < func < 0x80 else None


def _response_length(buf: bytes | bytearray) -> tuple[int, ...] | None:
    if len(buf) < 2:
        return ()
    func = buf[1]
    if func == READ_HOLDING:
        return (5 + buf[2],) if len(buf) >= 3 else ()
    if func == WRITE_MULTIPLE:
        return (8,)
    if func == REPORT_SERVER_ID:
        return (5 + buf[2],) if len(buf) >= 3 else ()
    if func & 0x80 and (func & 0x7F in _FIXED_REQUEST or func & 0x7F == WRITE_MULTIPLE):
        return (5,)
    return None


_WINDOW = 512  # longer than any frame of these protocols (Modbus RTU: 256 bytes)
LengthRule = Callable[[bytes | bytearray], tuple[int, ...] | None]


def split_frame(buffer: bytearray, length: LengthRule) -> bytes | None:
    """Remove and return the first complete frame with a valid CRC from ``buffer``, or ``None``.

    ``length(view)`` gives the possible total lengths of a frame starting at ``view[0]``: ``None`` when no frame
    can start there, ``()`` when more bytes are needed to tell. RTU has no start marker, so every offset is tried;
    the earliest complete frame with a matching CRC wins and the bytes before it are dropped. Without one, bytes
    before the first offset that may still become a frame are dropped and ``None`` is returned.
    """
    pending: int | None = None
    view = bytes(buffer)
    for i in range(len(view)):
        rest = view[i : i + _WINDOW]
        lengths = length(rest)
        if lengths is None:
            continue
        if not lengths:
            pending = i if pending is None else pending
            continue
        for n in lengths:
            if not 4 <= n <= _WINDOW:
                continue
            if len(rest) < n:
                pending = i if pending is None else pending
            elif crc16(rest[: n - 2]) == int.from_bytes(rest[n - 2 : n], "little"):
                del buffer[: i + n]
                return rest[:n]
    del buffer[: len(buffer) if pending is None else pending]
    return None


def take_request(buffer: bytearray) -> bytes | None:
    """The first complete request in ``buffer`` (see :func:`split_frame`)."""
    return split_frame(buffer, _request_length)


def take_response(buffer: bytearray) -> bytes | None:
    """The first complete response in ``buffer`` (see :func:`split_frame`).

    An exception to a function this module does not know (``01 D5 01``) is taken only at the start of ``buffer``:
    anywhere else a byte with its top bit set followed by a chance CRC match would cut a longer answer short.
    """
    head = bytes(buffer[:5])
    if len(head) == 5 and head[1] & 0x80 and crc16(head[:3]) == int.from_bytes(head[3:], "little"):
        del buffer[:5]
        return head
    return split_frame(buffer, _response_length)


def parse_request(frame: bytes) -> Request:
    """A request frame (CRC checked); unknown functions with a valid CRC become :class:`OtherRequest`."""
    body = check_crc(frame)
    address, func = body[0], body[1]
    if func == READ_HOLDING:
        if len(body) != 6:
            raise FrameError(f"read request must be 8 bytes, got {len(frame)}")
        count = int.from_bytes(body[4:6], "big")
        return ReadRequest(address, int.from_bytes(body[2:4], "big"), count)
    if func == WRITE_MULTIPLE:
        if len(body) < 7 or len(body) != 7 + body[6]:
            raise FrameError(f"write request of {len(frame)} bytes does not match its byte count")
        count, byte_count = int.from_bytes(body[4:6], "big"), body[6]
        if byte_count != 2 * count:
            raise FrameError(f"write request: byte count {byte_count} is not twice the register count {count}")
        return WriteRequest(address, int.from_bytes(body[2:4], "big"), _words(body[7:]))
    return OtherRequest(address, func, bytes(body[2:]))


def parse_response(frame: bytes) -> Response:
    """A response frame (CRC checked)."""
    body = check_crc(frame)
    address, func = body[0], body[1]
    if func & 0x80:
        if len(body) != 3:
            raise FrameError(f"exception response must be 5 bytes, got {len(frame)}")
        return ExceptionResponse(address, func & 0x7F, body[2])
    if func == READ_HOLDING:
        if len(body) < 3 or len(body) != 3 + body[2] or body[2] % 2:
            raise FrameError(f"read response of {len(frame)} bytes does not match its byte count")
        return ReadResponse(address, _words(body[3:]))
    if func == WRITE_MULTIPLE:
        if len(body) != 6:
            raise FrameError(f"write response must be 8 bytes, got {len(frame)}")
        return WriteResponse(address, int.from_bytes(body[2:4], "big"), int.from_bytes(body[4:6], "big"))
    raise FrameError(f"Modbus function 0x{func:02X} is not a response this protocol uses")


def parse_frame(frame: bytes) -> Request | Response:
    """Either direction: a request or a response, told apart by length and function.

    A 0x03 request is 8 bytes and a 0x03 response has an odd length; a 0x10 response is 8 bytes and a 0x10 request
    at least 11; ``function | 0x80`` is an exception response.
    """
    if len(frame) < 2:
        raise FrameError(f"Modbus frame of {len(frame)} bytes is too short (at least 4)")
    func = frame[1]
    is_request = (func == READ_HOLDING and len(frame) == 8) or (func == WRITE_MULTIPLE and len(frame) != 8)
    if is_request or not (func & 0x80 or func in (READ_HOLDING, WRITE_MULTIPLE)):
        return parse_request(frame)
    return parse_response(frame)


#: BatteryView field -> (the registers it needs, how to turn their words into the value)
RegisterDecoders = Mapping[str, tuple[tuple[int, ...], Callable[[tuple[int, ...]], object]]]


def view_from_registers(regs: Mapping[int, int], decoders: RegisterDecoders) -> BatteryView:
    """The :class:`BatteryView` fields whose registers are all in ``regs`` (address -> u16 word)."""
    for address, word in regs.items():
        if not 0 <= word <= 0xFFFF:
            raise FrameError(f"register 0x{address:04X} value {word} is not a 16-bit word")
    values: dict[str, object] = {}
    for name, (addresses, decode) in decoders.items():
        if all(a in regs for a in addresses):
            values[name] = decode(tuple(regs[a] for a in addresses))
    return BatteryView(**values)  # type: ignore[arg-type]
