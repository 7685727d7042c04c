"""The "charge and discharge maintenance" of Table 12-3 as a guided shallow test: a light-load, shallow
discharge and charge (or charge and discharge) at most 20 % of the rated depth and of the rated power, read with the
PC software's values (SOC, SOH), and a verdict on whether SOC and SOH are normal.

The plan is two legs of the same charge with a rest after each; the verdict compares what the BMS reports with what
was counted on the legs:

- **SOC normal** when each leg moved the reported SOC by the counted charge over the reported full capacity within
  ``soc_tolerance_pp`` percent points, and the SOC came back to where it started within the same;
- **SOH normal** when the reported SOH is at least ``soh_min_pct`` and the capacity the test implies (counted charge
  over reported SOC change) agrees with the reported full capacity within ``capacity_tolerance``;
- alongside: the cell spread at rest (at most 80 mV: above it a pack is unbalanced, bms.md 5.3) and any alarm.

Pure: readings in, a verdict out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from ml314.domain.spec import ML314, ProductSpec

__all__ = ["MAX_FRACTION", "ShallowReading", "ShallowTestPlan", "ShallowVerdict", "evaluate", "plan_shallow_test"]

#: Table 12-3: depth of discharge and charge/discharge power "should not exceed 20 % of the rated value"
MAX_FRACTION = 0.20
#: the SOC kept clear of either end while testing
SOC_MARGIN = 0.10


@dataclass(frozen=True)
class ShallowTestPlan:
    """Two legs of ``ah`` each at ``current_a`` (bank), first ``first`` then the other way, ``rest_s`` after each."""

    first: Literal["discharge", "charge"]
    current_a: float
    ah: float
    rest_s: float
    depth_fraction: float
    power_fraction: float

    def steps(self) -> tuple[str, ...]:
        """The guided steps as a technician follows them."""
        other = "charge" if self.first == "discharge" else "discharge"
        hours = self.ah / self.current_a
        return (
            "Read SOC and SOH in the PC software and note them (the test reads them itself).",
            f"Set the inverter to {self.first} at {self.current_a:.0f} A ({self.power_fraction * 100:.0f} % of the"
            f" rated power) and {self.first} {self.ah:.0f} Ah ({self.depth_fraction * 100:.0f} % of the rated"
            f" capacity), about {hours:.1f} h.",
            f"Rest {self.rest_s / 60:.0f} min; read SOC again.",
            f"{other.capitalize()} the same {self.ah:.0f} Ah at {self.current_a:.0f} A; rest"
            f" {self.rest_s / 60:.0f} min; read SOC and SOH.",
            "Compare (ml314 does): the SOC moved by the charge counted, came back, SOH and capacity agree.",
        )


def plan_shallow_test(
    soc: float,
    modules: int,
    *,
    depth: float = MAX_FRACTION,
    power: float = MAX_FRACTION,
    rest_s: float = 1800.0,
    spec: ProductSpec = ML314,
) -> ShallowTestPlan:
    """The plan for a bank of ``modules`` at ``soc`` (0..1): discharge first when there is room below, else charge
    first; the depth shrinks to keep ``SOC_MARGIN`` from either end. Raises ValueError above 20 % or without room."""
    if not (0.0 < depth <= MAX_FRACTION and 0.0 < power <= MAX_FRACTION):
        raise ValueError(f"depth and power must be above 0 and at most {MAX_FRACTION * 100:.0f} % (Table 12-3)")
    room_down = soc - SOC_MARGIN
    room_up = 1.0 - SOC_MARGIN - soc
    first: Literal["discharge", "charge"] = "discharge" if room_down >= room_up or room_down >= depth else "charge"
    used = min(depth, max(room_down, room_up))
    if used < 0.02:
        raise ValueError(f"SOC {soc * 100:.0f} %: no room for a shallow test")
    rated_power_w = spec.nominal_voltage_v * spec.max_discharge_current_a * modules
    current = power * rated_power_w / spec.nominal_voltage_v
    return ShallowTestPlan(first, current, used * spec.capacity_ah * modules, rest_s, used, power)


@dataclass(frozen=True)
class ShallowReading:
    """What the PC software shows at one point of the test (the bank)."""

    soc_pct: float
    soh_pct: float
    full_capacity_ah: float
    cell_min_v: float
    cell_max_v: float
    alarms: tuple[str, ...] = ()


@dataclass(frozen=True)
class ShallowVerdict:
    """Whether SOC and SOH are normal, and the lines that say why."""

    soc_normal: bool
    soh_normal: bool
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        """One-line result for the maintenance record."""
        soc = "SOC normal" if self.soc_normal else "SOC abnormal"
        soh = "SOH normal" if self.soh_normal else "SOH abnormal"
        return f"{soc}, {soh}"


def evaluate(
    plan: ShallowTestPlan,
    readings: tuple[ShallowReading, ShallowReading, ShallowReading],
    counted_ah: tuple[float, float],
    *,
    soc_tolerance_pp: float = 3.0,
    soh_min_pct: float = 80.0,
    capacity_tolerance: float = 0.2,
    spread_max_v: float = 0.080,
) -> ShallowVerdict:
    """The verdict from the readings at the start, after the first leg and after the second, and the charge counted
    on each leg (Ah, positive)."""
    r0, r1, r2 = readings
    sign = -1.0 if plan.first == "discharge" else 1.0
    lines: list[str] = []
    soc_ok = True
    for n, (a, b, ah, s) in enumerate(((r0, r1, counted_ah[0], sign), (r1, r2, counted_ah[1], -sign)), start=1):
        expected = s * 100.0 * ah / max(a.full_capacity_ah, 1e-9)
        moved = b.soc_pct - a.soc_pct
        ok = abs(moved - expected) <= soc_tolerance_pp
        soc_ok &= ok
        lines.append(
            f"leg {n}: {ah:.1f} Ah counted, SOC moved {moved:+.1f} % (expected {expected:+.1f} %): "
            + ("normal" if ok else f"off by more than {soc_tolerance_pp:g} %")
        )
    back = r2.soc_pct - r0.soc_pct
    if abs(back) > soc_tolerance_pp:
        soc_ok = False
        lines.append(f"SOC did not come back: {r0.soc_pct:.1f} % -> {r2.soc_pct:.1f} %")
    moved1 = abs(r1.soc_pct - r0.soc_pct)
    implied = 100.0 * counted_ah[0] / moved1 if moved1 > 0.5 else float("nan")
    cap_ok = math.isfinite(implied) and abs(implied / r0.full_capacity_ah - 1.0) <= capacity_tolerance
    soh_ok = r2.soh_pct >= soh_min_pct and cap_ok
    lines.append(
        f"SOH {r2.soh_pct:.0f} % ({'normal' if r2.soh_pct >= soh_min_pct else f'below {soh_min_pct:.0f} %'}); "
        f"capacity implied by the test {implied:.0f} Ah against {r0.full_capacity_ah:.0f} Ah reported"
        + ("" if cap_ok else f" (more than {capacity_tolerance * 100:.0f} % apart)")
    )
    spread = max(r.cell_max_v - r.cell_min_v for r in readings)
    lines.append(
        f"cell spread at rest up to {spread * 1000:.0f} mV"
        + (" (balanced enough)" if spread <= spread_max_v else f" (above {spread_max_v * 1000:.0f} mV: unbalanced)")
    )
    alarms = sorted({a for r in readings for a in r.alarms})
    if alarms:
        lines.append("alarms during the test: " + ", ".join(alarms))
    return ShallowVerdict(soc_ok, soh_ok, tuple(lines))
