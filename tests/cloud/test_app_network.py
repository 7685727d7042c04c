"""The app's "configure network" and "AP" through a real broker with the generated fleet configuration: the cloud
app publishes ``ml314/<serial>/cmd/network`` with its cloud account, the device (here a client with the device's own
account) receives it on its own command topic and answers on its result topic, and the API returns that answer."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from ml314.cloud.commands import MqttCommands
from ml314.cloud.mqtt_url import MqttTarget
from ml314.cloud.topics import DeviceTopics
from ml314.storage.mqtt_credential import MqttCredential
from tests.cloud.app_server import CloudAppServer, new_device, provision_devices
from tests.cloud.clients import TestClient
from tests.cloud.fleet import Fleet
from tests.postgres import PostgresServer


def test_network_commands_reach_the_device_and_its_answer_comes_back(
    tmp_path: Path, mosquitto: object, postgres_server: PostgresServer
) -> None:
    fleet = Fleet(tmp_path, mosquitto)
    device = new_device(tmp_path / "device")
    serial = fleet.provision(device.data_dir)
    topics = DeviceTopics(serial)
    target = MqttTarget("127.0.0.1", fleet.port, tls=False, username="cloud", password=fleet.files.passwords["cloud"])
    commands = MqttCommands(target)
    # the answer decides when the request returns (no time limit); the AP step below waits a short while on purpose
    server = CloudAppServer(postgres_server.new_database(), commands=commands, command_wait_s=3600.0)
    dev = TestClient(fleet.port, "device", serial, MqttCredential.open(device.data_dir, serial).password)
    try:
        assert dev.subscribe(topics.commands) == [1]
        assert commands.connected(60.0)
        provision_devices(server.engine, device)
        with server.account("owner") as owner:
            assert (
                owner.post("/api/devices", json={"serial": serial, "claim_code": device.claim_code}).status_code == 201
            )

            def answer() -> None:
                got = dev.wait_for(lambda ms: any(m.topic == topics.command("network") for m in ms), "cmd/network")
                assert json.loads(got[-1].payload) == {"mode": "sta", "ssid": "Home 2.4", "password": "s3cret-wifi"}
                reply = {"command": "network", "ok": True, "code": "ok", "message": "joining Home 2.4", "ts": 1.0}
                dev.publish(topics.result, json.dumps(reply))

            responder = threading.Thread(target=answer)
            responder.start()
            base = f"/api/devices/{serial}"
            r = owner.post(base + "/network", json={"mode": "sta", "ssid": "Home 2.4", "password": "s3cret-wifi"})
            responder.join()
            assert r.status_code == 200
            assert r.json() == {
                "sent": True,
                "result": {"command": "network", "ok": True, "code": "ok", "message": "joining Home 2.4", "ts": 1.0},
            }
            assert owner.get(base + "/result").json()["result"]["message"] == "joining Home 2.4"

            for body, field in (
                ({"mode": "sta", "ssid": "", "password": "s3cret-wifi"}, "ssid"),
                ({"mode": "sta", "ssid": "x" * 33, "password": "s3cret-wifi"}, "ssid"),
                ({"mode": "sta", "ssid": "Home", "password": "short"}, "password"),
                ({"mode": "sta", "ssid": "Home", "password": "naïve-passphrase"}, "password"),
                ({"mode": "mesh"}, "mode"),
            ):
                bad = owner.post(base + "/network", json=body)
                assert (bad.status_code, bad.json()["error"]["field"]) == (400, field), body

            server.app.state.cloud.command_wait_s = 0.1  # the device will not answer this one: 202, sent
            r = owner.post(base + "/network", json={"mode": "ap"})
            assert (r.status_code, r.json()) == (202, {"sent": True, "result": None})
            dev.wait_for(
                lambda ms: (
                    [json.loads(m.payload) for m in ms if m.topic.endswith("/cmd/network")][-1] == {"mode": "ap"}
                ),
                "the AP command",
            )
    finally:
        dev.close()
        server.stop()
        commands.close()
