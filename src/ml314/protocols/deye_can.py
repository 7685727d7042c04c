"""Deye (CAN P03-DY): Pylon LV CAN V1.2 as Deye reads it (reference/protocols.md 1.0, 1.7).

No Deye low-voltage document is public. ai-republic ``inverter-deye-can`` sends the six V1.2 frames; ArminJo notes
that Deye rejects a 0x35E name not beginning "PYLON" ("DIYPYLON" fails, "PYLONDIY" works), so the name is fixed
and the inverter side refuses any other with :class:`~ml314.errors.FrameError`.
"""

from __future__ import annotations

from ml314.protocols.base import ProtocolInfo, Transport
from ml314.protocols.pylon_can import V12_FRAMES, PylonCanCodec, PylonCanVariant

__all__ = ["DEYE", "INFO", "Codec"]

INFO = ProtocolInfo(
    transport=Transport.CAN,
    code="P03-DY",
    brand="Deye",
    name="deye-can",
    document="Pylon LV CAN V1.2 as Deye reads it (ai-republic inverter-deye-can, ArminJo)",
    period_s=1.0,
    keepalive_timeout_s=60.0,
)

DEYE = PylonCanVariant(frames=V12_FRAMES, name="PYLON   ", required_name_prefix="PYLON")


class Codec(PylonCanCodec):
    """The six V1.2 frames; 0x35E must begin "PYLON"."""

    variant = DEYE

    def __init__(self, info: ProtocolInfo = INFO) -> None:
        super().__init__(info)
