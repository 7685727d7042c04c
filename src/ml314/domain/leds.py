"""What the module's front-panel LEDs show at one instant: RUN, ALM and SOC1..SOC4 (manual 6.2.2, 6.4).

The BMS decides the pattern (``bms/leds.py``); the twin's panel hardware and every surface (LCD, web) only read
this snapshot. The compiled loop carries the same snapshot as an integer: bit 0 RUN, bit 1 ALM, bits 2..5 SOC1..SOC4.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BIT_ALM", "BIT_RUN", "BIT_SOC", "LED_BITS_MASK", "LedOutputs", "SocLeds"]

BIT_RUN = 1 << 0
BIT_ALM = 1 << 1
BIT_SOC = (1 << 2, 1 << 3, 1 << 4, 1 << 5)
"""SOC1 (lowest band) first."""
LED_BITS_MASK = 0b111111

SocLeds = tuple[bool, bool, bool, bool]


@dataclass(frozen=True, slots=True)
class LedOutputs:
    """RUN, ALM and the four green SOC LEDs (SOC1, the lowest 25 % band, first); True = lit."""

    run: bool = False
    alm: bool = False
    soc: SocLeds = (False, False, False, False)

    def to_bits(self) -> int:
        """The integer form used by the compiled loop."""
        bits = (BIT_RUN if self.run else 0) | (BIT_ALM if self.alm else 0)
        for bit, lit in zip(BIT_SOC, self.soc, strict=True):
            bits |= bit if lit else 0
        return bits

    @classmethod
    def from_bits(cls, bits: int) -> LedOutputs:
        """Inverse of :meth:`to_bits`; raises ValueError on bits outside ``LED_BITS_MASK``."""
        if bits & ~LED_BITS_MASK:
            raise ValueError(f"LED bits {bits:#x} outside {LED_BITS_MASK:#x}")
        s1, s2, s3, s4 = (bool(bits & b) for b in BIT_SOC)
        return cls(bool(bits & BIT_RUN), bool(bits & BIT_ALM), (s1, s2, s3, s4))

    @property
    def lit_count(self) -> int:
        """How many of the six LEDs are lit (for the supply-current model)."""
        return int(self.run) + int(self.alm) + sum(self.soc)
