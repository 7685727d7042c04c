"""``ml314 sweep``: a sizing study, every case a full simulation, as Dask tasks on local processes or a cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ml314.cli.options import announce_compiling, given_options
from ml314.errors import InputError

#: options that are no part of the study: where it runs, where it writes, what it shows
SWEEP_CLI_ONLY = frozenset({"study", "out", "scheduler", "workers", "report", "quiet"})
SWEEP_RENAMES = {"link": "with_link", "sample": "sample_s"}
#: options that set an axis of the grid (comma-separated values)
GRID_OPTIONS = ("modules", "pv_kw", "load_kwh", "load_csv", "inverter_kw", "mode", "reserve", "weather",
                "ambient_c", "start_day", "years", "days")  # fmt: skip


def _axis(help_text: str) -> Any:
    """An option that sets an axis of the grid: comma-separated values."""
    return typer.Option(metavar="V,V,...", help=help_text)


def sweep_command(
    ctx: typer.Context,
    study: Annotated[
        Path | None, typer.Argument(metavar="STUDY.toml", help="the study file (docs/sweep.md); options override it")
    ] = None,
    out: Annotated[Path, typer.Option(metavar="DIR", help="output folder (a second run resumes it)")] = Path(
        "runs/sweep"
    ),
    scheduler: Annotated[
        str | None,
        typer.Option(metavar="tcp://HOST:8786", help="a running Dask scheduler (default: a local cluster)"),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(metavar="N", help="local worker processes (default: one per core)")
    ] = None,
    modules: Annotated[str | None, _axis("modules in parallel, 1..16, e.g. 1,2,4,8,16")] = None,
    pv_kw: Annotated[str | None, _axis("PV peak power in kW, e.g. 5,10")] = None,
    load_kwh: Annotated[str | None, _axis("annual household consumption in kWh")] = None,
    load_csv: Annotated[str | None, _axis("load profile CSVs (instead of --load-kwh)")] = None,
    inverter_kw: Annotated[str | None, _axis("inverter AC rating in kW")] = None,
    mode: Annotated[str | None, _axis("self-consumption and/or backup")] = None,
    reserve: Annotated[str | None, _axis("SOC kept for outages, 0..1")] = None,
    weather: Annotated[str | None, _axis("the climate's days: sunny, cloudy, mixed")] = None,
    ambient_c: Annotated[str | None, _axis("constant ambient in degC (default: the seasonal profile)")] = None,
    start_day: Annotated[str | None, _axis("day of year each case starts, 1..366")] = None,
    years: Annotated[str | None, _axis("simulated years per case (default 1)")] = None,
    days: Annotated[str | None, _axis("simulated days per case (instead of --years)")] = None,
    name: Annotated[str | None, typer.Option(metavar="TEXT", help="the study's name (report title)")] = None,
    seed: Annotated[int | None, typer.Option(metavar="N", help="seed of every case")] = None,
    sample: Annotated[
        str | None, typer.Option(metavar="DURATION", help="each case's time-series interval (default 1h)")
    ] = None,
    link: Annotated[
        bool | None,
        typer.Option("--link/--no-link", help="the bank link in every case (default: as simulate, on for 2+)"),
    ] = None,
    report: Annotated[bool, typer.Option(help="write report.html with plots")] = True,
    quiet: Annotated[bool, typer.Option(help="no progress bar")] = False,
) -> None:
    """Run every case of a sizing study; write results.parquet (a row per case) and report.html into --out."""
    if workers is not None and workers < 1:
        raise InputError(f"--workers {workers}: at least 1")
    if workers is not None and scheduler is not None:
        raise InputError("--workers: the cluster at --scheduler has its own workers")
    announce_compiling()
    from ml314.runtime.sweep import SweepInterrupted, sweep  # noqa: PLC0415 - Dask and numba load in a second
    from ml314.runtime.sweep_study import read_study  # noqa: PLC0415

    given = given_options(ctx, SWEEP_RENAMES, SWEEP_CLI_ONLY)
    overrides: dict[str, Any] = {k: v for k, v in given.items() if k not in GRID_OPTIONS}
    grid = {k: v for k, v in given.items() if k in GRID_OPTIONS}
    if grid:
        overrides["grid"] = grid
    spec = read_study(study, overrides)
    n_cases = len(spec.expand())
    console = Console(stderr=True)
    with Progress(
        TextColumn("[bold]sweep[/bold] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=quiet,
    ) as bar:
        task = bar.add_task(f"{n_cases} cases", total=None)
        failed = 0

        def progress(row: dict[str, Any], done: int, total: int) -> None:
            nonlocal failed
            failed += row.get("error") is not None
            note = f", {failed} failed" if failed else ""
            bar.update(task, completed=done, total=total, description=f"{total} cases to run{note}")
            if row.get("error") is not None:
                bar.console.print(f"case {row['case_id']} ({row['modules']} modules, {row['pv_kw']:g} kW PV) "
                                  f"failed: {row['error']}", markup=False, highlight=False)  # fmt: skip

        try:
            outcome = sweep(spec, out, scheduler=scheduler, workers=workers, progress=progress, report=report)
        except SweepInterrupted as stop:
            bar.stop()
            o = stop.outcome
            typer.echo(f"ml314: interrupted: {o.kept + o.ran} of {o.cases} cases kept in {out} "
                       "(run the same command again to resume)", err=True)  # fmt: skip
            raise typer.Exit(130) from None
    kept = f", {outcome.kept} kept from an earlier run" if outcome.kept else ""
    typer.echo(f"{outcome.cases} cases: {outcome.ran} run on {outcome.workers} worker(s) in {outcome.wall_s:.1f} s"
               f"{kept}; {outcome.failed} failed")  # fmt: skip
    typer.echo(f"table:  {outcome.table_path}")
    if outcome.report_path is not None:
        typer.echo(f"report: {outcome.report_path}")
    if outcome.failed:
        raise typer.Exit(1)
