"""Sol-Ark (CAN P02-SLK): Pylon LV CAN with every frame 8 bytes long (reference/protocols.md 1.7).

Sol-Ark's "v1.3" battery CAN document, as quoted in Battery-Emulator ``SOL-ARK-LV-CAN.cpp``: standard 8-byte frames
only, 500 kbit/s, little-endian, the full set every 1 s (0x351 with the DVL in bytes 6-7, 0x355, 0x356, 0x359 with
byte 7 = 0, 0x35C, 0x35E); the inverter answers 0x305 zeros to each correct reception.
"""

from __future__ import annotations

from ml314.protocols.base import ProtocolInfo, Transport
from ml314.protocols.pylon_can import V12_FRAMES, PylonCanCodec, PylonCanVariant

__all__ = ["INFO", "SOLARK", "Codec"]

INFO = ProtocolInfo(
    transport=Transport.CAN,
    code="P02-SLK",
    brand="Sol-Ark",
    name="solark-can",
    document="Sol-Ark battery CAN v1.3 = Pylon LV CAN V1.2 with 8-byte frames (as quoted in Battery-Emulator "
    "SOL-ARK-LV-CAN; ai-republic inverter-solark-can)",
    period_s=1.0,
    keepalive_timeout_s=60.0,
)

SOLARK = PylonCanVariant(frames=V12_FRAMES, pad_to_8=True)


class Codec(PylonCanCodec):
    """The six V1.2 frames, each zero-padded to DLC 8."""

    variant = SOLARK

    def __init__(self, info: ProtocolInfo = INFO) -> None:
        super().__init__(info)
