"""The BMS's own OCV table of the cell (``bms/data/ocv_lfp.csv``: the cell maker's curve, columns SOC, OCV, HystV).

One loader, validated, for every part of the BMS that converts a relaxed voltage to SOC (balancing, SOC).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from importlib import resources

import numpy as np

from ml314.errors import ConfigError


@dataclass(frozen=True, slots=True)
class OcvTable:
    """Mean pseudo-OCV of one cell vs SOC (strictly increasing); ``hyst_v`` is the measured hysteresis half-gap."""

    soc: tuple[float, ...]
    ocv_v: tuple[float, ...]
    hyst_v: tuple[float, ...]


def load_ocv_table(name: str = "ocv_lfp.csv") -> OcvTable:
    """The BMS's own OCV table ``bms/data/<name>`` (columns SOC,OCV,HystV). Raises ConfigError if invalid."""
    text = resources.files("ml314.bms").joinpath("data").joinpath(name).read_text(encoding="utf-8")
    rows = [r for r in csv.DictReader(io.StringIO(text)) if r and not next(iter(r.values()), "").startswith("#")]
    try:
        table = OcvTable(
            soc=tuple(float(r["SOC"]) for r in rows),
            ocv_v=tuple(float(r["OCV"]) for r in rows),
            hyst_v=tuple(float(r["HystV"]) for r in rows),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"bms/data/{name}: expected numeric columns SOC,OCV,HystV ({exc})") from exc
    if len(rows) < 2 or np.any(np.diff(table.soc) <= 0.0) or np.any(np.diff(table.ocv_v) <= 0.0):
        raise ConfigError(f"bms/data/{name}: SOC and OCV must increase strictly, at least 2 rows")
    return table
