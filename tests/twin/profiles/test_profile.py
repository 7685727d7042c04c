"""Profile: validation, interpolation, step hold, wrapping, speed."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ml314.errors import InputError
from ml314.twin.profiles import Profile


def make(t: list[float], v: list[float], **kw: object) -> Profile:
    return Profile("p", "W", np.array(t), np.array(v), **kw)  # type: ignore[arg-type]


def test_linear_interpolation_inside() -> None:
    p = make([0.0, 10.0, 20.0], [0.0, 100.0, 0.0])
    assert p.resample(0.0, 5.0, 5).tolist() == [0.0, 50.0, 100.0, 50.0, 0.0]


def test_wraps_with_period_span_plus_median_spacing() -> None:
    p = make([0.0, 10.0, 20.0], [0.0, 100.0, 200.0])
    assert p.duration_s == 30.0
    # 25 s lies between the last sample (200) and the wrapped first (0 at 30 s).
    assert p.resample(25.0, 5.0, 4).tolist() == [100.0, 0.0, 50.0, 100.0]
    assert p.at(-10.0) == pytest.approx(p.at(20.0))


def test_step_kind_holds_values() -> None:
    p = make([0.0, 100.0, 160.0], [1.0, 0.0, 1.0], kind="step", period_s=1000.0)
    got = p.resample(0.0, 20.0, 10).tolist()
    assert got == [1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0]
    assert p.at(1099.0) == 1.0  # wraps to 99 s, before the drop at 100 s
    assert p.at(1100.0) == 0.0


def test_single_point_is_constant() -> None:
    p = Profile.constant("grid", "1", 1.0)
    assert p.resample(-5.0, 1e6, 3).tolist() == [1.0, 1.0, 1.0]


def test_arrays_are_read_only_copies() -> None:
    t = np.array([0.0, 1.0])
    p = Profile("p", "W", t, np.array([1.0, 2.0]))
    t[0] = 5.0
    assert p.t_s[0] == 0.0
    with pytest.raises(ValueError, match="read-only"):
        p.value[0] = 3.0


@pytest.mark.parametrize(
    ("t", "v", "kw", "message"),
    [
        ([0.0, 1.0], [1.0], {}, "2 times but 1 values"),
        ([], [], {}, "no samples"),
        ([0.0, 2.0, 1.0], [1.0, 1.0, 1.0], {}, "sample 2 does not increase"),
        ([0.0, 0.0], [1.0, 1.0], {}, "does not increase"),
        ([0.0, 1.0], [1.0, float("nan")], {}, "sample 1 is nan, not finite"),
        ([0.0, float("inf")], [1.0, 1.0], {}, "not finite"),
        ([0.0, 10.0], [1.0, 1.0], {"period_s": 5.0}, "must exceed the span"),
        ([0.0, 10.0], [1.0, 1.0], {"kind": "cubic"}, "kind 'cubic'"),
    ],
)
def test_bad_profiles_raise_input_error(t: list[float], v: list[float], kw: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        make(t, v, **kw)


def test_bad_resample_arguments() -> None:
    p = make([0.0, 1.0], [1.0, 2.0])
    with pytest.raises(InputError, match="positive"):
        p.resample(0.0, 0.0, 3)
    with pytest.raises(InputError, match="negative"):
        p.resample(0.0, 1.0, -1)


@given(
    st.lists(st.floats(-1e4, 1e4), min_size=2, max_size=30),
    st.floats(-1e6, 1e6),
    st.integers(0, 5),
)
def test_wrapping_is_periodic(values: list[float], start_s: float, periods: int) -> None:
    t = np.cumsum(np.linspace(1.0, 3.0, len(values)))
    for kind in ("linear", "step"):
        p = Profile("p", "W", t, np.array(values), kind=kind)
        a = p.resample(start_s, 0.7, 50)
        b = p.resample(start_s + periods * p.duration_s, 0.7, 50)
        # A step profile may flip at a sample that lands (within rounding) on a breakpoint.
        phase = np.mod(start_s + 0.7 * np.arange(50) - t[0], p.duration_s) + t[0]
        clear = np.min(np.abs(phase[:, None] - np.append(t, t[0] + p.duration_s)), axis=1) > 1e-6
        if kind == "linear":
            clear[:] = True
        tol = 1e-6 * (1.0 + np.abs(a).max())
        np.testing.assert_allclose(a[clear], b[clear], atol=tol, rtol=0.0)
        lo, hi = min(values), max(values)
        assert np.all((a >= lo - 1e-9) & (a <= hi + 1e-9))


def test_resampling_past_the_end_wraps_to_the_same_day() -> None:
    t = np.arange(0.0, 365 * 86400.0, 60.0)
    p = Profile("year", "W", t, np.sin(t / 1e4) + 1.0)
    wrapped = p.resample(p.duration_s + 35 * 86400.0, 1.0, 86400)
    np.testing.assert_allclose(wrapped, p.resample(35 * 86400.0, 1.0, 86400), rtol=0.0, atol=1e-9)
