"""Fixed-point wire fields: scaling with clamping, and DBC messages loaded with cantools.

A bank value that does not fit its wire field (16 x 314 A in an s16 0.1 A field, 5024 Ah in a u16 10 mAh field)
is clamped to the field's extreme, never wrapped: the inverter then reads the largest value the wire can say,
which is on the safe side for a capacity and a limit it cannot use anyway.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from importlib import resources
from typing import Any

import cantools
import cantools.database

from ml314.errors import FrameError
from ml314.protocols.base import CanFrame, Description

__all__ = ["dbc", "decode_signals", "describe_frame", "encode_message", "raw", "raw_range"]


def raw_range(bits: int, *, signed: bool) -> tuple[int, int]:
    """The integer range of a ``bits`` wide field."""
    if signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def raw(value: float, scale: float, bits: int = 16, *, signed: bool = False, offset: float = 0.0) -> int:
    """``(value - offset) / scale`` rounded to the nearest integer and clamped to the field; NaN becomes 0."""
    lo, hi = raw_range(bits, signed=signed)
    if math.isnan(value):
        return 0
    if math.isinf(value):
        return hi if value > 0 else lo
    q = (value - offset) / scale
    if math.isinf(q):
        return hi if q > 0 else lo
    x = round(q)
    return max(lo, min(hi, x))


@functools.cache
def dbc(name: str) -> cantools.database.can.Database:
    """The DBC file ``protocols/dbc/<name>.dbc`` of the package, loaded once."""
    text = resources.files("ml314.protocols").joinpath("dbc", f"{name}.dbc").read_text(encoding="utf-8")
    db = cantools.database.load_string(text, database_format="dbc", strict=True)
    assert isinstance(db, cantools.database.can.Database)
    return db


def encode_message(db: cantools.database.can.Database, frame_id: int, values: Mapping[str, Any]) -> CanFrame:
    """Encode a DBC message; numeric values outside a signal's range are clamped to it first.

    Signals missing from ``values`` are sent as 0 (the reserved bytes of the specifications).
    """
    message = db.get_message_by_frame_id(frame_id)
    data: dict[str, Any] = {}
    for sig in message.signals:
        v = values.get(sig.name, 0)
        if isinstance(v, bool):
            v = int(v)
        if isinstance(v, int | float) and not isinstance(v, bool):
            lo, hi = raw_range(sig.length, signed=sig.is_signed)
            scale = float(sig.scale)
            off = float(sig.offset)
            lo_phys, hi_phys = lo * scale + off, hi * scale + off
            if sig.minimum is not None:
                lo_phys = max(lo_phys, float(sig.minimum))
            if sig.maximum is not None:
                hi_phys = min(hi_phys, float(sig.maximum))
            v = 0 if isinstance(v, float) and math.isnan(v) else min(hi_phys, max(lo_phys, v))
        data[sig.name] = v
    payload = message.encode(data, scaling=True, strict=False)
    return CanFrame(frame_id, bytes(payload), message.is_extended_frame)


def decode_signals(db: cantools.database.can.Database, frame: CanFrame) -> dict[str, Any] | None:
    """The physical signal values of ``frame``, or ``None`` when the DBC does not define its identifier.

    A frame shorter than its message raises :class:`FrameError`; longer frames (zero padding) are accepted.
    """
    try:
        message = db.get_message_by_frame_id(frame.arbitration_id)
    except KeyError:
        return None
    if message.is_extended_frame != frame.is_extended_id:
        return None
    if len(frame.data) < message.length:
        raise FrameError(
            f"{message.name} (0x{frame.arbitration_id:X}) needs {message.length} bytes, got {len(frame.data)}"
        )
    try:
        decoded = message.decode(frame.data[: message.length], decode_choices=False, scaling=True)
    except Exception as exc:  # cantools raises several types for bad payloads
        raise FrameError(f"{message.name} (0x{frame.arbitration_id:X}): {exc}") from None
    assert isinstance(decoded, dict)
    return dict(decoded)


def describe_frame(db: cantools.database.can.Database, frame: CanFrame) -> tuple[str, Description] | None:
    """(message name, signals) of a frame the DBC defines, for ``ml314 decode``."""
    values = decode_signals(db, frame)
    if values is None:
        return None
    message = db.get_message_by_frame_id(frame.arbitration_id)
    return message.name, {k: (round(v, 6) if isinstance(v, float) else v) for k, v in values.items()}
