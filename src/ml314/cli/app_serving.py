"""What ``ml314 run`` adds for the Smart Battery app (manual 11; docs/app-device.md): the device's network side
(``runtime/network.py``), its mDNS announcement and the app's local-mode scanner, the AP listener (``--ap``), and
the routes of both listeners. Built before the bank starts (the AP socket is bound first, like ``--http``'s)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ml314.cli.serving import listen_web, web_app

if TYPE_CHECKING:
    from fastapi import APIRouter

    from ml314.adapters.device_transport import DeviceTransport
    from ml314.adapters.mdns_transport import MdnsAnnouncer
    from ml314.runtime.network import DeviceNetwork
    from ml314.runtime.run import RunConfig
    from ml314.runtime.surface import Surface
    from ml314.storage.history import HistoryStore
    from ml314.web.server import WebServer

__all__ = ["AppSide"]


class AppSide:
    """The app's side of one ``ml314 run``: :meth:`routers` for ``--http``, :meth:`start` once the web runs,
    :meth:`stop` at the end."""

    def __init__(self, cfg: RunConfig, data_dir: Path, serial: str, echo: Callable[[str], None]) -> None:
        from ml314.runtime.network import DeviceNetwork  # noqa: PLC0415

        self.cfg = cfg
        self.serial = serial
        self.echo = echo
        self.ap_web: WebServer | None = listen_web(cfg.ap_address, "--ap")
        ap_url = None if self.ap_web is None else self.ap_web.url
        self.network: DeviceNetwork = DeviceNetwork(data_dir, serial, ap_address=ap_url, echo=echo)
        self.transport: DeviceTransport | None = None
        self.announcer: MdnsAnnouncer | None = None
        http = cfg.http_address
        if cfg.mdns and http is not None:
            from ml314.adapters.device_transport import TRANSPORTS  # noqa: PLC0415

            self.transport = TRANSPORTS["mdns"](host=http[0])

    def lines(self) -> list[str]:
        """What ``ml314 run`` says about the app at start."""
        out = [self.network.describe()]
        if self.ap_web is not None:
            out.append(f"ap: {self.ap_web.url}  (the device's AP-mode API, behind its AP password; --ap off disables)")
        if self.transport is not None:
            out.append("app: /app/ of the web address; local mode finds devices by mDNS (--no-mdns disables)")
        return out

    def routers(self, surface: Surface) -> list[APIRouter]:
        """The device's routes and the app's on the ``--http`` listener."""
        from ml314.web.app_api import app_router  # noqa: PLC0415
        from ml314.web.device_api import device_router  # noqa: PLC0415

        return [device_router(self.network, surface, listener="local"), app_router(self.transport)]

    def cloud(self, link: Any) -> None:
        """The MQTT link the network mode connects and disconnects (its state shows in the app)."""
        self.network.cloud = link.state

    def start(
        self, surface: Surface, history: HistoryStore | None, web_port: int | None, shared: Sequence[APIRouter] = ()
    ) -> None:
        """Serve the AP listener and announce the device (``web_port``: the ``--http`` port, None: off); ``shared``
        are routes the AP listener serves too (behind the AP password), such as the diagnostics."""
        if self.ap_web is not None:
            from ml314.web.ap_app import ApGuard  # noqa: PLC0415
            from ml314.web.app_api import app_router  # noqa: PLC0415
            from ml314.web.device_api import ap_router, device_router  # noqa: PLC0415

            routers = [
                ap_router(self.network),
                device_router(self.network, surface, listener="ap"),
                app_router(None),
                *shared,
            ]
            app = web_app(surface, history, routers)
            app.add_middleware(ApGuard, network=self.network)
            self.ap_web.start(app)
        http = self.cfg.http_address
        if self.cfg.mdns and http is not None and web_port is not None:
            from ml314.adapters.mdns_transport import MdnsAnnouncer  # noqa: PLC0415
            from ml314.domain.network import ap_ssid  # noqa: PLC0415

            announcer = MdnsAnnouncer(self.serial, ap_ssid(self.serial), http[0], web_port, self.network.mode.value)
            self.announcer = announcer
            self.network.subscribe(lambda mode: announcer.update(mode.value))

    def stop(self) -> None:
        """Say goodbye on mDNS, stop scanning, close the AP listener (a failure is said, the rest still stops)."""
        for what, close in (
            ("the mDNS announcement", None if self.announcer is None else self.announcer.close),
            ("the local-mode scanner", None if self.transport is None else self.transport.close),
            ("the AP listener", None if self.ap_web is None else self.ap_web.stop),
        ):
            if close is not None:
                try:
                    close()
                except Exception as exc:  # the stop goes on: the bank's state is saved after this
                    self.echo(f"ml314: warning: {what} did not close cleanly: {exc}")
