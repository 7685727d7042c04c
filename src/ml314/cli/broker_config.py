"""``ml314 broker-config``: a Mosquitto configuration with one account and ACL per device (cloud/broker_config.py).

Each ``--device DATA_DIR`` is a device's data dir: its serial becomes its MQTT username and the hash of its own MQTT
credential (``mqtt.json``, drawn at first use) goes into the password file, as a factory would provision it.
``--devices FILE`` adds devices already provisioned elsewhere, as ``SERIAL:$7$...`` lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def broker_config_command(
    out: Annotated[Path, typer.Option(metavar="DIR", help="folder for mosquitto.conf, passwd, acl, accounts.txt")],
    device: Annotated[
        list[Path] | None, typer.Option(metavar="DATA_DIR", help="a device's data dir (repeat for each device)")
    ] = None,
    devices: Annotated[
        Path | None, typer.Option(metavar="FILE", help="provisioned devices as SERIAL:$7$... password-file lines")
    ] = None,
    listen: Annotated[
        str | None, typer.Option(metavar="HOST:PORT", help="where the broker listens (127.0.0.1:1883; 8883 with TLS)")
    ] = None,
    tls_cert: Annotated[Path | None, typer.Option(metavar="FILE", help="TLS certificate (mqtts)")] = None,
    tls_key: Annotated[Path | None, typer.Option(metavar="FILE", help="TLS private key (mqtts)")] = None,
    cloud_user: Annotated[str, typer.Option(metavar="NAME", help="the cloud workers' account")] = "ml314-cloud",
    ha_user: Annotated[
        str | None, typer.Option(metavar="NAME", help="an account for Home Assistant (reads all, sends commands)")
    ] = None,
    discovery_prefix: Annotated[
        str, typer.Option(metavar="PREFIX", help="Home Assistant's discovery prefix")
    ] = "homeassistant",
) -> None:
    """Write a Mosquitto configuration: per-device credentials and ACLs, a cloud account (and one for HA)."""
    from ml314.cloud.broker_config import (  # noqa: PLC0415
        BrokerListener,
        ServiceAccount,
        mosquitto_hash,
        parse_password_lines,
        write_broker_config,
    )
    from ml314.errors import InputError  # noqa: PLC0415
    from ml314.storage.data_dir import DataDir  # noqa: PLC0415
    from ml314.storage.mqtt_credential import MqttCredential  # noqa: PLC0415

    entries: list[tuple[str, str]] = []
    for data_dir in device or []:
        if not data_dir.is_dir():
            raise InputError(f"--device {data_dir}: no such data dir")
        identity, _ = DataDir(data_dir).identity()
        credential = MqttCredential.open(data_dir, identity.serial)
        entries.append((identity.serial, mosquitto_hash(credential.password)))
    if devices is not None:
        try:
            text = devices.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"--devices {devices}: cannot be read ({exc.strerror})") from None
        entries += parse_password_lines(text, str(devices))
    host, port = "127.0.0.1", 8883 if tls_cert else 1883
    if listen is not None:
        host, sep, port_text = listen.rpartition(":")
        if not sep or not host or not port_text.isdigit():
            raise InputError(f"--listen {listen!r}: HOST:PORT, e.g. 127.0.0.1:1883")
        port = int(port_text)
    services = [ServiceAccount(cloud_user, "cloud")]
    if ha_user is not None:
        services.append(ServiceAccount(ha_user, "homeassistant"))
    files = write_broker_config(
        out,
        entries,
        services,
        BrokerListener(host, port, tls_cert, tls_key),
        discovery_prefix,
    )
    scheme = "mqtts" if tls_cert else "mqtt"
    typer.echo(f"broker configuration in {out}: {len(files.devices)} device account(s), per-device ACLs")
    for serial in files.devices:
        typer.echo(f"  device {serial}")
    typer.echo(f"service accounts and their passwords: {files.accounts} (mode 0600)")
    typer.echo(f"start it with: mosquitto -c {files.conf}   (devices: ml314 run --mqtt {scheme}://HOST:{port})")
