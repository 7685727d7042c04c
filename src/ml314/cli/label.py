"""``ml314 label``: the device's label page (serial number, technician PIN, AP password, claim code).

The label is the software form of the sticker on the module: ``label.txt`` in the data dir, mode 0600, the one
place the secrets exist in plain text (``identity.json`` holds only their Argon2id hashes). Showing it needs read
access to the data dir, as reading the sticker needs access to the module. ``--reset`` issues new secrets (same
serial) with proof of the current PIN, for a label that was lost or seen by someone it should not have been.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer


def label_command(
    data_dir: Annotated[
        Path, typer.Option(envvar="ML314_DATA_DIR", help="the device's data dir (created at first start)")
    ] = Path("ml314-data"),
    reset: Annotated[bool, typer.Option(help="issue a new PIN, AP password and claim code (needs --pin)")] = False,
    pin: Annotated[str | None, typer.Option(help="the device's current technician PIN (for --reset)")] = None,
) -> None:
    """Show the device's label page; a device without an identity gets one now (its first start)."""
    from ml314.storage.data_dir import DataDir  # noqa: PLC0415
    from ml314.storage.identity import DeviceIdentity  # noqa: PLC0415

    if reset:
        if pin is None:
            pin = typer.prompt("current technician PIN", hide_input=True)
        identity = DeviceIdentity.load(data_dir)
        grant = identity.check_pin(pin, time.time())
        identity, label = identity.reset(grant)
        typer.echo(f"new secrets issued for device {label.serial}; the old PIN, AP password and claim code are void")
    else:
        identity, created = DataDir(data_dir).identity()
        if created is not None:
            typer.echo(f"first start: device {created.serial} created in {data_dir}")
        label = identity.read_label()
    typer.echo(label.text(), nl=False)
    if identity.legacy_secrets:
        typer.echo("WARNING: legacy secrets ON: the manual's PIN 123456 and AP password 12345678 are also accepted")
