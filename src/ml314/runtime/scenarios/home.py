"""The home energy system of manual 5.2 driving the bank: PV, household load, grid outages, a hybrid inverter."""

from __future__ import annotations

import math

import numpy as np

from ml314.domain.limits import spec_limits
from ml314.runtime.simulation import SimulationContext, SimulationRequest
from ml314.storage.profile_csv import load_profile_csv
from ml314.twin import kernel as k
from ml314.twin.home import HomeController, ambient_profile
from ml314.twin.profiles import Profile, grid_availability, household_load, pv_generation


def home_profiles(req: SimulationRequest) -> tuple[Profile, Profile, Profile, Profile]:
    """Load, PV, grid availability and ambient temperature: the user's CSVs or the seeded generators."""
    days = max(1, math.ceil(req.days))
    load = (
        load_profile_csv(req.load_csv, "load")
        if req.load_csv is not None
        else household_load(req.seed, days, req.start_day_of_year, annual_kwh=req.annual_load_kwh)
    )
    pv = (
        load_profile_csv(req.pv_csv, "pv")
        if req.pv_csv is not None
        else pv_generation(req.seed + 1, days, req.start_day_of_year, peak_kw=req.pv_peak_kw, weather=req.weather)  # type: ignore[arg-type]
    )
    grid = grid_availability(req.seed + 2, days, req.outages_per_month, req.mean_outage_h)
    ambient = (
        Profile.constant("ambient", "degC", req.ambient_c)
        if req.ambient_c is not None
        else ambient_profile(days, req.start_day_of_year)
    )
    return load, pv, grid, ambient


class HomeScenario:
    """The home energy system of manual 5.2."""

    def prepare(self, request: SimulationRequest) -> tuple[Profile, Profile, Profile, Profile]:
        """Read the CSVs or generate the profiles."""
        return home_profiles(request)

    def run(self, ctx: SimulationContext, plan: tuple[Profile, Profile, Profile, Profile]) -> None:
        """Drive the bank through the home system for ``request.days``."""
        run_home(ctx, plan)


def run_home(ctx: SimulationContext, plan: tuple[Profile, Profile, Profile, Profile]) -> None:
    """Drive the bank through the home system for ``request.days``."""
    req = ctx.request
    load, pv, grid, ambient = plan
    controller = HomeController(req.inverter)
    limits = spec_limits(req.modules)
    total = round(req.days * 86400.0 / req.dt_s)
    profiles = ((k.IN_AMBIENT_C, ambient), (k.IN_PV_W, pv), (k.IN_LOAD_W, load), (k.IN_GRID_UP, grid))
    # Resample a day of inputs at a time: one interpolation per day instead of one per chunk.
    day_steps = ctx.chunk_steps * max(1, round(86400.0 / req.dt_s) // ctx.chunk_steps)
    day = np.zeros((k.IN_ROWS, day_steps))
    day_start = -day_steps
    done = round(ctx.elapsed_s / req.dt_s)  # the BMS's power-on second, if it ran, is part of the run
    outages = 0
    was_up = True
    requests = RequestCounter()
    while done < total:
        if done >= day_start + day_steps:
            day_start = done
            for row, profile in profiles:
                day[row] = profile.resample(day_start * req.dt_s, req.dt_s, day_steps)
        n = min(ctx.chunk_steps, total - done, day_start + day_steps - done)
        block = day[:, done - day_start : done - day_start + n]
        ups = block[k.IN_GRID_UP] > 0.5
        outages += int(was_up and not ups[0]) + int((ups[:-1] & ~ups[1:]).sum())
        was_up = bool(ups[-1])
        # the inverter decides from the SOC the battery reports (the BMS's estimate when the BMS runs)
        full, force = ctx.battery_requests()
        requests.update(full, force)
        decision = controller.decide(ctx.reported_soc(), full_charge=full, force_charge=force)
        done += ctx.run(n, k.MODE_HOME, block, limits, home=controller.kernel_parameters(decision))
        if ctx.progress is not None:
            ctx.progress(done / total, f"day {ctx.t_s / 86400.0:.1f}")
    requests.update(*ctx.battery_requests())
    ctx.extra["outages"] = {"count": outages}
    if ctx.system is not None:
        ctx.extra["charge_requests"] = requests.summary()


class RequestCounter:
    """The battery's full-charge and force-charge requests as the inverter saw them at its decisions: how many
    were raised, and how many full charges were granted (a full-charge request the battery cleared, which it does
    only at a full charge)."""

    def __init__(self) -> None:
        self.full = False
        self.force = False
        self.full_requests = 0
        self.full_granted = 0
        self.force_requests = 0

    def update(self, full: bool, force: bool) -> None:
        """The flags at one decision."""
        self.full_requests += int(full and not self.full)
        self.full_granted += int(self.full and not full)
        self.force_requests += int(force and not self.force)
        self.full, self.force = full, force

    def summary(self) -> dict[str, int | bool]:
        """The counts for ``summary.json``."""
        return {
            "full_charge_requests": self.full_requests,
            "full_charges_granted": self.full_granted,
            "full_charge_request_open_at_end": self.full,
            "force_charge_requests": self.force_requests,
        }
