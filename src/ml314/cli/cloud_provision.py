"""``ml314 cloud-provision``: tell the cloud which devices exist and the hash of each one's claim code.

Binding a device in the app needs its label's claim code (proof of possession); the cloud checks it against the
Argon2id hash the device keeps in ``identity.json``. ``--device DATA_DIR`` reads that hash from a device's data dir,
as a factory would at the end of the line (mirroring ``ml314 broker-config --device``); ``--devices FILE`` takes
``SERIAL:$argon2id$...`` lines made elsewhere; ``--out FILE`` writes such lines instead of a database (the factory's
hand-over to the cloud). Provisioning a device again (after ``ml314 label --reset``) replaces its hash.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer


def cloud_provision_command(
    db: Annotated[
        str | None, typer.Option(metavar="URL", help="the cloud's database: postgresql://USER@HOST:PORT/DB")
    ] = None,
    device: Annotated[
        list[Path] | None, typer.Option(metavar="DATA_DIR", help="a device's data dir (repeat for each device)")
    ] = None,
    devices: Annotated[
        Path | None, typer.Option(metavar="FILE", help="devices as SERIAL:$argon2id$... lines (claim-code hashes)")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(metavar="FILE", help="write the SERIAL:HASH lines here instead of to a database")
    ] = None,
) -> None:
    """Provision devices for binding in the app's Wi-Fi mode: serial + the hash of the label's claim code."""
    import sqlalchemy as sa  # noqa: PLC0415

    from ml314.cloud.account_schema import create_account_schema  # noqa: PLC0415
    from ml314.cloud.devices import parse_claim_lines, provision  # noqa: PLC0415
    from ml314.cloud.fleet_store import fleet_db_url  # noqa: PLC0415
    from ml314.errors import InputError  # noqa: PLC0415
    from ml314.storage.data_dir import DataDir  # noqa: PLC0415
    from ml314.storage.identity import DeviceIdentity  # noqa: PLC0415

    if (db is None) == (out is None):
        raise InputError("give --db URL (provision into the cloud's database) or --out FILE (write the lines)")
    entries: list[tuple[str, str]] = []
    for data_dir in device or []:
        if not DeviceIdentity.exists(data_dir):
            raise InputError(f"--device {data_dir}: no device identity there (`ml314 label --data-dir DIR` makes one)")
        identity, _ = DataDir(data_dir).identity()
        entries.append((identity.serial, identity.hashes["claim_code"]))
    if devices is not None:
        try:
            text = devices.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"--devices {devices}: cannot be read ({exc.strerror})") from None
        entries += parse_claim_lines(text, str(devices))
    if not entries:
        raise InputError("no devices: give --device DATA_DIR (repeatable) or --devices FILE")
    if out is not None:
        out.write_text("".join(f"{serial}:{digest}\n" for serial, digest in entries), encoding="utf-8")
        typer.echo(f"{len(entries)} device(s) written to {out}")
        return
    assert db is not None
    engine = sa.create_engine(fleet_db_url(db))
    try:
        create_account_schema(engine)
        with engine.begin() as conn:
            added, updated = provision(conn, entries, time.time())
    except sa.exc.OperationalError as exc:
        raise InputError(f"--db: cannot reach the database ({str(exc.orig).strip().splitlines()[0]})") from None
    finally:
        engine.dispose()
    typer.echo(f"provisioned {added} new device(s), updated {updated}; each can be bound with its label's claim code")
    for serial, _ in entries:
        typer.echo(f"  device {serial}")
