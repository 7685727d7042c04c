"""Household load: reproducible, calibrated to the annual energy, shaped like a home."""

import numpy as np
import pytest

from ml314.errors import InputError
from ml314.twin.profiles import household_load


def test_same_seed_same_arrays_other_seed_differs() -> None:
    a = household_load(seed=7, days=3)
    b = household_load(seed=7, days=3)
    c = household_load(seed=8, days=3)
    np.testing.assert_array_equal(a.value, b.value)
    np.testing.assert_array_equal(a.t_s, b.t_s)
    assert not np.array_equal(a.value, c.value)
    assert a.unit == "W"


@pytest.mark.parametrize("annual_kwh", [2500.0, 4500.0, 9000.0])
def test_one_year_matches_annual_energy(annual_kwh: float) -> None:
    load = household_load(seed=1, days=365, annual_kwh=annual_kwh)
    energy_kwh = load.value.sum() * 60.0 / 3.6e6
    assert energy_kwh == pytest.approx(annual_kwh, rel=0.03)


def test_shape_and_bounds() -> None:
    load = household_load(seed=2, days=28, dt_s=60.0)
    assert load.t_s.size == 28 * 1440
    assert np.all(np.diff(load.t_s) == 60.0)
    assert load.value.min() > 30.0  # standby and fridge never stop
    assert load.value.max() < 15_000.0
    hourly = load.value.reshape(28, 24, 60).mean(axis=(0, 2))
    assert hourly[19] > 2.0 * hourly[3]  # evening peak over the night
    assert hourly[7] > 1.5 * hourly[3]  # morning peak


def test_kettle_runs_show_as_short_two_kilowatt_steps() -> None:
    load = household_load(seed=3, days=14, dt_s=60.0)
    jumps = np.diff(load.value)
    assert np.sum((jumps > 1500.0) & (jumps < 2600.0)) > 14  # several appliance starts a day


def test_weekend_differs_from_weekday() -> None:
    load = household_load(seed=4, days=364, dt_s=600.0)
    daily = load.value.reshape(52, 7, 144)
    weekday_morning = daily[:, :5, 6 * 6 : 8 * 6].mean()
    weekend_morning = daily[:, 5:, 6 * 6 : 8 * 6].mean()
    weekday_noon = daily[:, :5, 12 * 6 : 15 * 6].mean()
    weekend_noon = daily[:, 5:, 12 * 6 : 15 * 6].mean()
    assert weekday_morning > weekend_morning  # weekend starts later
    assert weekend_noon > weekday_noon  # and people are home at midday


def test_more_in_winter_than_in_summer() -> None:
    january = household_load(seed=5, days=31, start_day_of_year=1).value.mean()
    july = household_load(seed=5, days=31, start_day_of_year=182).value.mean()
    assert january > 1.2 * july


def test_energy_is_independent_of_resolution() -> None:
    fine = household_load(seed=6, days=2, dt_s=60.0)
    coarse = household_load(seed=6, days=2, dt_s=900.0)
    # Same random draws: the appliance runs are integrated exactly into each sample.
    assert fine.value.mean() == pytest.approx(coarse.value.mean(), rel=0.01)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"days": 0}, "days 0"),
        ({"days": 1, "start_day_of_year": 0}, "start_day_of_year 0"),
        ({"days": 1, "annual_kwh": -1.0}, "annual_kwh"),
        ({"days": 1, "annual_kwh": float("nan")}, "annual_kwh"),
        ({"days": 1, "dt_s": 0.5}, "dt_s 0.5"),
    ],
)
def test_bad_arguments(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(InputError, match=message):
        household_load(seed=1, **kwargs)  # type: ignore[arg-type]
