"""The master's aggregation: the lowest CVL, current limits by the real current share, capacity-weighted SOC."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from ml314.domain.battery_status import AlarmKind, ModuleStatus
from ml314.domain.limits import ChargeLimits
from ml314.protocols.examples import worked_example
from ml314.system.bank_aggregate import aggregate, current_shares, share_limits


def module(address: int, **changes: object) -> ModuleStatus:
    base = replace(worked_example(1).modules[0], address=address, current_a=0.0, resistance_mohm=4.0)
    return replace(base, **changes)  # type: ignore[arg-type]


def test_equal_modules_give_n_times_the_module_limit() -> None:
    bank = aggregate([module(i) for i in range(1, 5)], 0.0)
    assert bank.limits.ccl_a == pytest.approx(4 * 150.0)
    assert bank.limits.dcl_a == pytest.approx(4 * 200.0)
    assert bank.module_count == 4


def test_a_low_resistance_module_takes_more_current_and_limits_the_bank() -> None:
    # at rest the share comes from conductance: module 1 (2 mOhm) takes twice the share of the others (4 mOhm)
    mods = [module(1, resistance_mohm=2.0), module(2), module(3)]
    shares = current_shares(np.zeros(3), np.array([2.0, 4.0, 4.0]), +1)
    assert shares == pytest.approx([0.5, 0.25, 0.25])
    bank = aggregate(mods, 0.0)
    assert bank.limits.ccl_a == pytest.approx(150.0 / 0.5)  # 300 A, not 3 x 150 A
    assert bank.limits.ccl_a < 3 * 150.0


def test_the_measured_share_wins_while_current_flows() -> None:
    mods = [module(1, current_a=60.0), module(2, current_a=30.0), module(3, current_a=30.0)]
    bank = aggregate(mods, 0.0)
    assert bank.limits.ccl_a == pytest.approx(150.0 / 0.5)
    # a derated module with a small share: its own limit over its share
    mods = [
        module(1, current_a=40.0),
        module(2, current_a=40.0),
        module(3, current_a=20.0, limits=ChargeLimits(56.8, 48.0, 10.0, 200.0)),
    ]
    assert aggregate(mods, 0.0).limits.ccl_a == pytest.approx(10.0 / 0.2)


def test_a_module_at_zero_limit_stops_the_bank_in_that_direction_only() -> None:
    mods = [module(1), module(2, limits=ChargeLimits(56.8, 48.0, 0.0, 200.0))]
    bank = aggregate(mods, 0.0)
    assert bank.limits.ccl_a == 0.0 and not bank.charge_enable
    assert bank.limits.dcl_a > 0.0 and bank.discharge_enable


def test_a_module_off_the_bus_does_not_limit_or_share() -> None:
    mods = [module(1), module(2), module(3, charge_mosfet_on=False, discharge_mosfet_on=False)]
    bank = aggregate(mods, 0.0)
    assert bank.limits.ccl_a == pytest.approx(2 * 150.0)
    none_on = [replace(m, charge_mosfet_on=False, discharge_mosfet_on=False) for m in mods]
    assert aggregate(none_on, 0.0).limits.ccl_a == 0.0


def test_voltage_limits_soc_and_alarms() -> None:
    mods = [
        module(1, soc_pct=80.0, full_capacity_ah=314.0, limits=ChargeLimits(55.2, 46.4, 150.0, 200.0)),
        module(2, soc_pct=20.0, full_capacity_ah=157.0, limits=ChargeLimits(54.0, 47.0, 150.0, 200.0)),
        module(3, soc_pct=50.0, alarms=frozenset({AlarmKind.CELL_IMBALANCE})),
    ]
    bank = aggregate(mods, 0.0)
    assert bank.limits.cvl_v == 54.0
    assert bank.limits.dvl_v == 48.0
    assert bank.soc_pct == pytest.approx((80 * 314 + 20 * 157 + 50 * 314) / (314 + 157 + 314))
    assert bank.alarms == {AlarmKind.CELL_IMBALANCE}


def test_share_limits_edge_cases() -> None:
    assert share_limits(np.array([]), np.array([])) == 0.0
    assert share_limits(np.array([100.0, 100.0]), np.array([0.0, 0.0])) == 200.0
    with pytest.raises(ValueError):
        aggregate([], 0.0)
