"""Pylon LV RS485 V2.8 as Voltronic/Axpert inverters poll it in "PYL" mode (reference/protocols.md 1.2, 1.8).

The battery side is the Pylon codec answering with VER 0x28 (diyBMS ``pylon_rs485.cpp`` does the same). The
inverter side polls what PIP5048 / Axpert VM III poll, with VER "28" at ADR 02: 0x4F, then 0x42 and 0x92. It
never asks 0x44, so this inverter learns of a stop only through the 0x92 charge/discharge enable bits 7/6, and
``carries`` has no alarms. The 0x42 poll uses COMMAND 0xFF (every module; the reference only says the inverter
shows the pack count, which only that answer carries), so the bank's voltage, current and capacity are complete.

Where V2.8 differs from the V3.3 blocks of :mod:`pylon_rs485` (:data:`pylon_rs485_blocks.V28`; docs/protocols.md
"Pylon V2.8 as Axpert inverters read it" gives the evidence):

* 0x42 user-defined count is 02 with two 16-bit mAh capacities, never the V3.x 04 and its 3-byte capacities
  (diyBMS ``pylon_rs485.cpp``, written against a PIP5048 / Axpert VM III, sends ``FFFF 02 FFFF``). A 314 Ah
  module does not fit 16-bit mAh: full reads 65.535 Ah and remaining is scaled by the same factor, so the SOC an
  inverter derives (remaining / full) is the module's; the absolute Ah are not the module's;
* 0x92 discharge current limit is positive, as both V2.8 senders an Axpert is known to read send it (diyBMS
  ``discharge_current_limit``, ai-republic ``PylonInverterRS485Processor`` ``maxPackDischargeCurrent``): an
  inverter that reads the field unsigned would see 0xF9C0 as 6393.6 A.
"""

from __future__ import annotations

from ml314.protocols import pylon_rs485
from ml314.protocols.base import ProtocolInfo, Transport
from ml314.protocols.pylon_rs485 import ALL_PACKS, MASTER_ADR, Cid2
from ml314.protocols.pylon_rs485_blocks import V28, Layout

__all__ = ["INFO", "VER_V28", "Codec"]

VER_V28 = 0x28

INFO = ProtocolInfo(
    transport=Transport.RS485,
    code="",
    brand="Voltronic (PYL mode)",
    name="voltronic-pyl",
    document="Pylon LV RS485 V2.8 (2016-12-16) as Voltronic/Axpert inverters poll it (diyBMS pylon_rs485.cpp)",
    note="9600 baud; VER 0x28; the inverter polls 0x4F, 0x42 and 0x92 at ADR 02",
    period_s=0.0,
    baud=9600,
    response_timeout_s=0.2,
)


class Codec(pylon_rs485.Codec):
    """The Pylon codec speaking V2.8 (VER 0x28), polled as a Voltronic inverter polls it."""

    carries = pylon_rs485.Codec.carries - {"alarms", "protections"}
    layout: Layout = V28
    poll = (
        (Cid2.PROTOCOL_VERSION, b""),
        (Cid2.ANALOG, bytes([ALL_PACKS])),
        (Cid2.MANAGEMENT, bytes([MASTER_ADR])),
    )

    def __init__(self, info: ProtocolInfo = INFO, *, ver: int = VER_V28) -> None:
        super().__init__(info, ver=ver)
