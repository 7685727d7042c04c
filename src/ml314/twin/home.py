"""The home energy system of manual 5.2 around the battery: PV, household load, grid, and a hybrid inverter.

Normally the grid (or PV) powers the load and charges the battery; when the grid fails the inverter switches
the load to the battery; when the grid returns it powers the load again and recharges the battery. The battery's
force-charge and full-charge requests are honoured in every mode (grid charging, no discharge, until they clear).
Two operating modes:

* ``self-consumption`` (the usual setting of a hybrid inverter): PV surplus charges the battery, the battery
  covers deficits down to ``reserve_soc`` while the grid is up, and keeps that reserve for outages; after an
  outage the grid recharges the battery to the reserve;
* ``backup`` (manual 5.2 read literally): the battery is kept full from PV and grid and discharges only during
  outages.

The per-second power balance runs inside the compiled kernel (``MODE_HOME``); this module holds the inverter's
ratings and the slow decisions (may the battery discharge, should the grid charge it) taken from the SOC the
battery reports.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from ml314.domain.limits import ChargeLimits
from ml314.twin import kernel as k
from ml314.twin.profiles.profile import Profile

HomeMode = Literal["self-consumption", "backup"]


@dataclass(frozen=True, slots=True)
class InverterSpec:
    """A hybrid inverter: AC power rating, conversion efficiency, own consumption, grid-charge power.

    ``charge_voltage_v`` is the inverter's own DC charge-voltage setting, an injectable fault (manual 12.2 #4): None
    (as installed) follows the battery's CVL; a value below it caps the voltage the inverter charges to, so the
    battery cannot be charged fully. The live engine (``runtime/live_bank.py``, ``ml314 run``) honours it every
    second; ``ml314 simulate``'s compiled loop keeps the battery's own limits (it imposes none per second)."""

    max_power_w: float = 8000.0
    efficiency: float = 0.96
    standby_w: float = 20.0
    grid_charge_w: float = 3000.0
    mode: HomeMode = "self-consumption"
    reserve_soc: float = 0.2
    recharge_band: float = 0.05
    charge_voltage_v: float | None = None

    def __post_init__(self) -> None:
        if not 0.5 <= self.efficiency <= 1.0:
            raise ValueError(f"inverter efficiency {self.efficiency} outside 0.5..1")
        if not 0.0 <= self.reserve_soc < 1.0:
            raise ValueError(f"reserve SOC {self.reserve_soc} outside 0..1")
        if self.charge_voltage_v is not None and not self.charge_voltage_v > 0.0:
            raise ValueError(f"inverter charge voltage {self.charge_voltage_v} V must be positive")

    def obeyed(self, limits: ChargeLimits | None) -> ChargeLimits | None:
        """The limits the inverter actually charges with: the battery's, its CVL capped by ``charge_voltage_v``."""
        if limits is None or self.charge_voltage_v is None or limits.cvl_v <= self.charge_voltage_v:
            return limits
        return replace(limits, cvl_v=self.charge_voltage_v)


@dataclass(frozen=True, slots=True)
class HomeDecision:
    """What the inverter does until its next decision; ``granting`` names the battery's request it is carrying
    out (``"full_charge"``, ``"force_charge"``) or is empty."""

    discharge_allowed: bool
    grid_charge_w: float
    recharging: bool
    granting: str = ""


class HomeController:
    """The inverter's slow control: reserve and grid recharge, with hysteresis so it does not flap."""

    def __init__(self, spec: InverterSpec) -> None:
        self.spec = spec
        self._decision = HomeDecision(discharge_allowed=True, grid_charge_w=0.0, recharging=False)

    def decide(self, reported_soc: float, *, full_charge: bool = False, force_charge: bool = False) -> HomeDecision:
        """Decide from the SOC the battery reports (0..1) and its requests.

        As hybrid inverters do with a BMS on CAN (Victron, Deye, Growatt, SMA with Pylontech-style flags), in
        either mode: a force-charge request charges the battery from the grid at ``grid_charge_w`` and stops it
        discharging until the flag clears; a full-charge request does the same until the battery reports the full
        charge done (PV first: the grid charge adds to what PV gives, within the inverter's rating and the CCL).
        """
        if force_charge or full_charge:
            granting = "force_charge" if force_charge else "full_charge"
            decision = HomeDecision(False, self.spec.grid_charge_w, self._decision.recharging, granting)
            self._decision = decision
            return decision
        s = self.spec
        recharging = self._decision.recharging
        if s.mode == "backup":
            target = 0.98
            if reported_soc < target - s.recharge_band:
                recharging = True
            elif reported_soc >= target:
                recharging = False
            decision = HomeDecision(False, s.grid_charge_w if recharging else 0.0, recharging)
        else:
            if reported_soc < s.reserve_soc - s.recharge_band:
                recharging = True
            elif reported_soc >= s.reserve_soc:
                recharging = False
            decision = HomeDecision(reported_soc > s.reserve_soc, s.grid_charge_w if recharging else 0.0, recharging)
        self._decision = decision
        return decision

    def kernel_parameters(self, decision: HomeDecision) -> np.ndarray:
        """The decision as the kernel's home-parameter row."""
        hp = np.zeros(k.HP_ROWS)
        hp[k.HP_MAX_POWER_W] = self.spec.max_power_w
        hp[k.HP_EFFICIENCY] = self.spec.efficiency
        hp[k.HP_DISCHARGE_ALLOWED] = float(decision.discharge_allowed)
        hp[k.HP_GRID_CHARGE_W] = decision.grid_charge_w
        hp[k.HP_STANDBY_W] = self.spec.standby_w
        return hp


def with_mode(spec: InverterSpec, mode: HomeMode) -> InverterSpec:
    """A copy of ``spec`` in another operating mode."""
    return replace(spec, mode=mode)


def ambient_profile(days: int, start_day_of_year: int, mean_c: float = 17.0) -> Profile:
    """Temperature where a wall battery hangs (garage, utility room): seasonal swing 6 K, daily swing 1.5 K."""
    t_s = np.arange(0.0, days * 86400.0 + 3600.0, 3600.0)
    doy = start_day_of_year + t_s / 86400.0
    seasonal = -6.0 * np.cos(2.0 * np.pi * (doy - 15.0) / 365.25)
    daily = -1.5 * np.cos(2.0 * np.pi * (t_s / 86400.0 - 4.0 / 24.0))
    return Profile("ambient", "degC", t_s, mean_c + seasonal + daily)


def grid_without_battery(
    load: Profile, pv: Profile, grid: Profile, duration_s: float, dt_s: float = 60.0
) -> tuple[float, float]:
    """(grid import J, grid export J) of the same home with PV and no battery over ``duration_s``: the load is
    served by PV first and the grid for the rest, the PV surplus is exported; during an outage (grid 0) nothing
    flows to or from the grid. The reference a battery's savings are counted against (sampled at ``dt_s``)."""
    n = max(1, round(duration_s / dt_s))
    net_w = load.resample(0.0, dt_s, n) - pv.resample(0.0, dt_s, n)
    up = grid.resample(0.0, dt_s, n) > 0.5
    imported = float(np.sum(np.where(up, np.maximum(net_w, 0.0), 0.0))) * dt_s
    exported = float(np.sum(np.where(up, np.maximum(-net_w, 0.0), 0.0))) * dt_s
    return imported, exported
