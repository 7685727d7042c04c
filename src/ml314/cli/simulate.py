"""``ml314 simulate``: the system faster than real time over a scenario, with a report."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ml314.cli.durations import parse_duration_s
from ml314.errors import InputError

# The range the twin's physics stays finite in, with margin (it breaks down somewhere above 400 degC).
AMBIENT_RANGE_C = (-60.0, 100.0)


def _existing_file(path: Path | None, option: str) -> Path | None:
    if path is not None and not path.is_file():
        raise InputError(f"{option} {path}: no such file")
    return path


def int_list(text: str | None, option: str) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(x) for x in text.replace(" ", "").split(","))
    except ValueError:
        raise InputError(f"{option} {text!r}: comma-separated whole numbers, e.g. 1,2,3") from None


def float_list(text: str | None, option: str) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        values = tuple(float(x) for x in text.replace(" ", "").split(","))
    except ValueError:
        raise InputError(f"{option} {text!r}: comma-separated numbers, e.g. 314,314,280") from None
    if not all(math.isfinite(v) for v in values):
        raise InputError(f"{option} {text!r}: not finite numbers")
    return values


def flag_list(text: str | None, option: str) -> tuple[bool, ...] | None:
    words = {"1": True, "on": True, "0": False, "off": False}
    if text is None:
        return None
    out = []
    for x in text.replace(" ", "").lower().split(","):
        if x not in words:
            raise InputError(f"{option} {text!r}: comma-separated 1/0 (or on/off), one per module")
        out.append(words[x])
    return tuple(out)


def simulate_command(
    scenario: Annotated[str, typer.Option(help="home (PV, load, grid with outages) or lab (--experiment)")] = "home",
    modules: Annotated[int, typer.Option(help="modules in parallel, 1..16")] = 1,
    days: Annotated[float, typer.Option(help="simulated days (home scenario)")] = 1.0,
    out: Annotated[Path, typer.Option(help="output directory")] = Path("runs/simulate"),
    sample: Annotated[str, typer.Option(help="output interval: 1s, 10s, 1min, ...")] = "1min",
    dt: Annotated[str, typer.Option(help="simulation step")] = "1s",
    seed: Annotated[int, typer.Option(help="seed of every random draw; same seed, same run")] = 1,
    initial_soc: Annotated[float, typer.Option(help="initial SOC of every cell, 0..1")] = 0.5,
    start_day: Annotated[int, typer.Option(help="day of year the run starts (season)")] = 80,
    weather: Annotated[str, typer.Option(help="sunny, cloudy or mixed")] = "mixed",
    pv_kw: Annotated[float, typer.Option(help="PV peak power in kW")] = 8.0,
    load_kwh: Annotated[float, typer.Option(help="annual household consumption in kWh")] = 4500.0,
    load_csv: Annotated[Path | None, typer.Option(help="load profile CSV (time, power), 1 s to 1 h")] = None,
    pv_csv: Annotated[Path | None, typer.Option(help="PV profile CSV (time, power), 1 s to 1 h")] = None,
    outages: Annotated[float, typer.Option(help="grid outages per month (mean)")] = 1.0,
    outage_hours: Annotated[float, typer.Option(help="mean outage duration in hours")] = 3.0,
    inverter_kw: Annotated[float, typer.Option(help="inverter AC power rating in kW")] = 8.0,
    mode: Annotated[str, typer.Option(help="self-consumption or backup (manual 5.2)")] = "self-consumption",
    reserve: Annotated[float, typer.Option(help="SOC kept for outages in self-consumption mode, 0..1")] = 0.2,
    experiment: Annotated[
        str | None,
        typer.Option(help='lab steps, e.g. "charge 0.5C to 3.65 V; rest 1 h; discharge 0.5C to 2.5 V"'),
    ] = None,
    ambient: Annotated[float | None, typer.Option(help="constant ambient temperature in degC")] = None,
    fmt: Annotated[str, typer.Option("--format", help="time-series format: parquet or csv")] = "parquet",
    bms: Annotated[
        bool | None, typer.Option("--bms/--no-bms", help="run every module's BMS (default: on for home, off for lab)")
    ] = None,
    estimator: Annotated[str | None, typer.Option(help="BMS SOC estimator: adaptive (default), coulomb or ekf")] = None,
    protocol: Annotated[
        str | None,
        typer.Option(help="drive the home inverter through this protocol's codec: CAN:P14, RS485:P01, pylon-rs485 ..."),
    ] = None,
    link: Annotated[
        bool | None,
        typer.Option("--link/--no-link", help="modules talk over the framed bank link (default: on for 2+ modules)"),
    ] = None,
    ids: Annotated[
        str | None, typer.Option(help="DIP IDs of the modules in daisy-chain order, e.g. 1,2,3,4 (default 1..n)")
    ] = None,
    termination: Annotated[
        str | None, typer.Option(help="DIP switch 8 per module in chain order, e.g. 1,0,0,1 (default: the ends)")
    ] = None,
    link_baud: Annotated[int, typer.Option(help="baud rate of the bank link")] = 115_200,
    capacity_ah: Annotated[
        str | None,
        typer.Option(help="rated capacity per module, e.g. 314,314,280 (a mixed bank: caution 13.1 (5))"),
    ] = None,
    report: Annotated[bool, typer.Option(help="write report.html with plots")] = True,
    quiet: Annotated[bool, typer.Option(help="no progress bar")] = False,
) -> None:
    """Run the twin over a scenario faster than real time; write time series, summary.json and report.html."""
    numbers = {
        "--days": days,
        "--initial-soc": initial_soc,
        "--pv-kw": pv_kw,
        "--load-kwh": load_kwh,
        "--outages": outages,
        "--outage-hours": outage_hours,
        "--inverter-kw": inverter_kw,
        "--reserve": reserve,
        "--ambient": ambient,
    }
    for option, value in numbers.items():
        if value is not None and not math.isfinite(value):
            raise InputError(f"{option} {value}: not a finite number")
    if ambient is not None and not AMBIENT_RANGE_C[0] <= ambient <= AMBIENT_RANGE_C[1]:
        raise InputError(f"--ambient {ambient}: must be {AMBIENT_RANGE_C[0]:g}..{AMBIENT_RANGE_C[1]:g} degC")
    if fmt not in ("parquet", "csv"):
        raise InputError(f"--format {fmt!r}: parquet or csv")
    if mode not in ("self-consumption", "backup"):
        raise InputError(f"--mode {mode!r}: self-consumption or backup")
    if not inverter_kw > 0.0:
        raise InputError(f"--inverter-kw {inverter_kw}: must be positive")
    if not 0.0 <= reserve < 1.0:
        raise InputError(f"--reserve {reserve}: must be 0..1")
    if scenario == "lab" and not experiment:  # before the run creates --out
        raise InputError('--scenario lab needs --experiment "charge 0.5C to 3.65 V; rest 1 h; ..."')
    # Imported here: numba and matplotlib take most of a second, which `--help` and usage errors need not pay.
    from ml314.runtime.scenarios import SCENARIOS  # noqa: PLC0415
    from ml314.runtime.simulation import SimulationRequest, simulate  # noqa: PLC0415
    from ml314.twin.home import InverterSpec  # noqa: PLC0415

    request = SimulationRequest(
        scenario=scenario,
        modules=modules,
        days=days,
        dt_s=parse_duration_s(dt, "--dt"),
        sample_s=parse_duration_s(sample, "--sample"),
        seed=seed,
        initial_soc=initial_soc,
        start_day_of_year=start_day,
        weather=weather,
        pv_peak_kw=pv_kw,
        annual_load_kwh=load_kwh,
        load_csv=_existing_file(load_csv, "--load-csv"),
        pv_csv=_existing_file(pv_csv, "--pv-csv"),
        outages_per_month=outages,
        mean_outage_h=outage_hours,
        experiment=experiment,
        ambient_c=ambient,
        inverter=InverterSpec(max_power_w=inverter_kw * 1000.0, mode=mode, reserve_soc=reserve),  # type: ignore[arg-type]
        series_format=fmt,  # type: ignore[arg-type]
        bms=bms,
        estimator=estimator,
        protocol=protocol,
        link=link,
        module_ids=int_list(ids, "--ids"),
        termination=flag_list(termination, "--termination"),
        link_baud=link_baud,
        module_capacity_ah=float_list(capacity_ah, "--capacity-ah"),
    )
    request.validate()
    console = Console(stderr=True)
    with Progress(
        TextColumn("[bold]simulate[/bold] {task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f} %"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=quiet,
        transient=False,
    ) as bar:
        task = bar.add_task(f"{scenario}, {modules} module(s)", total=1.0)

        def progress(fraction: float, label: str) -> None:
            bar.update(task, completed=fraction, description=f"{scenario}, {modules} module(s), {label}")

        outcome = simulate(request, out, SCENARIOS, progress=progress, report=report)
    s = outcome.summary
    run = s["run"]
    typer.echo(
        f"simulated {run['simulated_days']:.2f} days of {modules} module(s) in {run['wall_time_s']:.1f} s "
        f"({run['realtime_factor']:,.0f} x real time)"
    )
    if "protocol" in s:
        p = s["protocol"]
        mode = f" (compatibility mode: {p['compatibility_mode']})" if p["compatibility_mode"] else ""
        typer.echo(
            f"protocol {p['code']}{mode}: {p['battery_frames']:,} battery frames, "
            f"{p['inverter_frames']:,} inverter frames in {p['periods']:,} periods"
        )
    if "bank_link" in s:
        bl = s["bank_link"]
        refresh = f"{bl['refresh_s']:.2f} s" if bl["refresh_s"] is not None else "-"
        typer.echo(
            f"bank link at {bl['baud']} baud: master ID {bl['master_id']}, {len(bl['online'])} of "
            f"{len(bl['members'])} members online at the end, refresh {refresh}"
        )
        for line in bl["faults"] + bl["warnings"]:
            typer.echo(f"  {line}")
    if "bms" in s:
        b = s["bms"]
        line = f"BMS SOC ({b['estimator']}): bound at the end +-{b['soc_bound_end_pct']:.1f} %"
        if b.get("bank_soc_error_end_pct") is not None:
            line += f", bank error against the twin {b['bank_soc_error_end_pct']:+.2f} %"
        requests = s.get("charge_requests")
        if requests is not None:
            line += (
                f"; full-charge requests {requests['full_charge_requests']}, granted "
                f"{requests['full_charges_granted']}, force-charge requests {requests['force_charge_requests']}"
            )
        typer.echo(line)
    typer.echo(f"time series: {outcome.series_path}")
    typer.echo(f"summary:     {outcome.summary_path}")
    if report:
        typer.echo(f"report:      {outcome.report_path}")
