"""``ml314 cloud``: the fleet service. Takes the devices' telemetry and events from the broker through the cloud
workers' MQTT v5 shared subscription and stores them in PostgreSQL (docs/cloud.md), until Ctrl-C or SIGTERM.
Start as many as the load needs, each with its own ``--name``: the broker splits the messages between them."""

from __future__ import annotations

from typing import Annotated

import typer

from ml314.cli.cloud_http import DEFAULT_CLOUD_HTTP, CloudAppServing
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
    http: Annotated[
        str,
        typer.Option(
            metavar="HOST:PORT|off",
            envvar="ML314_HTTP",
            help="serve the app's Wi-Fi mode and its API here (docs/app.md); port 0 picks a free one; off: ingest only",
        ),
    ] = DEFAULT_CLOUD_HTTP,
    password_min_length: Annotated[int, typer.Option(metavar="N", help="the app's shortest account password")] = 8,
    password_policy: Annotated[
        str, typer.Option(metavar="manual|nist", help="manual: digits, upper and lower case (manual 11); nist: length")
    ] = "manual",
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
    app = CloudAppServing(http, password_min_length, password_policy)  # bound now: a port in use is the first error
    if app.url is not None:
        typer.echo(f"web: {app.url}  (the app's Wi-Fi mode; API docs {app.url}/docs; --http off disables)")
    out = StatusOutput(quiet)
    with stop_on_signals(worker.stop):
        try:
            for line in worker.start():
                typer.echo(line)
            app.start(config.db, config.mqtt)
            typer.echo("ml314 cloud: storing; Ctrl-C stops")
            worker.run(on_status=out.show, status_every_s=10.0)
            out.finish()
        finally:
            app.close()
            worker.close()
    typer.echo(f"ml314 cloud {config.name}: stopped; {worker.counters.line()}")
