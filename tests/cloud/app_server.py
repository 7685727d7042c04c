"""The cloud app (``web/cloud_app.py``) served by uvicorn on a free loopback port over a fresh database of the
private PostgreSQL server, with a clock the test moves on; and helpers to make devices and accounts."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from ml314.cloud.devices import provision
from ml314.storage.data_dir import DataDir
from ml314.storage.identity import DeviceIdentity, DeviceLabel
from ml314.web.cloud_app import create_cloud_app
from ml314.web.cloud_context import Limits
from ml314.web.server import WebServer

PASSWORD = "Correct7Horse"  # meets the manual's rule


class Clock:
    """Unix seconds that move only when the test says so."""

    def __init__(self, now_s: float = 1_800_000_000.0) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds


def engine_for(url: str) -> sa.Engine:
    return sa.create_engine("postgresql+psycopg://" + url.split("://", 1)[1])


class CloudAppServer:
    """The app on a real socket; :attr:`url`; :meth:`stop`."""

    def __init__(self, db_url: str, commands: Any = None, limits: Limits | None = None, **kw: Any) -> None:
        self.db_url = db_url
        self.engine = engine_for(db_url)
        self.clock = Clock()
        self.app = create_cloud_app(self.engine, commands=commands, limits=limits, clock=self.clock, **kw)
        self.web = WebServer("127.0.0.1", 0)
        self.web.start(self.app)
        self.url = self.web.url

    def stop(self) -> None:
        self.web.stop()
        self.engine.dispose()

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60.0)

    def account(self, username: str, password: str = PASSWORD) -> httpx.Client:
        """A client signed in as a new account ``username`` (bearer token)."""
        with self.client() as client:
            r = client.post("/api/register", json={"username": username, "password": password})
        assert r.status_code == 201, r.text
        return httpx.Client(base_url=self.url, timeout=60.0, headers={"Authorization": f"Bearer {r.json()['token']}"})


@dataclass(frozen=True)
class Device:
    serial: str
    claim_code: str
    data_dir: Path


def new_device(data_dir: Path) -> Device:
    """A device's data dir with its identity (as ``ml314 run`` creates it at first start)."""
    identity, label = DataDir(data_dir).identity()
    assert isinstance(label, DeviceLabel)
    return Device(identity.serial, label.claim_code, data_dir)


def provision_devices(engine: sa.Engine, *devices: Device) -> None:
    """Tell the cloud each device's claim-code hash, read from its data dir (``ml314 cloud-provision --device``)."""
    entries = [(d.serial, DeviceIdentity.load(d.data_dir).hashes["claim_code"]) for d in devices]
    with engine.begin() as conn:
        provision(conn, entries, 0.0)


@contextlib.contextmanager
def serving(db_url: str, **kw: Any) -> Iterator[CloudAppServer]:
    """The app on ``db_url`` while the block runs."""
    server = CloudAppServer(db_url, **kw)
    try:
        yield server
    finally:
        server.stop()
