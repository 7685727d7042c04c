"""Luxpower (CAN P06-LUX): Pylon LV CAN plus 0x379 installed capacity (reference/protocols.md 1.0, 1.7).

The "Luxpowertek Battery CAN Protocol" is not public. ai-republic ``inverter-luxpower-can`` sends the V1.2 frames
without 0x35E; ArminJo adds 0x379 (installed capacity, u16 Ah), which the Luxpower SNA series needs.
"""

from __future__ import annotations

from ml314.protocols.base import ProtocolInfo, Transport
from ml314.protocols.pylon_can import PylonCanCodec, PylonCanVariant

__all__ = ["INFO", "LUXPOWER", "Codec"]

INFO = ProtocolInfo(
    transport=Transport.CAN,
    code="P06-LUX",
    brand="Luxpower",
    name="luxpower-can",
    document="Pylon LV CAN V1.2 as Luxpower reads it, without 0x35E, plus 0x379 installed Ah "
    "(ai-republic inverter-luxpower-can, ArminJo)",
    period_s=1.0,
    keepalive_timeout_s=60.0,
)

LUXPOWER = PylonCanVariant(frames=(0x351, 0x355, 0x356, 0x359, 0x35C, 0x379))


class Codec(PylonCanCodec):
    """0x351, 0x355, 0x356, 0x359, 0x35C and 0x379."""

    variant = LUXPOWER

    def __init__(self, info: ProtocolInfo = INFO) -> None:
        super().__init__(info)
