"""``ml314 simulate``: the system faster than real time over a scenario, with a report."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ml314.cli.options import announce_compiling, given_options
from ml314.errors import InputError

#: command-line options whose configuration field (SimulationRequest) has another name
SIMULATE_RENAMES = {
    "dt": "dt_s",
    "sample": "sample_s",
    "start_day": "start_day_of_year",
    "pv_kw": "pv_peak_kw",
    "load_kwh": "annual_load_kwh",
    "outages": "outages_per_month",
    "outage_hours": "mean_outage_h",
    "ambient": "ambient_c",
    "fmt": "series_format",
    "ids": "module_ids",
    "capacity_ah": "module_capacity_ah",
}
#: options that are no part of the configuration (where to write, how to show it)
SIMULATE_CLI_ONLY = frozenset({"out", "report", "quiet", "config", "months"})
#: defaults of a scenario for the options not given (a stored battery changes over months, not seconds)
SCENARIO_DEFAULTS: dict[str, dict[str, float]] = {"storage": {"dt_s": 60.0, "sample_s": 3600.0, "days": 365.25}}

if TYPE_CHECKING:
    from ml314.runtime.simulation import SimulationOutcome

# The range the twin's physics stays finite in, with margin (it breaks down somewhere above 400 degC).
AMBIENT_RANGE_C = (-60.0, 100.0)


def _say_what_was_kept(outcome: SimulationOutcome, days: float) -> None:
    """After Ctrl-C: what was simulated and which files hold it."""
    run = outcome.summary["run"]
    typer.echo(f"ml314: interrupted after {run['simulated_days']:.3f} of {days:g} simulated days; kept:", err=True)
    typer.echo(f"  time series up to then ({run['rows']:,} rows): {outcome.series_path}", err=True)
    typer.echo(f'  summary of that part ("interrupted": true):  {outcome.summary_path}', err=True)
    typer.echo("  no report (run again to the end for report.html)", err=True)


def fault_line(fault: dict[str, object]) -> str:
    """One fault record of ``summary.json`` as a line: severity, kind, module, details, the manual's section."""
    where = f" M{fault['module_id']}" if fault.get("module_id") is not None else ""
    link = f" {fault['link']}" if fault.get("link") else ""
    return f"{fault['severity']}: {fault['kind']}{where}{link}: {fault['details']} [manual {fault['manual_ref']}]"


def _print_storage(st: dict[str, Any]) -> None:
    """The storage scenario's story: SOC by month, the reminders, the advice."""
    typer.echo(f"storage {st['class']} at {st['ambient_c']:g} degC, target SOC {st['target_soc_pct']:.0f} %:")
    typer.echo("  SOC at month end: " + ", ".join(f"{m['month']}: {m['soc_pct']:.1f} %" for m in st["months"]))
    for r in st["reminders"]:
        typer.echo(
            f"  recharge reminder due on day {r['due_day']:.0f}: SOC {r['soc_before_pct']:.1f} % -> "
            f"{r['soc_after_pct']:.1f} % ({r['top_up_ah']:.0f} Ah in {r['top_up_h']:.1f} h)"
        )
    if st["next_reminder_day"] is not None:
        typer.echo(f"  next reminder on day {st['next_reminder_day']:.0f}")
    typer.echo(
        f"  self-discharge {st['soc_loss_pct_per_month']:.2f} % SOC a month; without the recharges the SOC would be "
        f"{st['soc_without_recharge_pct']:.1f} %"
    )
    for line in st["findings"]:
        typer.echo(f"  check: {line}")
    for line in st["advice"]:
        typer.echo(f"  advice: {line}")


def simulate_command(
    ctx: typer.Context,
    scenario: Annotated[
        str,
        typer.Option(
            metavar="home|lab|storage",
            help="home (PV, load, grid with outages), lab (--experiment) or storage (months on a shelf, --months)",
        ),
    ] = "home",
    modules: Annotated[int, typer.Option(metavar="N", help="modules in parallel, 1..16")] = 1,
    days: Annotated[float, typer.Option(metavar="DAYS", help="simulated days (home scenario)")] = 1.0,
    months: Annotated[
        float | None, typer.Option(metavar="MONTHS", help="simulated months (instead of --days; storage scenario)")
    ] = None,
    out: Annotated[Path, typer.Option(metavar="DIR", help="output directory")] = Path("runs/simulate"),
    sample: Annotated[str, typer.Option(metavar="DURATION", help="output interval: 1s, 10s, 1min, ...")] = "1min",
    dt: Annotated[str, typer.Option(metavar="DURATION", help="simulation step")] = "1s",
    seed: Annotated[int, typer.Option(metavar="N", help="seed of every random draw; same seed, same run")] = 1,
    initial_soc: Annotated[float, typer.Option(metavar="SOC", help="initial SOC of every cell, 0..1")] = 0.5,
    start_day: Annotated[int, typer.Option(metavar="DAY", help="day of year the run starts (season)")] = 80,
    weather: Annotated[str, typer.Option(metavar="sunny|cloudy|mixed", help="sunny, cloudy or mixed")] = "mixed",
    pv_kw: Annotated[float, typer.Option(metavar="KW", help="PV peak power in kW")] = 8.0,
    load_kwh: Annotated[float, typer.Option(metavar="KWH", help="annual household consumption in kWh")] = 4500.0,
    load_csv: Annotated[
        Path | None, typer.Option(metavar="CSV", help="load profile CSV (time, power), 1 s to 1 h")
    ] = None,
    pv_csv: Annotated[Path | None, typer.Option(metavar="CSV", help="PV profile CSV (time, power), 1 s to 1 h")] = None,
    outages: Annotated[float, typer.Option(metavar="N", help="grid outages per month (mean)")] = 1.0,
    outage_hours: Annotated[float, typer.Option(metavar="HOURS", help="mean outage duration in hours")] = 3.0,
    inverter_kw: Annotated[float, typer.Option(metavar="KW", help="inverter AC power rating in kW")] = 8.0,
    mode: Annotated[
        str, typer.Option(metavar="MODE", help="self-consumption or backup (manual 5.2)")
    ] = "self-consumption",
    reserve: Annotated[
        float, typer.Option(metavar="SOC", help="SOC kept for outages in self-consumption mode, 0..1")
    ] = 0.2,
    experiment: Annotated[
        str | None,
        typer.Option(
            metavar="STEPS", help='lab steps, e.g. "charge 0.5C to 3.65 V; rest 1 h; discharge 0.5C to 2.5 V"'
        ),
    ] = None,
    ambient: Annotated[float | None, typer.Option(metavar="DEGC", help="constant ambient temperature in degC")] = None,
    fmt: Annotated[
        str, typer.Option("--format", metavar="parquet|csv", help="time-series format: parquet or csv")
    ] = "parquet",
    bms: Annotated[
        bool | None, typer.Option("--bms/--no-bms", help="run every module's BMS (default: on for home, off for lab)")
    ] = None,
    estimator: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help="BMS SOC estimator by its registry name (default: the parameter set's); a wrong name lists them",
        ),
    ] = None,
    protocol: Annotated[
        str | None,
        typer.Option(
            metavar="CODE",
            help="drive the home inverter through this protocol's codec: CAN:P14, RS485:P01, pylon-rs485 ...",
        ),
    ] = None,
    link: Annotated[
        bool | None,
        typer.Option("--link/--no-link", help="modules talk over the framed bank link (default: on for 2+ modules)"),
    ] = None,
    ids: Annotated[
        str | None,
        typer.Option(
            metavar="ID,ID,...", help="DIP IDs of the modules in daisy-chain order, e.g. 1,2,3,4 (default 1..n)"
        ),
    ] = None,
    termination: Annotated[
        str | None,
        typer.Option(
            metavar="1|0,...", help="DIP switch 8 per module in chain order, e.g. 1,0,0,1 (default: the ends)"
        ),
    ] = None,
    link_baud: Annotated[int, typer.Option(metavar="BAUD", help="baud rate of the bank link")] = 115_200,
    link_bytes: Annotated[
        bool,
        typer.Option(
            "--link-bytes",
            help="run the bank link byte by byte every second (slow; default: by events, docs/bank_link.md)",
        ),
    ] = False,
    capacity_ah: Annotated[
        str | None,
        typer.Option(
            metavar="AH,AH,...", help="rated capacity per module, e.g. 314,314,280 (a mixed bank: caution 13.1 (5))"
        ),
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="continue the bank a finished run saved in this output directory (same --modules, --seed)",
        ),
    ] = None,
    report: Annotated[bool, typer.Option(help="write report.html with plots")] = True,
    quiet: Annotated[bool, typer.Option(help="no progress bar")] = False,
    config: Annotated[
        Path, typer.Option(metavar="FILE", help="settings file: its [simulate] table, overridden by the options given")
    ] = Path("ml314.toml"),
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
    announce_compiling()  # before the imports below, which take a second or more
    # Imported here: numba and matplotlib take most of a second, which `--help` and usage errors need not pay.
    from ml314.runtime.config import simulation_request  # noqa: PLC0415
    from ml314.runtime.scenarios import SCENARIOS  # noqa: PLC0415
    from ml314.runtime.simulation import SimulationInterrupted, simulate  # noqa: PLC0415

    overrides = given_options(ctx, SIMULATE_RENAMES, SIMULATE_CLI_ONLY)
    if months is not None:
        if "days" in overrides:
            raise InputError("--months and --days: give one of them")
        if not (math.isfinite(months) and months > 0.0):
            raise InputError(f"--months {months}: must be a positive number")
        from ml314.diagnostics.storage_advice import DAYS_PER_MONTH  # noqa: PLC0415

        overrides["days"] = months * DAYS_PER_MONTH
    for field, value in SCENARIO_DEFAULTS.get(overrides.get("scenario", scenario), {}).items():
        overrides.setdefault(field, value)
    inverter = {
        field: overrides.pop(option) * scale
        for option, field, scale in (("inverter_kw", "max_power_w", 1000.0), ("reserve", "reserve_soc", 1))
        if option in overrides
    }
    if "mode" in overrides:
        inverter["mode"] = overrides.pop("mode")
    if inverter:
        overrides["inverter"] = inverter
    request = simulation_request(config, overrides)  # the one configuration: [simulate], then the options given
    scenario, modules = request.scenario, request.modules
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

        try:
            outcome = simulate(request, out, SCENARIOS, progress=progress, report=report)
        except SimulationInterrupted as stop:
            bar.stop()
            _say_what_was_kept(stop.outcome, request.days)
            raise typer.Exit(130) from None
    s = outcome.summary
    run = s["run"]
    for note in s.get("notes", []):
        if note.startswith("resumed from"):
            typer.echo(note)
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
            f"bank link at {bl['baud']} baud: master ID {bl['master_id']}, {bl['modules_online']} of "
            f"{bl['modules']} modules online at the end, refresh {refresh}"
        )
        for fault in bl["faults"] + bl["warnings"]:
            typer.echo(f"  {fault_line(fault)}")
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
    if "storage" in s:
        _print_storage(s["storage"])
    typer.echo(f"time series: {outcome.series_path}")
    typer.echo(f"summary:     {outcome.summary_path}")
    if report:
        typer.echo(f"report:      {outcome.report_path}")
