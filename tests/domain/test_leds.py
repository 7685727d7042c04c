"""The LED snapshot and its integer form."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ml314.domain.leds import BIT_ALM, BIT_RUN, BIT_SOC, LED_BITS_MASK, LedOutputs


def test_bit_layout() -> None:
    assert LedOutputs(run=True).to_bits() == BIT_RUN == 1
    assert LedOutputs(alm=True).to_bits() == BIT_ALM == 2
    assert LedOutputs(soc=(True, False, False, False)).to_bits() == BIT_SOC[0] == 4
    assert LedOutputs(soc=(False, False, False, True)).to_bits() == BIT_SOC[3] == 32
    assert LedOutputs().to_bits() == 0
    assert LedOutputs(True, True, (True, True, True, True)).to_bits() == LED_BITS_MASK


@given(st.integers(0, LED_BITS_MASK))
def test_round_trip(bits: int) -> None:
    leds = LedOutputs.from_bits(bits)
    assert leds.to_bits() == bits
    assert leds.lit_count == bin(bits).count("1")


def test_rejects_foreign_bits() -> None:
    with pytest.raises(ValueError, match="outside"):
        LedOutputs.from_bits(64)
