"""``ml314 cloud --http``: the app's Wi-Fi mode (web/cloud_app.py) served by the cloud worker's process, on the
fleet database, sending the devices' network commands with the cloud account. One process can ingest and serve;
more workers can run with ``--http off``. The socket is bound before anything starts, so a port in use is the first
error; the app starts once the worker has its database and broker."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ml314.cli.serving import listen_web

if TYPE_CHECKING:
    import sqlalchemy as sa

    from ml314.cloud.commands import MqttCommands
    from ml314.cloud.mqtt_url import MqttTarget
    from ml314.web.server import WebServer

__all__ = ["DEFAULT_CLOUD_HTTP", "CloudAppServing"]

#: where ``ml314 cloud`` serves the app unless told (``ml314 run`` has 8314)
DEFAULT_CLOUD_HTTP = "127.0.0.1:8315"


class CloudAppServing:
    """The app's socket (bound now; None: ``--http off``), then :meth:`start` and :meth:`close`."""

    def __init__(self, http: str, password_min_length: int, password_policy: str) -> None:
        from ml314.cloud.password_policy import PasswordPolicy  # noqa: PLC0415
        from ml314.errors import InputError  # noqa: PLC0415
        from ml314.runtime.run import parse_http  # noqa: PLC0415

        if password_policy not in ("manual", "nist"):
            raise InputError(f"--password-policy {password_policy!r}: manual (digits, upper and lower case) or nist")
        if password_policy == "manual":
            self.policy = PasswordPolicy(password_min_length)
        else:
            self.policy = PasswordPolicy.nist(password_min_length)
        self.web: WebServer | None = listen_web(parse_http(http))
        self.engine: sa.Engine | None = None
        self.commands: MqttCommands | None = None

    @property
    def url(self) -> str | None:
        return None if self.web is None else self.web.url

    def start(self, db: str, mqtt: MqttTarget) -> None:
        """Serve the app on the fleet database ``db``, with commands through ``mqtt`` (the cloud account)."""
        if self.web is None:
            return
        import sqlalchemy as sa  # noqa: PLC0415

        from ml314.cloud.commands import MqttCommands  # noqa: PLC0415
        from ml314.cloud.fleet_store import fleet_db_url  # noqa: PLC0415
        from ml314.web.cloud_app import create_cloud_app  # noqa: PLC0415

        self.engine = sa.create_engine(fleet_db_url(db), pool_pre_ping=True)
        self.commands = MqttCommands(mqtt)
        self.web.start(create_cloud_app(self.engine, policy=self.policy, commands=self.commands))

    def close(self) -> None:
        if self.web is not None:
            self.web.stop()
        if self.commands is not None:
            self.commands.close()
        if self.engine is not None:
            self.engine.dispose()
