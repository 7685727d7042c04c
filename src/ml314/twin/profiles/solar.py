"""PV generation: clear-sky irradiance from solar geometry, times a clear-sky index from the weather.

Clock time is local solar time (noon at 12:00). The array faces south, tilted at `|latitude| - 10`
degrees. Clear sky: Meinel beam attenuation with the Kasten-Young air mass, plus isotropic diffuse.
Weather: each day has a type (sunny, partly cloudy, overcast) from a Markov chain; partly cloudy days
alternate clear and shaded spells of exponential length, which gives the fast ramps a battery sees.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from ml314.errors import InputError
from ml314.twin.profiles.profile import DAY_S, FloatArray, Profile, day_of_year, horizon_samples

Weather = Literal["sunny", "cloudy", "mixed"]

SOLAR_CONSTANT_W_M2 = 1361.0
STC_W_M2 = 1000.0
SYSTEM_DERATE = 0.85  # inverter, wiring, temperature and soiling losses
DIFFUSE_FRACTION = 0.12  # diffuse irradiance as a share of beam on a clear day
SUNNY, PARTLY, OVERCAST = 0, 1, 2

# Day-type Markov chains: row = today, column = tomorrow, order SUNNY, PARTLY, OVERCAST.
DAY_TYPE_CHAINS: dict[str, tuple[tuple[float, float, float], ...]] = {
    "sunny": ((1.0, 0.0, 0.0), (1.0, 0.0, 0.0), (1.0, 0.0, 0.0)),
    "cloudy": ((0.2, 0.3, 0.5), (0.1, 0.4, 0.5), (0.05, 0.25, 0.7)),
    "mixed": ((0.5, 0.3, 0.2), (0.25, 0.45, 0.3), (0.15, 0.35, 0.5)),
}
# Clear-sky index per day type: (daily mean, daily spread); partly cloudy adds the spells below.
DAY_TYPE_INDEX: tuple[tuple[float, float], ...] = ((0.97, 0.02), (1.0, 0.0), (0.22, 0.08))
CLEAR_SPELL_MEAN_S = 600.0
SHADE_SPELL_MEAN_S = 360.0
SHADE_INDEX = 0.3
OVERCAST_KNOT_S = 1800.0


def pv_generation(
    seed: int,
    days: int,
    start_day_of_year: int = 1,
    *,
    peak_kw: float = 8.0,
    latitude_deg: float = 48.0,
    weather: Weather = "mixed",
    dt_s: float = 60.0,
) -> Profile:
    """PV AC power in W (>= 0, 0 at night), `days` long at `dt_s`; the same `seed` gives identical arrays."""
    n = horizon_samples(days, start_day_of_year, dt_s)
    if not (np.isfinite(peak_kw) and peak_kw >= 0.0):
        raise InputError(f"peak_kw {peak_kw!r} must be a number >= 0")
    if not (np.isfinite(latitude_deg) and -66.0 <= latitude_deg <= 66.0):
        raise InputError(f"latitude_deg {latitude_deg!r} is not in -66..66 (polar days are not modelled)")
    if weather not in DAY_TYPE_CHAINS:
        raise InputError(f"weather {weather!r} is not one of {', '.join(DAY_TYPE_CHAINS)}")
    rng = np.random.default_rng(seed)
    t_s = dt_s * np.arange(n, dtype=np.float64)
    mid_s = t_s + 0.5 * dt_s
    day = np.floor(mid_s / DAY_S).astype(np.int64)
    irradiance = clear_sky_poa_w_m2(mid_s, day_of_year(start_day_of_year, day), latitude_deg)
    day_types = _day_types(rng, days, DAY_TYPE_CHAINS[weather])
    index = _clear_sky_index(rng, mid_s, day, day_types)
    power_w = peak_kw * 1000.0 * SYSTEM_DERATE * irradiance * index / STC_W_M2
    return Profile("pv generation", "W", t_s, np.clip(power_w, 0.0, peak_kw * 1000.0))


def clear_sky_poa_w_m2(t_s: FloatArray, day_of_year: npt.ArrayLike, latitude_deg: float) -> FloatArray:
    """Clear-sky irradiance on the south-facing array at solar time `t_s` (mod one day); 0 at night."""
    doy = np.asarray(day_of_year, dtype=np.float64)
    declination = np.radians(23.44) * np.sin(2.0 * np.pi * (284.0 + doy) / 365.0)
    hour_angle = np.radians(15.0 * (np.mod(t_s, DAY_S) / 3600.0 - 12.0))
    lat = np.radians(latitude_deg)
    sin_elev = np.sin(lat) * np.sin(declination) + np.cos(lat) * np.cos(declination) * np.cos(hour_angle)
    up = sin_elev > 0.0
    elev_deg = np.degrees(np.arcsin(np.clip(sin_elev, 0.0, 1.0)))
    air_mass = 1.0 / (np.clip(sin_elev, 1e-6, None) + 0.50572 * (elev_deg + 6.07995) ** -1.6364)
    beam = SOLAR_CONSTANT_W_M2 * 0.7 ** (air_mass**0.678)
    tilt = np.radians(np.clip(abs(latitude_deg) - 10.0, 0.0, 60.0))
    # The array faces the equator: it sees the sun as a flat plane would at latitude - tilt.
    plane_lat = lat - np.sign(lat) * tilt
    cos_incidence = np.sin(plane_lat) * np.sin(declination) + np.cos(plane_lat) * np.cos(declination) * np.cos(
        hour_angle
    )
    diffuse = DIFFUSE_FRACTION * beam * sin_elev * (1.0 + np.cos(tilt)) / 2.0
    poa = beam * np.clip(cos_incidence, 0.0, None) + diffuse
    return np.where(up, poa, 0.0)


def _day_types(
    rng: np.random.Generator, days: int, chain: tuple[tuple[float, float, float], ...]
) -> npt.NDArray[np.int64]:
    """Day types drawn from the Markov `chain`, starting from its stationary distribution."""
    matrix = np.array(chain)
    values, vectors = np.linalg.eig(matrix.T)
    stationary = np.abs(np.real(vectors[:, int(np.argmin(np.abs(values - 1.0)))]))
    cumulative = np.cumsum(matrix, axis=1)
    draws = rng.random(days + 1)
    types = np.empty(days, dtype=np.int64)
    state = int(np.searchsorted(np.cumsum(stationary / stationary.sum()), draws[0], side="right"))
    for k in range(days):
        types[k] = min(state, 2)
        state = int(np.searchsorted(cumulative[types[k]], draws[k + 1], side="right"))
    return types


def _clear_sky_index(
    rng: np.random.Generator, mid_s: FloatArray, day: npt.NDArray[np.int64], types: npt.NDArray[np.int64]
) -> FloatArray:
    """Clear-sky index per sample: daily level by day type, spells on partly cloudy days."""
    days = types.size
    table = np.array(DAY_TYPE_INDEX)
    level = table[types, 0] + table[types, 1] * rng.standard_normal(days)
    index = level[day]
    # Overcast: slow wandering of the cloud deck.
    knots = 1.0 + 0.35 * rng.standard_normal(int(days * DAY_S / OVERCAST_KNOT_S) + 2)
    wander = np.interp(mid_s, OVERCAST_KNOT_S * np.arange(knots.size), knots)
    index = np.where(types[day] == OVERCAST, index * wander, index)
    # Partly cloudy: alternating clear and shaded spells of random depth.
    mean_spell_s = 0.5 * (CLEAR_SPELL_MEAN_S + SHADE_SPELL_MEAN_S)
    count = int(1.5 * days * DAY_S / mean_spell_s) + 16
    spells = rng.exponential(1.0, count) * np.where(np.arange(count) % 2 == 0, CLEAR_SPELL_MEAN_S, SHADE_SPELL_MEAN_S)
    edges = np.cumsum(spells)
    shaded = np.searchsorted(edges, mid_s, side="right") % 2 == 1
    depth = SHADE_INDEX + 0.15 * rng.standard_normal(count)
    spell_index = np.where(shaded, np.clip(depth[np.searchsorted(edges, mid_s) % count], 0.1, 0.8), 1.0)
    index = np.where(types[day] == PARTLY, spell_index, index)
    return np.clip(index, 0.0, 1.1)
