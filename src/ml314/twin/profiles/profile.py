"""A time series that drives a scenario: PV power, household load, grid availability.

A profile repeats: past its end (or before its start) it wraps with period `period_s`, so a one-day or
one-year profile can drive a run of any length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from ml314.errors import InputError

FloatArray = npt.NDArray[np.float64]
ProfileKind = Literal["linear", "step"]
DAY_S = 86400.0
YEAR_DAYS = 365


@dataclass(frozen=True, eq=False)
class Profile:
    """Samples `value` at times `t_s` (seconds from scenario start, strictly increasing, finite).

    `kind="linear"` interpolates between samples; `kind="step"` holds each value until the next sample.
    `period_s` is the wrap period; `None` means `t_s[-1] - t_s[0]` plus the median spacing. A single
    sample is a constant. The arrays are stored as read-only float64 copies.
    """

    name: str
    unit: str
    t_s: FloatArray
    value: FloatArray
    kind: ProfileKind = "linear"
    period_s: float | None = None

    def __post_init__(self) -> None:
        t_s = _as_vector(self.t_s, f"profile {self.name!r}: t_s")
        value = _as_vector(self.value, f"profile {self.name!r}: value")
        where = f"profile {self.name!r}"
        if t_s.size == 0:
            raise InputError(f"{where}: no samples")
        if t_s.size != value.size:
            raise InputError(f"{where}: {t_s.size} times but {value.size} values")
        steps = np.diff(t_s)
        if steps.size and not np.all(steps > 0.0):
            k = int(np.argmin(steps > 0.0)) + 1
            raise InputError(f"{where}: time {t_s[k]:g} s at sample {k} does not increase")
        if self.kind not in ("linear", "step"):
            raise InputError(f"{where}: kind {self.kind!r} is not 'linear' or 'step'")
        span_s = float(t_s[-1] - t_s[0])
        period_s = span_s + float(np.median(steps)) if steps.size else 1.0
        if self.period_s is not None:
            if not (np.isfinite(self.period_s) and self.period_s > span_s):
                raise InputError(f"{where}: period {self.period_s:g} s must exceed the span {span_s:g} s")
            period_s = float(self.period_s)
        object.__setattr__(self, "t_s", t_s)
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "period_s", period_s)

    @property
    def duration_s(self) -> float:
        """Length of one period of the profile."""
        assert self.period_s is not None  # set in __post_init__
        return self.period_s

    def at(self, t_s: npt.ArrayLike) -> FloatArray:
        """Values at the times `t_s`, wrapping outside one period."""
        t = np.asarray(t_s, dtype=np.float64)
        if self.t_s.size == 1:
            return np.full(t.shape, self.value[0])
        t0 = self.t_s[0]
        wrapped = t0 + np.mod(t - t0, self.duration_s)
        if self.kind == "step":
            index = np.searchsorted(self.t_s, wrapped, side="right") - 1
            return np.asarray(self.value[index], dtype=np.float64)
        # The closing point makes the stretch from the last sample back to the first interpolate too.
        xp = np.append(self.t_s, t0 + self.duration_s)
        fp = np.append(self.value, self.value[0])
        return np.asarray(np.interp(wrapped, xp, fp), dtype=np.float64)

    def resample(self, start_s: float, dt_s: float, n: int) -> FloatArray:
        """`n` values at `start_s + k * dt_s`, k = 0..n-1."""
        if not (dt_s > 0.0 and np.isfinite(dt_s)):
            raise InputError(f"profile {self.name!r}: resample step {dt_s!r} s must be positive")
        if n < 0:
            raise InputError(f"profile {self.name!r}: resample count {n} is negative")
        return self.at(start_s + dt_s * np.arange(n, dtype=np.float64))

    @classmethod
    def constant(cls, name: str, unit: str, value: float) -> Profile:
        """A profile that is `value` at every time."""
        return cls(name, unit, np.zeros(1), np.full(1, float(value)))


def _as_vector(data: npt.ArrayLike, where: str) -> FloatArray:
    try:
        array = np.array(data, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: not numbers ({exc})") from None
    if array.ndim != 1:
        raise InputError(f"{where}: expected a 1-D array, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        k = int(np.argmin(np.isfinite(array)))
        raise InputError(f"{where}: sample {k} is {float(array[k])!r}, not finite")
    array.flags.writeable = False
    return array


def horizon_samples(days: int, start_day_of_year: int, dt_s: float) -> int:
    """Number of samples of a generated profile; rejects a bad horizon, start day or step."""
    if days < 1:
        raise InputError(f"days {days} must be at least 1")
    if not 1 <= start_day_of_year <= 366:
        raise InputError(f"start_day_of_year {start_day_of_year} is not in 1..366")
    if not (np.isfinite(dt_s) and 1.0 <= dt_s <= 3600.0):
        raise InputError(f"dt_s {dt_s!r} is not in 1..3600 s")
    return int(np.ceil(days * DAY_S / dt_s - 1e-9))


def day_of_year(start_day_of_year: int, day: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """1-based day of year (1..365) of scenario day `day` (0-based); day 366 folds onto day 1."""
    return np.mod(start_day_of_year - 1 + day, YEAR_DAYS) + 1
