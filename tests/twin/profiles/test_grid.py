"""Grid availability: Poisson outages, fixed outages, step profile."""

import numpy as np
import pytest

from ml314.errors import InputError
from ml314.twin.profiles import fixed_outages, grid_availability, outage_intervals

DAY_S = 86400.0


def test_same_seed_same_outages() -> None:
    a = grid_availability(seed=11, days=365)
    b = grid_availability(seed=11, days=365)
    np.testing.assert_array_equal(a.t_s, b.t_s)
    np.testing.assert_array_equal(a.value, b.value)
    assert a.kind == "step" and a.unit == "1"
    assert set(a.value.tolist()) <= {0.0, 1.0}


def test_outage_count_and_length_over_ten_years() -> None:
    days = 3653
    counts = []
    durations: list[float] = []
    for seed in range(5):
        outages = outage_intervals(grid_availability(seed, days, outages_per_month=2.0, mean_outage_h=3.0))
        counts.append(len(outages))
        durations.extend(end - start for start, end in outages)
    expected = 2.0 * 120.0  # 10 years, 2 per month
    assert np.mean(counts) == pytest.approx(expected, rel=0.1)
    assert np.mean(durations) / 3600.0 == pytest.approx(3.0, rel=0.15)


def test_downtime_fraction_matches_rate_times_duration() -> None:
    grid = grid_availability(seed=1, days=3653, outages_per_month=1.0, mean_outage_h=6.0)
    up = grid.resample(0.0, 60.0, 3653 * 1440)
    expected_down = 1.0 * 6.0 / (365.25 / 12 * 24)
    assert 1.0 - up.mean() == pytest.approx(expected_down, rel=0.25)


def test_no_outages_is_always_up() -> None:
    grid = grid_availability(seed=1, days=30, outages_per_month=0.0)
    assert np.all(grid.resample(0.0, 3600.0, 24 * 60) == 1.0)


def test_fixed_outages_step_exactly() -> None:
    grid = fixed_outages(2, [(3600.0, 1800.0), (DAY_S, 7200.0)])
    assert grid.duration_s == 2 * DAY_S
    assert grid.at(3599.0) == 1.0
    assert grid.at(3600.0) == 0.0
    assert grid.at(5399.0) == 0.0
    assert grid.at(5400.0) == 1.0
    assert outage_intervals(grid) == [(3600.0, 5400.0), (DAY_S, DAY_S + 7200.0)]
    # The profile repeats after its horizon.
    assert grid.at(2 * DAY_S + 4000.0) == 0.0


def test_fixed_outages_merge_and_clip() -> None:
    grid = fixed_outages(1, [(100.0, 100.0), (0.0, 50.0), (150.0, 100.0), (DAY_S - 60.0, 3600.0)])
    assert outage_intervals(grid) == [(0.0, 50.0), (100.0, 250.0), (DAY_S - 60.0, DAY_S)]
    assert fixed_outages(1, [(0.0, 2 * DAY_S)]).resample(0.0, 600.0, 10).tolist() == [0.0] * 10


@pytest.mark.parametrize(
    ("outages", "message"),
    [
        ([(-1.0, 10.0)], "outage 1: start -1.0"),
        ([(0.0, 10.0), (DAY_S, 10.0)], "outage 2: start 86400.0"),
        ([(5.0, 0.0)], "outage 1: duration 0.0"),
        ([(5.0, float("nan"))], "outage 1: duration nan"),
    ],
)
def test_bad_fixed_outages(outages: list[tuple[float, float]], message: str) -> None:
    with pytest.raises(InputError, match=message):
        fixed_outages(1, outages)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"days": 0}, "days 0"),
        ({"days": 1, "outages_per_month": -1.0}, "outages_per_month"),
        ({"days": 1, "mean_outage_h": 0.0}, "mean_outage_h"),
    ],
)
def test_bad_arguments(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(InputError, match=message):
        grid_availability(seed=1, **kwargs)  # type: ignore[arg-type]
