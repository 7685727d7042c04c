"""``ml314 cloud``: the fleet service. Takes the devices' telemetry and events from the broker through the cloud
workers' MQTT v5 shared subscription and stores them in PostgreSQL (docs/cloud.md), until Ctrl-C or SIGTERM.
Start as many as the load needs, each with its own ``--name``: the broker splits the messages between them."""

from __future__ import annotations

from typing import Annotated

import typer

from ml314.cli.serving import StatusOutput, stop_on_signals


def cloud_command(
    mqtt: Annotated[
        str,
        typer.Option(
            metavar="URL", help="the broker and the cloud account: mqtt://USER:PASSWORD@HOST:PORT (mqtts:// for TLS)"
        ),
    ],
    db: Annotated[str, typer.Option(metavar="URL", help="the fleet store: postgresql://USER[:PASSWORD]@HOST:PORT/DB")],
    name: Annotated[
        str | None,
        typer.Option(metavar="NAME", help="this worker's name, its MQTT session (one per worker; default: the host)"),
    ] = None,
    batch: Annotated[int, typer.Option(metavar="N", help="messages per batch (one transaction)")] = 500,
    batch_time: Annotated[
        str, typer.Option(metavar="DURATION", help="longest wait for a batch to fill (after its first message)")
    ] = "0.2s",
    guard: Annotated[
        bool,
        typer.Option(
            help="also hold the restart guard (on exactly one worker: Mosquitto forgets shared subscriptions)"
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option(help="no status line every 10 s")] = False,
) -> None:
    """Store the fleet's MQTT telemetry and events in PostgreSQL (one worker of the shared group); Ctrl-C stops."""
    from ml314.cloud.mqtt_url import parse_mqtt_url  # noqa: PLC0415
    from ml314.domain.durations import parse_duration_s  # noqa: PLC0415
    from ml314.runtime.cloud_worker import CloudConfig, CloudWorker, default_name  # noqa: PLC0415

    config = CloudConfig(
        mqtt=parse_mqtt_url(mqtt),
        db=db,
        name=name or default_name(),
        batch_messages=batch,
        batch_s=parse_duration_s(batch_time, "--batch-time"),
        guard=guard,
    )
    worker = CloudWorker(config, echo=lambda line: typer.echo(line, err=True))
    out = StatusOutput(quiet)
    with stop_on_signals(worker.stop):
        try:
            for line in worker.start():
                typer.echo(line)
            typer.echo("ml314 cloud: storing; Ctrl-C stops")
            worker.run(on_status=out.show, status_every_s=10.0)
            out.finish()
        finally:
            worker.close()
    typer.echo(f"ml314 cloud {config.name}: stopped; {worker.counters.line()}")
