"""``parse_duration_s``: durations as people type them, or an InputError naming the option."""

from __future__ import annotations

import pytest

from ml314.cli.durations import parse_duration_s
from ml314.errors import InputError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),
        ("10s", 10.0),
        ("1min", 60.0),
        ("1h", 3600.0),
        ("1d", 86400.0),
        ("2.5", 2.5),
        ("0.5s", 0.5),
        ("10 sec", 10.0),
        (" 2H ", 7200.0),
        (".5min", 30.0),
    ],
)
def test_durations_in_seconds(text: str, seconds: float) -> None:
    assert parse_duration_s(text, "--sample") == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["0", "0s", "0.0min"])
def test_zero_is_refused_as_not_positive(text: str) -> None:
    with pytest.raises(InputError, match=r"^--dt .*must be positive"):
        parse_duration_s(text, "--dt")


@pytest.mark.parametrize("text", ["abc", "5 parsecs", "", "1x", "-1s", "1e3s", "1 h 2", "nan", "inf"])
def test_non_durations_name_the_option_and_the_text(text: str) -> None:
    with pytest.raises(InputError, match=r"not a duration") as caught:
        parse_duration_s(text, "--sample")
    message = str(caught.value)
    assert message.startswith("--sample ")
    assert repr(text) in message
    assert "\n" not in message
