"""``ml314 maintenance``: the routine maintenance of Table 12-3 (due dates, reminders, the record of work done in
the data dir), the shallow charge/discharge test, and the storage advice of 8.1.3 and 13.1 (10)."""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from ml314.errors import InputError

maintenance_app = typer.Typer(
    help="Routine maintenance (manual Table 12-3): what is due, record work done, the shallow test, storage advice.",
    no_args_is_help=False,
    invoke_without_command=True,
    rich_markup_mode=None,
)

DataDirOption = Annotated[
    Path,
    typer.Option(metavar="DIR", envvar="ML314_DATA_DIR", help="the device's data dir (maintenance.json is kept there)"),
]


def _date_s(text: str, option: str) -> float:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{option} {text!r}: a date as YYYY-MM-DD (or YYYY-MM-DDTHH:MM)") from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def _day(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, UTC).strftime("%Y-%m-%d")


def _log(data_dir: Path) -> Any:
    from ml314.storage.maintenance_log import MAINTENANCE_FILE, MaintenanceLog  # noqa: PLC0415

    return MaintenanceLog(data_dir / MAINTENANCE_FILE, time.time())


@maintenance_app.callback(invoke_without_command=True)
def status_command(
    ctx: typer.Context,
    data_dir: DataDirOption = Path("ml314-data"),
    as_json: Annotated[bool, typer.Option("--json", help="the schedule as JSON")] = False,
) -> None:
    """What is due: every item of Table 12-3 with its due date, and the reminders."""
    if ctx.invoked_subcommand is not None:
        return
    from ml314.diagnostics.maintenance import reminders, schedule  # noqa: PLC0415

    log = _log(data_dir)
    dues = schedule(log.start_s, log.records, time.time(), log.stored_since_s)
    if as_json:
        doc = {
            "start": _day(log.start_s),
            "stored_since": None if log.stored_since_s is None else _day(log.stored_since_s),
            "items": [
                {
                    "key": d.item.key,
                    "name": d.item.name,
                    "interval": d.item.interval_text,
                    "last_done": None if d.last_done_s is None else _day(d.last_done_s),
                    "due": _day(d.due_s),
                    "days_left": round(d.days_left, 1),
                    "status": d.status,
                }
                for d in dues
            ],
            "reminders": list(reminders(dues)),
            "records": [asdict(r) for r in log.records],
        }
        typer.echo(json.dumps(doc, indent=1))
        return
    typer.echo(f"maintenance since {_day(log.start_s)} (Table 12-3; record work with `ml314 maintenance done ITEM`)")
    if log.stored_since_s is not None:
        typer.echo(
            f"in storage since {_day(log.stored_since_s)} (`ml314 maintenance store --end` when back in service)"
        )
    for d in dues:
        last = "never" if d.last_done_s is None else _day(d.last_done_s)
        typer.echo(
            f"  {d.item.key:22} due {_day(d.due_s)} ({d.status}, {d.days_left:+.0f} d)  last {last}  "
            f"[{d.item.interval_text}]"
        )
    for line in reminders(dues):
        typer.echo(f"reminder: {line}")


@maintenance_app.command("done")
def done_command(
    item_key: Annotated[str, typer.Argument(metavar="ITEM", help="the item's key (see `ml314 maintenance`)")],
    data_dir: DataDirOption = Path("ml314-data"),
    by: Annotated[str, typer.Option(metavar="NAME", help="who did it")] = "",
    note: Annotated[str, typer.Option(metavar="TEXT", help="what was found or done")] = "",
    date: Annotated[str | None, typer.Option(metavar="YYYY-MM-DD", help="when (default: now)")] = None,
) -> None:
    """Record work done on one item (written to maintenance.json in the data dir)."""
    from ml314.diagnostics.maintenance import WorkRecord, item  # noqa: PLC0415

    t_s = time.time() if date is None else _date_s(date, "--date")
    log = _log(data_dir)
    log.add(WorkRecord(item_key, t_s, by=by, note=note))
    it = item(item_key)
    assert it is not None
    typer.echo(f"recorded: {it.name} on {_day(t_s)}")


@maintenance_app.command("start")
def start_command(
    date: Annotated[str, typer.Argument(metavar="YYYY-MM-DD", help="the commissioning date")],
    data_dir: DataDirOption = Path("ml314-data"),
) -> None:
    """Set the commissioning date the due dates run from (until an item is first done)."""
    t_s = _date_s(date, "date")
    _log(data_dir).set_start(t_s)
    typer.echo(f"maintenance dates run from {_day(t_s)}")


@maintenance_app.command("store")
def store_command(
    date: Annotated[
        str | None, typer.Argument(metavar="YYYY-MM-DD", help="the day it was stored (default: now)")
    ] = None,
    end: Annotated[bool, typer.Option("--end", help="the battery is back in service")] = False,
    data_dir: DataDirOption = Path("ml314-data"),
) -> None:
    """The battery goes into storage (its recharge reminders start: every 3 months), or, with --end, comes back."""
    log = _log(data_dir)
    if end:
        log.set_stored(None)
        typer.echo("back in service: charge it after start-up and before use (8.6.3, 13.1 (12))")
        return
    t_s = time.time() if date is None else _date_s(date, "date")
    log.set_stored(t_s)
    typer.echo(f"in storage since {_day(t_s)}: keep it at 50-60 % SOC; recharge reminders every 3 months")


@maintenance_app.command("test")
def test_command(
    modules: Annotated[int, typer.Option(metavar="N", help="modules in the twin's bank, 1..16")] = 1,
    soc: Annotated[float, typer.Option(metavar="SOC", help="the bank's SOC at the start, 0..1")] = 0.6,
    seed: Annotated[int, typer.Option(metavar="N", help="seed of the twin")] = 1,
    record: Annotated[bool, typer.Option(help="record the result in the data dir's maintenance.json")] = False,
    data_dir: DataDirOption = Path("ml314-data"),
) -> None:
    """The shallow charge/discharge test (at most 20 % of the rated depth and power), run on the twin."""
    if not 1 <= modules <= 16:
        raise InputError(f"--modules {modules}: must be 1..16")
    if not (math.isfinite(soc) and 0.0 <= soc <= 1.0):
        raise InputError(f"--soc {soc}: must be 0..1")
    from ml314.bms.parameters import load_default_parameters  # noqa: PLC0415
    from ml314.diagnostics.maintenance import WorkRecord  # noqa: PLC0415
    from ml314.diagnostics.shallow_test import plan_shallow_test  # noqa: PLC0415
    from ml314.runtime.maintenance_test import run_shallow_test  # noqa: PLC0415
    from ml314.system.compiled_system import CompiledBankSystem  # noqa: PLC0415
    from ml314.system.status import StatusBuilder  # noqa: PLC0415
    from ml314.twin.bank import Bank  # noqa: PLC0415
    from ml314.twin.params import load_cell_parameters  # noqa: PLC0415

    try:
        plan = plan_shallow_test(soc, modules)
    except ValueError as exc:
        raise InputError(f"--soc {soc}: {exc}") from None
    for n, step in enumerate(plan.steps(), start=1):
        typer.echo(f"step {n}: {step}")
    bank = Bank(modules, load_cell_parameters(), seed=seed, initial_soc=soc)
    system = CompiledBankSystem(
        bank, load_default_parameters(), seed=seed, initial_soc_estimate=soc, initial_soc_uncertainty=0.01
    )
    try:
        run = run_shallow_test(system, StatusBuilder(system), plan=plan)
    finally:
        system.close()
    for line in run.verdict.lines:
        typer.echo(f"  {line}")
    typer.echo(f"result (on the twin): {run.verdict.text}")
    if record:
        _log(data_dir).add(WorkRecord("charge_discharge", time.time(), note="shallow test on the twin",
                                      result=run.verdict.text))  # fmt: skip
        typer.echo(f"recorded in {data_dir}")


@maintenance_app.command("storage")
def storage_command(
    months: Annotated[float, typer.Option(metavar="MONTHS", help="how long the battery will be stored")] = 6.0,
    soc: Annotated[float | None, typer.Option(metavar="SOC", help="its SOC now, 0..1")] = None,
    temperature: Annotated[float | None, typer.Option(metavar="DEGC", help="the store's temperature")] = None,
    humidity: Annotated[float | None, typer.Option(metavar="PCT", help="the store's relative humidity")] = None,
) -> None:
    """Storage advice (8.1.3, 13.1 (10)): target SOC, recharge reminders, temperature and humidity."""
    from ml314.diagnostics.storage_advice import (  # noqa: PLC0415
        DAYS_PER_MONTH,
        advice_lines,
        check_storage,
        rule_for,
        soc_after,
    )

    if not (math.isfinite(months) and months > 0):
        raise InputError(f"--months {months}: must be positive")
    rule = rule_for(months * DAYS_PER_MONTH)
    for line in advice_lines(rule):
        typer.echo(line)
    if rule.recharge_every_days is not None:
        n = int(months * DAYS_PER_MONTH // rule.recharge_every_days)
        every = rule.recharge_every_days / DAYS_PER_MONTH
        when = ", ".join(f"{every * i:g}" for i in range(1, n + 1)) or "-"
        typer.echo(f"recharge reminders: {n} in {months:g} months (months {when})")
    if soc is not None:
        after = soc_after(soc, min(months * DAYS_PER_MONTH, rule.recharge_every_days or months * DAYS_PER_MONTH),
                          temperature if temperature is not None else 25.0)  # fmt: skip
        typer.echo(f"from {soc * 100:.0f} % the SOC falls to about {after * 100:.0f} % before the first recharge")
    for line in check_storage(rule, soc=soc, temperature_c=temperature, humidity_pct=humidity):
        typer.echo(f"check: {line}")
