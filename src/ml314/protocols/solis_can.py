"""Solis (CAN P09-SOL): Pylon LV CAN V1.2 (reference/protocols.md 1.0, 1.7).

No Solis battery document is public; Solis hybrids run with batteries speaking Pylon LV CAN (Battery-Emulator
issue #3001 context), so the six V1.2 frames are sent unchanged.
"""

from __future__ import annotations

from ml314.protocols.base import ProtocolInfo, Transport
from ml314.protocols.pylon_can import V12_FRAMES, PylonCanCodec, PylonCanVariant

__all__ = ["INFO", "SOLIS", "Codec"]

INFO = ProtocolInfo(
    transport=Transport.CAN,
    code="P09-SOL",
    brand="Solis",
    name="solis-can",
    document="Pylon LV CAN V1.2 as Solis reads it (Battery-Emulator PYLON-LV-CAN, issue #3001)",
    period_s=1.0,
    keepalive_timeout_s=60.0,
)

SOLIS = PylonCanVariant(frames=V12_FRAMES)


class Codec(PylonCanCodec):
    """The six V1.2 frames."""

    variant = SOLIS

    def __init__(self, info: ProtocolInfo = INFO) -> None:
        super().__init__(info)
