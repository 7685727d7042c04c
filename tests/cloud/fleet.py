"""A private broker with ml314's generated fleet configuration, for the tests that run a device against it."""

from __future__ import annotations

from pathlib import Path

from ml314.cloud.broker_config import BrokerListener, ServiceAccount, mosquitto_hash, write_broker_config
from ml314.storage.data_dir import DataDir
from ml314.storage.mqtt_credential import MqttCredential
from tests.cloud.clients import TestClient
from tests.mosquitto import free_port


class Fleet:
    """A broker with the generated configuration on a free port: a cloud account and one other device at first;
    :meth:`provision` adds a running device's account (from its data dir, as a factory would) on the live broker."""

    def __init__(self, tmp: Path, mosquitto, *services: ServiceAccount, tls: tuple[Path, Path] | None = None) -> None:
        self.port = free_port()
        self.ca = None if tls is None else tls[0]
        other = DataDir(tmp / "other-device").identity()[0].serial
        self.files = write_broker_config(
            tmp / "broker",
            [(other, mosquitto_hash("not this device's"))],
            services or (ServiceAccount("cloud", "cloud"),),
            listener=BrokerListener("127.0.0.1", self.port, *(tls or (None, None))),
        )
        self.broker = mosquitto(conf=self.files.conf, port=self.port)

    def client(self, name: str, client_id: str, **kw: int) -> TestClient:
        client = TestClient(self.port, client_id, name, self.files.passwords[name], tls_ca=self.ca, **kw)
        client.client.reconnect_delay_set(0.1, 0.5)
        return client

    def provision(self, data_dir: Path) -> str:
        """Add the device of ``data_dir`` to the password file and have the broker read it; its serial."""
        identity, _ = DataDir(data_dir).identity()
        credential = MqttCredential.open(data_dir, identity.serial)
        with self.files.passwd.open("a", encoding="utf-8") as f:
            f.write(f"{identity.serial}:{mosquitto_hash(credential.password)}\n")
        self.broker.reload()
        return identity.serial
