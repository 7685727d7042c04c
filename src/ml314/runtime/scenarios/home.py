"""The home energy system of manual 5.2 driving the bank: PV, household load, grid outages, a hybrid inverter."""

from __future__ import annotations

import math

import numpy as np

from ml314.domain.limits import spec_limits
from ml314.runtime.simulation import SimulationContext, SimulationRequest
from ml314.storage.profile_csv import load_profile_csv
from ml314.twin import kernel as k
from ml314.twin.home import HomeController, ambient_profile
from ml314.twin.scenarios import Profile, grid_availability, household_load, pv_generation


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
        decision = controller.decide(ctx.reported_soc())
        done += ctx.run(n, k.MODE_HOME, block, limits, home=controller.kernel_parameters(decision))
        if ctx.progress is not None:
            ctx.progress(done / total, f"day {ctx.t_s / 86400.0:.1f}")
    ctx.extra["outages"] = {"count": outages}
