"""``ml314 protocols``: the manual's Table 10-3 with what each code runs; ``ml314 protocols set`` selects one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

protocols_app = typer.Typer(
    help="List the inverter protocols (manual Table 10-3) or select one (technician PIN, effective at restart).",
    no_args_is_help=False,
    invoke_without_command=True,
    rich_markup_mode=None,
)


@protocols_app.callback(invoke_without_command=True)
def list_command(
    ctx: typer.Context,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="the notes of compatibility rows too")] = False,
) -> None:
    """List every protocol: port, P-code, brand, name, and the document it follows."""
    if ctx.invoked_subcommand is not None:
        return
    from ml314.protocols.registry import entries, info  # noqa: PLC0415

    rows = []
    for e in entries():
        i = info(e)
        code = f"{e.transport.value}:{e.code}" if e.code else f"{e.transport.value}:-"
        follows = f"compatibility mode: {i.compatibility} ({i.document})" if i.compatibility else i.document
        rows.append((code, e.brand, e.name, follows, i.note))
    widths = [max(len(r[c]) for r in rows) for c in range(3)]
    header = ("PORT:CODE", "BRAND", "NAME", "FOLLOWS")
    widths = [max(w, len(h)) for w, h in zip(widths, header, strict=False)]
    typer.echo("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=False)) + "  " + header[3])
    for r in rows:
        typer.echo("  ".join(r[c].ljust(widths[c]) for c in range(3)) + "  " + r[3])
        if verbose and r[4]:
            typer.echo(" " * (sum(widths) + 6) + "  why: " + r[4])


@protocols_app.command("set")
def set_command(
    protocol: Annotated[str, typer.Argument(metavar="CODE", help="CAN:P05, RS485:P01, victron-can, ...")],
    pin: Annotated[
        str,
        typer.Option(
            metavar="PIN", help="the device's technician PIN (its label; manual 10.1.5)", prompt=True, hide_input=True
        ),
    ],
    config: Annotated[Path, typer.Option(metavar="FILE", help="settings file")] = Path("ml314.toml"),
    data_dir: Annotated[
        Path, typer.Option(metavar="DIR", envvar="ML314_DATA_DIR", help="the device's data dir (its identity and PIN)")
    ] = Path("ml314-data"),
) -> None:
    """Select the protocol of its port; it takes effect when the battery (``ml314 run``) next starts."""
    import time  # noqa: PLC0415

    from ml314.protocols.registry import info, resolve  # noqa: PLC0415
    from ml314.storage.identity import DeviceIdentity  # noqa: PLC0415
    from ml314.storage.settings_store import save_selection  # noqa: PLC0415

    entry = resolve(protocol)
    grant = DeviceIdentity.load(data_dir).check_pin(pin, time.time())
    save_selection(config, entry, grant)
    i = info(entry)
    mode = f" (compatibility mode: {i.compatibility})" if i.compatibility else ""
    code = f"{entry.transport.value}:{entry.code}" if entry.code else entry.name
    typer.echo(f"{entry.transport.value} protocol set to {code} {entry.brand}{mode} in {config}")
    typer.echo("restart the battery (ml314 run) for it to take effect, as the manual says")
