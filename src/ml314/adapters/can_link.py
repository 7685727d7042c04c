"""CAN through python-can: open any interface python-can knows, convert frames, record and read traffic logs.

``--can`` takes ``INTERFACE:CHANNEL`` (``socketcan:can0``, ``slcan:/dev/ttyACM0``, ``pcan:PCAN_USBBUS1``,
``virtual:ml314``); the default is python-can's in-process ``virtual`` bus, where every Bus object opened on the
same channel hears the others (the battery and the built-in inverter peer, or two tests).
"""

from __future__ import annotations

import enum
import errno
import io
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import can
import serial

from ml314.errors import InputError, TransportError
from ml314.protocols.base import CanFrame

__all__ = [
    "CanFailure",
    "CanSpec",
    "CanTrafficLog",
    "LoggedFrame",
    "classify_can_error",
    "open_bus",
    "parse_can_spec",
    "read_can_log",
    "to_frame",
    "to_message",
]

DEFAULT_CHANNEL = "ml314"


@dataclass(frozen=True, slots=True)
class CanSpec:
    interface: str
    channel: str

    def __str__(self) -> str:
        return f"{self.interface}:{self.channel}"

    @property
    def is_virtual(self) -> bool:
        return self.interface == "virtual"


def parse_can_spec(spec: str | None) -> CanSpec:
    """``INTERFACE:CHANNEL`` (the channel may itself contain colons); ``None``/``virtual`` = the virtual bus."""
    if spec is None or spec.strip() in ("", "virtual"):
        return CanSpec("virtual", DEFAULT_CHANNEL)
    interface, sep, channel = spec.partition(":")
    if not sep or not interface or not channel:
        raise InputError(f"--can wants INTERFACE:CHANNEL (e.g. socketcan:can0), got {spec!r}")
    if interface not in can.interfaces.VALID_INTERFACES:
        known = ", ".join(sorted(can.interfaces.VALID_INTERFACES))
        raise InputError(f"unknown CAN interface {interface!r}; python-can knows: {known}")
    return CanSpec(interface, channel)


def open_bus(spec: CanSpec, bitrate: int) -> can.BusABC:
    """Open the bus; a failure becomes a one-line :class:`TransportError`."""
    kwargs: dict[str, Any] = {}
    if not spec.is_virtual:
        kwargs["bitrate"] = bitrate
    try:
        return can.Bus(interface=spec.interface, channel=spec.channel, **kwargs)
    except (can.CanError, OSError, ValueError, ImportError) as exc:
        raise TransportError(f"cannot open CAN {spec}: {exc}") from None


class CanFailure(enum.Enum):
    """What an exception from a python-can bus means for the link."""

    BAD_FRAME = "bad_frame"  # the bytes of one frame could not be read: skip it, the bus goes on
    LOST = "lost"  # the device or socket is gone: close it and reopen with backoff
    ERROR = "error"  # anything else: count it, the bus goes on


#: errno values of a transient condition, not a lost device (a full transmit queue, a signal)
_TRANSIENT_ERRNO = frozenset({errno.ENOBUFS, errno.EAGAIN, errno.EINTR, errno.ETIMEDOUT})


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and e not in out and len(out) < 8:
        out.append(e)
        e = e.__cause__ or e.__context__
    return out


def classify_can_error(exc: BaseException) -> CanFailure:
    """The meaning of ``exc`` raised by ``Bus.recv`` or ``Bus.send``.

    A serial port or socket error anywhere in the chain (pyserial's ``socket disconnected``, a closed port, a
    socketcan interface gone down) is a lost device; a frame python-can cannot parse (DLC over 8, a short read, a
    wrong delimiter) is a bad frame; the rest is an error the link counts and survives.
    """
    chain = _chain(exc)
    for e in chain:
        if isinstance(e, can.CanTimeoutError | serial.SerialTimeoutException):
            return CanFailure.ERROR
        if isinstance(e, serial.SerialException | can.CanInitializationError):
            return CanFailure.LOST
        if isinstance(e, OSError) and e.errno not in _TRANSIENT_ERRNO:
            return CanFailure.LOST
    if isinstance(exc, ValueError | struct.error | TypeError | IndexError):
        return CanFailure.BAD_FRAME
    if isinstance(exc, can.CanOperationError) and "delimiter" in str(exc):
        return CanFailure.BAD_FRAME
    return CanFailure.ERROR


def to_message(frame: CanFrame, *, timestamp: float = 0.0, is_rx: bool = False) -> can.Message:
    return can.Message(
        timestamp=timestamp,
        arbitration_id=frame.arbitration_id,
        data=frame.data,
        is_extended_id=frame.is_extended_id,
        is_rx=is_rx,
    )


def to_frame(msg: can.Message) -> CanFrame | None:
    """The frame of a data message; ``None`` for error and remote frames (nothing a codec reads)."""
    if msg.is_error_frame or msg.is_remote_frame:
        return None
    return CanFrame(msg.arbitration_id, bytes(msg.data), bool(msg.is_extended_id))


class CanTrafficLog:
    """Every frame sent (T) and received (R), in candump ``-L`` format through python-can's writer.

    Thread-safe; the file is flushed on every line so a crash loses nothing already seen.
    """

    def __init__(self, path: Path, channel: str = "can0") -> None:
        self.path = path
        try:
            self._file: TextIO = path.open("w", encoding="ascii")
        except OSError as exc:
            raise InputError(f"cannot write the CAN log {path}: {exc.strerror}") from None
        self._writer = can.CanutilsLogWriter(self._file, channel=channel)
        self._lock = threading.Lock()

    def record(self, frame: CanFrame, *, timestamp: float, sent: bool) -> None:
        with self._lock:
            self._writer.on_message_received(to_message(frame, timestamp=timestamp, is_rx=not sent))
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._writer.stop()


@dataclass(frozen=True, slots=True)
class LoggedFrame:
    timestamp: float
    frame: CanFrame
    received: bool


def iter_can_log(path: Path) -> Iterator[tuple[int | None, LoggedFrame | str]]:
    """The frames of a CAN capture streamed (bounded memory), each with its line number, or (line, why) for a line
    that is no frame, so a reader can skip it and go on. A candump ``.log`` is read line by line; the other formats
    through python-can's reader, whose line numbers are unknown (None) and which cannot go on past a broken record.
    Raises InputError when the file cannot be opened as a capture at all."""
    if not path.exists() or path.is_dir():  # a FIFO or a device is a capture too
        raise InputError(f"no such capture file: {path}")
    if path.suffix.lower() == ".log":
        yield from _iter_candump(path)
        return
    try:
        reader = can.LogReader(str(path))
    except Exception as exc:  # python-can's readers raise what their parsers raise (struct.error for a bad BLF)
        raise InputError(f"{path}: not a readable CAN capture ({type(exc).__name__}: {exc})") from None
    try:
        for msg in reader:
            frame = to_frame(msg)
            if frame is not None:
                yield None, LoggedFrame(float(msg.timestamp), frame, bool(msg.is_rx))
    except Exception as exc:
        yield None, f"unreadable from here on ({type(exc).__name__}: {exc})"
    finally:
        reader.stop()


def _iter_candump(path: Path) -> Iterator[tuple[int | None, LoggedFrame | str]]:
    try:
        with path.open("r", encoding="ascii", errors="replace") as f:
            for no, line in enumerate(f, start=1):
                text = line.strip()
                if not text or text.startswith("#"):
                    continue
                try:
                    messages = list(can.CanutilsLogReader(io.StringIO(text + "\n")))
                    frames = [(m, to_frame(m)) for m in messages]
                except Exception as exc:  # the reader's parser: ValueError, IndexError, ...
                    yield no, f"not a candump line ({type(exc).__name__}: {exc}): {text[:60]!r}"
                    continue
                for msg, frame in frames:
                    if frame is not None:
                        yield no, LoggedFrame(float(msg.timestamp), frame, bool(msg.is_rx))
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None


def read_can_log(path: Path) -> Iterator[LoggedFrame]:
    """Frames of a candump (``.log``), ASC, BLF, CSV or TRC file, through python-can's readers."""
    if not path.is_file():
        raise InputError(f"no such capture file: {path}")
    try:
        reader = can.LogReader(str(path))
    except ValueError as exc:
        raise InputError(f"{path}: {exc}") from None
    try:
        for msg in reader:
            frame = to_frame(msg)
            if frame is not None:
                yield LoggedFrame(float(msg.timestamp), frame, bool(msg.is_rx))
    except (ValueError, IndexError, KeyError) as exc:
        raise InputError(f"{path}: not a readable CAN capture ({exc})") from None
    finally:
        reader.stop()
