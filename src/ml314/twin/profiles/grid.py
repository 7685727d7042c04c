"""Grid availability: 1.0 while the grid is up, 0.0 during an outage (a step profile).

The profile's period is the whole horizon, so a longer run repeats the same outages.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ml314.errors import InputError
from ml314.twin.profiles.profile import DAY_S, FloatArray, Profile

MONTH_DAYS = 365.25 / 12.0


def grid_availability(seed: int, days: int, outages_per_month: float = 1.0, mean_outage_h: float = 3.0) -> Profile:
    """Outages as a Poisson process (rate `outages_per_month`) with exponential durations.

    Outages that overlap merge into one; an outage running past the horizon is cut at its end.
    The same `seed` gives identical arrays.
    """
    _check_days(days)
    if not (np.isfinite(outages_per_month) and outages_per_month >= 0.0):
        raise InputError(f"outages_per_month {outages_per_month!r} must be a number >= 0")
    if not (np.isfinite(mean_outage_h) and mean_outage_h > 0.0):
        raise InputError(f"mean_outage_h {mean_outage_h!r} must be a positive number")
    rng = np.random.default_rng(seed)
    horizon_s = days * DAY_S
    count = int(rng.poisson(outages_per_month * days / MONTH_DAYS))
    starts = np.sort(rng.uniform(0.0, horizon_s, count))
    durations = rng.exponential(mean_outage_h * 3600.0, count)
    return _availability(days, starts, starts + durations)


def fixed_outages(days: int, outages: Sequence[tuple[float, float]]) -> Profile:
    """Grid availability with the given outages, each `(start_s, duration_s)` from the scenario start."""
    _check_days(days)
    horizon_s = days * DAY_S
    for k, (start_s, duration_s) in enumerate(outages, start=1):
        if not (np.isfinite(start_s) and 0.0 <= start_s < horizon_s):
            raise InputError(f"outage {k}: start {start_s!r} s is not within 0..{horizon_s:g} s")
        if not (np.isfinite(duration_s) and duration_s > 0.0):
            raise InputError(f"outage {k}: duration {duration_s!r} s must be positive")
    pairs = sorted((float(start), float(start) + float(duration)) for start, duration in outages)
    starts = np.array([start for start, _ in pairs], dtype=np.float64)
    ends = np.array([end for _, end in pairs], dtype=np.float64)
    return _availability(days, starts, ends)


def outage_intervals(profile: Profile) -> list[tuple[float, float]]:
    """The `(start_s, end_s)` outages within one period of an availability profile."""
    t_s, value = profile.t_s, profile.value
    period_end_s = float(t_s[0]) + profile.duration_s
    down = np.flatnonzero((value < 0.5) & np.append(True, value[:-1] >= 0.5))
    up = [int(np.argmax(value[k:] >= 0.5)) + k if np.any(value[k:] >= 0.5) else -1 for k in down]
    return [(float(t_s[d]), float(t_s[u]) if u >= 0 else period_end_s) for d, u in zip(down, up, strict=True)]


def _check_days(days: int) -> None:
    if days < 1:
        raise InputError(f"days {days} must be at least 1")


def _availability(days: int, starts: FloatArray, ends: FloatArray) -> Profile:
    """Step profile from sorted outage starts; overlapping or touching outages merge."""
    horizon_s = days * DAY_S
    times = [0.0]
    values = [1.0]
    merged_end = -1.0
    for start, end in zip(starts, np.minimum(ends, horizon_s), strict=True):
        if start <= merged_end:
            merged_end = max(merged_end, float(end))
            times[-1] = merged_end
            continue
        if start == 0.0:
            values[0] = 0.0
        else:
            times.append(float(start))
            values.append(0.0)
        merged_end = float(end)
        times.append(merged_end)
        values.append(1.0)
    if times[-1] >= horizon_s:  # the last outage lasts to the horizon: no restore point
        times.pop()
        values.pop()
    return Profile("grid availability", "1", np.array(times), np.array(values), "step", horizon_s)
