"""Read a scenario profile from a two-column CSV file (time, value).

Time is seconds (a number) or ISO-8601 timestamps (made relative to the first row). A header row is
optional; a unit in the value column's header (`power_kw`, `load [kW]`, `kW`) converts to W. The
delimiter is ',', ';' or a tab; with ';' a decimal comma is accepted. Spacing must be 1 s to 1 h.
"""

from __future__ import annotations

import csv
import math
import re
from datetime import datetime
from pathlib import Path

import numpy as np

from ml314.errors import InputError
from ml314.twin.profiles.profile import Profile

MIN_SPACING_S = 1.0
MAX_SPACING_S = 3600.0
# header unit -> (SI unit, factor)
HEADER_UNITS: dict[str, tuple[str, float]] = {"w": ("W", 1.0), "kw": ("W", 1e3)}
ENERGY_UNITS = ("wh", "kwh")
_HEADER_UNIT_RE = re.compile(r"(?:^|[\s_\[(/-])([a-z]+)[\])]?\s*$")


def load_profile_csv(path: Path, name: str, unit: str = "W") -> Profile:
    """The profile in `path`; every problem raises `InputError` naming the file, line and value."""
    label = path.name
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise InputError(f"{label}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{label}: not UTF-8 text (byte {exc.start})") from None
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise InputError(f"{label}: the file is empty")
    delimiter = _delimiter(lines[0][1])
    rows = [(n, [field.strip() for field in fields]) for n, fields in _split(lines, delimiter)]
    factor = 1.0
    first_n, first = rows[0]
    if len(first) >= 2 and _number(first[1], delimiter) is None:
        factor = _header_factor(label, first_n, first[1], unit)
        rows = rows[1:]
    if not rows:
        raise InputError(f"{label}: no data rows after the header on line {first_n}")
    times: list[float] = []
    values: list[float] = []
    origin: datetime | None = None
    for n, fields in rows:
        where = f"{label} line {n}"
        if len(fields) < 2 or not fields[1]:
            raise InputError(f"{where}: expected 2 columns (time, value), got {delimiter.join(fields)!r}")
        t_s = _number(fields[0], delimiter)
        if t_s is None:
            stamp = _timestamp(fields[0])
            if stamp is None or (times and origin is None):
                raise InputError(f"{where}: {fields[0]!r} is not a number of seconds or an ISO-8601 time")
            origin = origin or stamp
            try:
                t_s = (stamp - origin).total_seconds()
            except TypeError:
                raise InputError(f"{where}: {fields[0]!r} mixes time zones with the first row") from None
        elif origin is not None:
            raise InputError(f"{where}: {fields[0]!r} is a number, earlier rows are ISO-8601 times")
        value = _number(fields[1], delimiter)
        if value is None:
            raise InputError(f"{where}: {fields[1]!r} is not a number")
        for field, number in ((fields[0], t_s), (fields[1], value)):
            if not math.isfinite(number):
                raise InputError(f"{where}: {field!r} is not a finite number")
        if unit == "W" and value < 0.0:
            raise InputError(f"{where}: {fields[1]!r} is negative; power must be >= 0")
        if times:
            _check_spacing(where, fields[0], t_s - times[-1])
        times.append(t_s)
        values.append(value * factor)
    return Profile(name, unit, np.array(times), np.array(values))


def _delimiter(first_line: str) -> str:
    for delimiter in ("\t", ";"):
        if delimiter in first_line:
            return delimiter
    return ","


def _split(lines: list[tuple[int, str]], delimiter: str) -> list[tuple[int, list[str]]]:
    reader = csv.reader((line for _, line in lines), delimiter=delimiter)
    return [(n, fields) for (n, _), fields in zip(lines, reader, strict=True)]


def _number(field: str, delimiter: str) -> float | None:
    if delimiter == ";":
        field = field.replace(",", ".")
    try:
        return float(field)
    except ValueError:
        return None


def _timestamp(field: str) -> datetime | None:
    try:
        return datetime.fromisoformat(field)
    except ValueError:
        return None


def _check_spacing(where: str, field: str, spacing_s: float) -> None:
    if spacing_s <= 0.0:
        raise InputError(f"{where}: time {field!r} does not increase")
    if spacing_s < MIN_SPACING_S:
        raise InputError(f"{where}: time {field!r} is only {spacing_s:g} s after the row before (minimum 1 s)")
    if spacing_s > MAX_SPACING_S:
        raise InputError(f"{where}: time {field!r} is {spacing_s:g} s after the row before (maximum 3600 s)")


def _header_factor(label: str, line: int, header: str, unit: str) -> float:
    """Scale from the unit named at the end of the value column's header to `unit`; 1 if none."""
    match = _HEADER_UNIT_RE.search(header.lower())
    named = match.group(1) if match else ""
    if named in ENERGY_UNITS:
        raise InputError(f"{label} line {line}: column {header!r} is energy; give power (W or kW)")
    if named in HEADER_UNITS and unit == HEADER_UNITS[named][0]:
        return HEADER_UNITS[named][1]
    return 1.0
