"""A synthetic household load: standby, fridge cycles, daily activity and random appliance runs.

Day 0 of the year is a Monday (days 5 and 6 of each week are the weekend); clock time is local time.
Each sample is the mean power over `[t, t + dt_s)`, so appliance energy is exact at any resolution.
The model is scaled so that its expected energy over a year is `annual_kwh`; a one-year run matches it
to within the randomness of the appliance draws (about 1 %).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ml314.errors import InputError
from ml314.twin.profiles.profile import DAY_S, YEAR_DAYS, FloatArray, Profile, day_of_year, horizon_samples

STANDBY_W = 75.0
FRIDGE_W = 110.0
FRIDGE_PERIOD_S = 50.0 * 60.0
FRIDGE_DUTY = 0.35
WINTER_EXTRA = 0.3  # seasonal swing of activity and appliance use, highest in mid-January
WEEKEND_SHIFT_H = 1.5  # weekend mornings start later
NOISE_KNOT_S = 900.0


@dataclass(frozen=True)
class Appliance:
    """Runs of one appliance: phases (power_w, duration_s), runs per day, start hours (centre_h, sd_h)."""

    name: str
    phases: tuple[tuple[float, float], ...]
    per_weekday: float
    per_weekend_day: float
    start_hours: tuple[tuple[float, float], ...]

    @property
    def energy_j(self) -> float:
        return sum(power_w * duration_s for power_w, duration_s in self.phases)


APPLIANCES: tuple[Appliance, ...] = (
    Appliance("kettle", ((2000.0, 180.0),), 3.0, 4.0, ((7.0, 1.0), (12.5, 1.5), (17.0, 2.0))),
    Appliance("microwave", ((1000.0, 240.0),), 1.0, 1.0, ((12.5, 1.0), (19.0, 1.5))),
    Appliance("cooktop", ((1500.0, 1200.0),), 0.8, 1.2, ((12.0, 0.8), (18.5, 1.0))),
    Appliance("oven", ((2500.0, 900.0), (1200.0, 2700.0)), 0.25, 0.6, ((12.0, 1.0), (18.0, 1.0))),
    Appliance("washing machine", ((2000.0, 1200.0), (250.0, 4200.0)), 0.45, 1.0, ((9.0, 2.0), (17.0, 2.0))),
    Appliance("dishwasher", ((1800.0, 1500.0), (150.0, 3600.0)), 0.6, 0.8, ((13.5, 1.0), (20.5, 1.0))),
    Appliance("tumble dryer", ((2500.0, 3600.0),), 0.2, 0.5, ((11.0, 2.0), (19.0, 2.0))),
    Appliance("hair dryer", ((1800.0, 480.0),), 0.5, 0.6, ((6.8, 0.5), (20.0, 1.5))),
    Appliance("vacuum cleaner", ((1000.0, 1200.0),), 0.15, 0.5, ((10.5, 2.0),)),
)

# Lighting, TV, computers, small appliances: (centre_h, sd_h, amplitude_w).
ACTIVITY_WEEKDAY: tuple[tuple[float, float, float], ...] = (
    (6.8, 0.8, 450.0),
    (12.5, 1.2, 160.0),
    (19.5, 1.8, 750.0),
    (22.5, 0.8, 220.0),
)
ACTIVITY_WEEKEND: tuple[tuple[float, float, float], ...] = (
    (9.0, 1.5, 500.0),
    (13.0, 2.0, 360.0),
    (19.5, 2.0, 750.0),
    (23.0, 0.8, 220.0),
)


def household_load(
    seed: int,
    days: int,
    start_day_of_year: int = 1,
    annual_kwh: float = 4500.0,
    dt_s: float = 60.0,
) -> Profile:
    """Household power in W, `days` long at `dt_s` spacing; the same `seed` gives identical arrays."""
    n = horizon_samples(days, start_day_of_year, dt_s)
    if not (np.isfinite(annual_kwh) and annual_kwh > 0.0):
        raise InputError(f"annual_kwh {annual_kwh!r} must be a positive number")
    rng = np.random.default_rng(seed)
    scale = annual_kwh * 1000.0 / (YEAR_DAYS * 24.0) / _expected_mean_w()
    t_s = dt_s * np.arange(n, dtype=np.float64)
    mid_s = t_s + 0.5 * dt_s
    day = np.floor(mid_s / DAY_S).astype(np.int64)
    doy = day_of_year(start_day_of_year, day)
    weekend = _is_weekend(doy)
    hour = np.mod(mid_s, DAY_S) / 3600.0

    knots = 1.0 + 0.25 * rng.standard_normal(int(days * DAY_S / NOISE_KNOT_S) + 2)
    noise = np.clip(np.interp(mid_s, NOISE_KNOT_S * np.arange(knots.size), knots), 0.2, None)
    activity = np.where(weekend, _bumps(hour, ACTIVITY_WEEKEND), _bumps(hour, ACTIVITY_WEEKDAY))
    power_w = STANDBY_W + activity * noise * _season(doy)

    starts, powers, ends = _fridge_cycles(rng, days)
    event_starts, event_powers, event_ends = _appliance_runs(rng, days, start_day_of_year, scale)
    all_starts = np.concatenate((starts, event_starts))
    all_ends = np.concatenate((ends, event_ends))
    power_w += _box_means(t_s, dt_s, all_starts, all_ends, np.concatenate((powers, event_powers / scale)))
    return Profile("household load", "W", t_s, scale * power_w)


def _is_weekend(doy: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    return np.mod(doy - 1, 7) >= 5


def _season(doy: npt.ArrayLike) -> FloatArray:
    """Use factor of activity and appliances: 1 on average, +WINTER_EXTRA in mid-January."""
    return 1.0 + WINTER_EXTRA * np.cos(2.0 * np.pi * (np.asarray(doy, dtype=np.float64) - 15.0) / YEAR_DAYS)


def _bumps(hour: FloatArray, bumps: tuple[tuple[float, float, float], ...]) -> FloatArray:
    """Sum of Gaussian bumps in hour of day, wrapped around midnight."""
    total = np.zeros_like(hour)
    for centre_h, sd_h, amplitude_w in bumps:
        delta = np.mod(hour - centre_h + 12.0, 24.0) - 12.0
        total += amplitude_w * np.exp(-0.5 * (delta / sd_h) ** 2)
    return total


def _expected_mean_w() -> float:
    """Expected mean power of the unscaled model over one year."""
    hours = np.linspace(0.0, 24.0, 24 * 60, endpoint=False)
    doy = np.arange(1, YEAR_DAYS + 1)
    weekend = _is_weekend(doy)
    season = _season(doy)
    activity_w = np.where(weekend, _bumps(hours, ACTIVITY_WEEKEND).mean(), _bumps(hours, ACTIVITY_WEEKDAY).mean())
    runs_j = np.zeros(YEAR_DAYS)
    for a in APPLIANCES:
        runs_j += np.where(weekend, a.per_weekend_day, a.per_weekday) * a.energy_j
    daily_w = activity_w * season + runs_j * season / DAY_S
    return STANDBY_W + FRIDGE_W * FRIDGE_DUTY + float(daily_w.mean())


def _fridge_cycles(rng: np.random.Generator, days: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Compressor on-intervals: jittered periods, duty FRIDGE_DUTY on average."""
    count = int(1.3 * days * DAY_S / FRIDGE_PERIOD_S) + 4  # margin: jittered periods may run short
    periods = FRIDGE_PERIOD_S * rng.uniform(0.8, 1.2, count)
    cycle_starts = rng.uniform(0.0, FRIDGE_PERIOD_S) + np.concatenate(([0.0], np.cumsum(periods[:-1])))
    on_s = FRIDGE_DUTY * periods * rng.uniform(0.9, 1.1, count)
    starts = cycle_starts - FRIDGE_PERIOD_S
    return starts, np.full(count, FRIDGE_W), starts + on_s


def _appliance_runs(
    rng: np.random.Generator, days: int, start_day_of_year: int, scale: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Phase intervals of all appliance runs; run rates follow season and `scale`, power stays real."""
    doy = day_of_year(start_day_of_year, np.arange(days, dtype=np.int64))
    weekend = _is_weekend(doy)
    rate = _season(doy) * scale
    starts: list[FloatArray] = []
    powers: list[FloatArray] = []
    ends: list[FloatArray] = []
    for appliance in APPLIANCES:
        per_day = rate * np.where(weekend, appliance.per_weekend_day, appliance.per_weekday)
        counts = rng.poisson(per_day)
        day = np.repeat(np.arange(days), counts)
        total = int(counts.sum())
        centres = np.array([c for c, _ in appliance.start_hours])
        sds = np.array([s for _, s in appliance.start_hours])
        pick = rng.integers(0, centres.size, total)
        hour = centres[pick] + sds[pick] * rng.standard_normal(total)
        hour += np.where(weekend[day] & (centres[pick] < 12.0), WEEKEND_SHIFT_H, 0.0)
        t = day * DAY_S + np.mod(hour, 24.0) * 3600.0
        for power_w, duration_s in appliance.phases:
            starts.append(t)
            powers.append(np.full(total, power_w))
            ends.append(t + duration_s)
            t = t + duration_s
    return np.concatenate(starts), np.concatenate(powers), np.concatenate(ends)


def _box_means(t_s: FloatArray, dt_s: float, starts: FloatArray, ends: FloatArray, powers: FloatArray) -> FloatArray:
    """Mean over each `[t, t + dt_s)` of the sum of boxes `powers` on `[starts, ends)`.

    The integral C(t) = sum over breakpoints tau_j < t of w_j (t - tau_j) is evaluated with sorted
    cumulative sums, so any number of boxes costs one sort.
    """
    tau = np.concatenate((starts, ends))
    weight = np.concatenate((powers, -powers))
    order = np.argsort(tau, kind="stable")
    tau, weight = tau[order], weight[order]
    cum_w = np.concatenate(([0.0], np.cumsum(weight)))
    cum_wt = np.concatenate(([0.0], np.cumsum(weight * tau)))
    edges = np.append(t_s, t_s[-1] + dt_s)
    k = np.searchsorted(tau, edges, side="left")
    integral = edges * cum_w[k] - cum_wt[k]
    return np.diff(integral) / dt_s
