"""Storage advice (manual 8.1.3, 13.1 (10)): the stricter of the two statements, and the checks."""

from __future__ import annotations

import pytest

from ml314.diagnostics.storage_advice import (
    DAY_S,
    DAYS_PER_MONTH,
    advice_lines,
    check_storage,
    recharge_due_s,
    rule_for,
    soc_after,
)


def test_short_storage_is_full_and_needs_no_recharge() -> None:
    rule = rule_for(30.0)
    assert (rule.soc_min, rule.soc_max) == (0.5, 1.0) and rule.recharge_every_days is None  # as shipped .. full
    assert check_storage(rule, soc=0.5) == []
    assert "charge it to 100 %" in check_storage(rule, soc=0.3)[0]
    assert recharge_due_s(0.0, None, rule) is None
    assert rule.temperature_c == (10.0, 45.0) and rule.humidity_pct == (30.0, 90.0)  # 60 +- 30 %


def test_long_storage_takes_the_stricter_of_both_places() -> None:
    rule = rule_for(365.0)
    assert (rule.soc_min, rule.soc_max) == (0.50, 0.60)  # 8.1.3 50-70 %, 13.1 (10) 50-60 %
    assert rule.recharge_every_days == pytest.approx(3 * DAYS_PER_MONTH)  # 13.1 (10) 3 months, not 8.1.3's 6
    text = " ".join(advice_lines(rule))
    assert "8.1.3" in text and "13.1 (10)" in text and "6 months" in text and "every 3 months" in text
    # the next reminder runs from the last recharge
    assert recharge_due_s(0.0, None, rule) == pytest.approx(3 * DAYS_PER_MONTH * DAY_S)
    assert recharge_due_s(0.0, 10 * DAY_S, rule) == pytest.approx((10 + 3 * DAYS_PER_MONTH) * DAY_S)


def test_checks_name_what_is_outside() -> None:
    rule = rule_for(365.0)
    assert check_storage(rule, soc=0.55, temperature_c=25.0, humidity_pct=50.0) == []
    found = check_storage(rule, soc=1.0, temperature_c=40.0, humidity_pct=80.0)
    assert len(found) == 3
    assert "SOC 100 %" in found[0] and "40 degC" in found[1] and "80 %" in found[2]


def test_self_discharge_doubles_every_10_k() -> None:
    at25 = 0.5 - soc_after(0.5, 6 * DAYS_PER_MONTH, 25.0)
    at35 = 0.5 - soc_after(0.5, 6 * DAYS_PER_MONTH, 35.0)
    assert at25 == pytest.approx(0.12)
    assert at35 == pytest.approx(2 * at25)
    assert soc_after(0.1, 1000.0, 45.0) == 0.0
