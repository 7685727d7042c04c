"""PV generation: solar geometry, seasons, weather, reproducibility."""

from typing import get_args

import numpy as np
import pytest

from ml314.errors import InputError
from ml314.twin.profiles import pv_generation
from ml314.twin.profiles.solar import Weather, clear_sky_poa_w_m2


def daily_kwh(values: np.ndarray, dt_s: float = 60.0) -> float:
    return float(values.sum() * dt_s / 3.6e6)


def test_same_seed_same_arrays() -> None:
    a = pv_generation(seed=3, days=5)
    b = pv_generation(seed=3, days=5)
    np.testing.assert_array_equal(a.value, b.value)
    assert not np.array_equal(a.value, pv_generation(seed=4, days=5).value)
    assert a.unit == "W"


def test_zero_at_night_never_negative_never_above_peak() -> None:
    pv = pv_generation(seed=1, days=365, peak_kw=8.0)
    assert pv.value.min() == 0.0
    assert pv.value.max() <= 8000.0
    hour = np.mod(pv.t_s, 86400.0) / 3600.0
    night = (hour < 3.0) | (hour >= 21.0)
    assert np.all(pv.value[night] == 0.0)
    # At 48 degrees north the sun is down before 7:00 and after 17:00 in late December.
    december = pv_generation(seed=1, days=1, start_day_of_year=355)
    december_hour = np.mod(december.t_s, 86400.0) / 3600.0
    assert np.all(december.value[(december_hour < 7.0) | (december_hour > 17.0)] == 0.0)


def test_summer_beats_winter_at_latitude_48() -> None:
    summer = pv_generation(seed=1, days=1, start_day_of_year=172, weather="sunny", latitude_deg=48.0)
    winter = pv_generation(seed=1, days=1, start_day_of_year=355, weather="sunny", latitude_deg=48.0)
    assert daily_kwh(summer.value) > 2.0 * daily_kwh(winter.value)
    june = pv_generation(seed=9, days=30, start_day_of_year=152).value.mean()
    december = pv_generation(seed=9, days=30, start_day_of_year=335).value.mean()
    assert june > 2.0 * december


def test_clear_day_peaks_near_solar_noon_with_plausible_yield() -> None:
    pv = pv_generation(seed=1, days=1, start_day_of_year=172, weather="sunny", peak_kw=1.0)
    assert 11.5 <= pv.t_s[int(np.argmax(pv.value))] / 3600.0 <= 12.5
    assert 5.0 < daily_kwh(pv.value) < 8.0  # kWh per kWp on a clear June day in central Europe


def test_annual_yield_by_weather() -> None:
    yields = {
        weather: pv_generation(seed=2, days=365, weather=weather, peak_kw=1.0).value.mean() * 8.76
        for weather in get_args(Weather)
    }
    assert yields["sunny"] > yields["mixed"] > yields["cloudy"]
    assert 850.0 < yields["mixed"] < 1350.0  # kWh/kWp at 48 N, as in southern Germany


def test_partly_cloudy_days_have_fast_ramps() -> None:
    sunny = pv_generation(seed=5, days=30, start_day_of_year=150, weather="sunny")
    mixed = pv_generation(seed=5, days=30, start_day_of_year=150, weather="mixed")
    assert np.abs(np.diff(mixed.value)).max() > 2000.0  # a cloud edge: kW within a minute
    assert np.abs(np.diff(sunny.value)).max() < 500.0


def test_southern_hemisphere_has_seasons_reversed() -> None:
    june = pv_generation(seed=1, days=1, start_day_of_year=172, weather="sunny", latitude_deg=-35.0)
    december = pv_generation(seed=1, days=1, start_day_of_year=355, weather="sunny", latitude_deg=-35.0)
    assert daily_kwh(december.value) > daily_kwh(june.value)


def test_clear_sky_is_zero_below_horizon() -> None:
    t = np.array([0.0, 6.0, 12.0, 23.0]) * 3600.0
    poa = clear_sky_poa_w_m2(t, np.full(4, 172), 48.0)
    assert poa[0] == 0.0 and poa[3] == 0.0
    assert 800.0 < poa[2] < 1100.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"days": 0}, "days 0"),
        ({"days": 1, "peak_kw": -1.0}, "peak_kw"),
        ({"days": 1, "latitude_deg": 80.0}, "latitude_deg 80.0"),
        ({"days": 1, "weather": "rainy"}, "weather 'rainy'"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        pv_generation(seed=1, **kwargs)  # type: ignore[arg-type]
