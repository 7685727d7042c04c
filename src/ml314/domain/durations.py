"""Durations as people type them: ``1s``, ``10s``, ``1min``, ``2h``, ``1d``, or plain seconds."""

from __future__ import annotations

import re

from ml314.errors import InputError

_UNITS_S = {"s": 1.0, "sec": 1.0, "min": 60.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*$")


def parse_duration_s(text: str, option: str) -> float:
    """Seconds in ``text``; an :class:`InputError` naming ``option`` if it is not a duration."""
    match = _PATTERN.match(text.lower())
    if match is None or match.group(2) not in ("", *_UNITS_S):
        raise InputError(f"{option} {text!r}: not a duration (examples: 1s, 10s, 1min, 1h)")
    value = float(match.group(1)) * _UNITS_S.get(match.group(2), 1.0)
    if value <= 0.0:
        raise InputError(f"{option} {text!r}: must be positive")
    return value
