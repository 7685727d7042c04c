"""Victron (CAN P05-VCT): the SMA-style frame set with Victron's 0x370-0x382 (reference/protocols.md 1.3).

Victron publishes no battery CAN document. A GX device reads 0x351 (DVL ignored), 0x355 with the 0.01 % SOC,
0x356, the 2-bit alarm pairs of 0x35A, 0x35E, 0x35F and 0x370-0x382 (diyBMS ``victron_canbus.cpp``, dfch/BydCanProtocol
capture); it answers 0x305 zeros, 0x306 zeros and 0x307 ``12 34 56 78 'VIC' 00``. CVL is never sent as 0 (diyBMS:
Victron takes it for overvoltage and discharges): it is floored at 41 V, the bottom of SMA's CVL range (1.4). A BMS
should tolerate 0x305 silence for 10 minutes (Safiery).
"""

from __future__ import annotations

from ml314.protocols.base import CanFrame, ProtocolInfo, Transport
from ml314.protocols.pylon_can import VICTRON_FRAMES, PylonCanCodec, PylonCanVariant

__all__ = ["INFO", "VICTRON", "Codec"]

INFO = ProtocolInfo(
    transport=Transport.CAN,
    code="P05-VCT",
    brand="Victron",
    name="victron-can",
    document="Pylon LV CAN / SMA-style frame set as Victron GX reads it, with 0x35A, 0x35F, 0x370-0x382 "
    "(diyBMS victron_canbus, dfch/BydCanProtocol)",
    period_s=1.0,
    keepalive_timeout_s=600.0,
)

VICTRON = PylonCanVariant(
    frames=VICTRON_FRAMES,
    soc_frame_length=6,
    name=None,
    inverter_frames=(
        CanFrame(0x305, bytes(8)),
        CanFrame(0x306, bytes(8)),
        CanFrame(0x307, bytes.fromhex("1234567856494300")),
    ),
    cvl_floor_v=41.0,
)


class Codec(PylonCanCodec):
    """The Victron set; keep-alives 0x305, 0x306 and 0x307."""

    variant = VICTRON

    def __init__(self, info: ProtocolInfo = INFO) -> None:
        super().__init__(info)
