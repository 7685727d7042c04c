"""The cloud switches the device's network through ``ml314/<serial>/cmd/network`` (docs/mqtt.md): bad requests are
answered with the reason on ``ml314/<serial>/result``; ``{"mode": "ap"}`` is answered first, then the device says
``offline`` and stays away while in AP mode; back in Wi-Fi mode it connects again and nothing it sampled meanwhile
is lost."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cloud.fleet import Fleet
from tests.web.running import RunningBank


def test_the_cloud_switches_the_device_to_ap_mode(tmp_path: Path, mosquitto) -> None:
    fleet = Fleet(tmp_path, mosquitto)
    cloud = fleet.client("cloud", "cloud-net")
    for topic in ("ml314/+/status", "ml314/+/result", "ml314/+/telemetry"):
        assert cloud.subscribe(topic) == [1]
    url = f"mqtt://127.0.0.1:{fleet.port}?interval=0.3&discovery=off"
    with RunningBank(tmp_path, "--mqtt", url, "--ap", "127.0.0.1:0", "--no-mdns", "--quiet") as bank:
        serial = fleet.provision(bank.data_dir)
        base = f"ml314/{serial}"

        def statuses() -> list[bytes]:
            return [m.payload for m in cloud.messages if m.topic == f"{base}/status" and not m.retain]

        def results() -> list[dict]:
            return [json.loads(m.payload) for m in cloud.messages if m.topic == f"{base}/result"]

        with bank.client() as c:  # from the factory's AP mode to Wi-Fi mode (the app's STA, here with the PIN)
            r = c.put("/api/device/network", json={"mode": "sta", "ssid": "HomeNet", "password": "correct horse",
                                                   "pin": bank.pin})  # fmt: skip
            assert r.status_code == 200, r.text
        cloud.wait_for(lambda ms: b"online" in statuses(), "the device online in Wi-Fi mode")
        for n, payload in enumerate([b"not json", b'{"mode": "sta", "ssid": "HomeNet", "password": "short"}',
                                     b'{"mode": "mesh"}'], 1):  # fmt: skip
            cloud.publish(f"{base}/cmd/network", payload)
            cloud.wait_for(lambda ms, n=n: len(results()) >= n, f"the answer to bad request {n}")
        assert [(r["ok"], r["code"]) for r in results()] == [(False, "bad_request")] * 3
        assert "password" in results()[1]["message"]
        cloud.publish(f"{base}/cmd/network", b'{"mode": "ap"}')
        cloud.wait_for(lambda ms: len(results()) >= 4, "the answer to AP mode")
        assert results()[3]["ok"] and results()[3]["code"] == "switched"
        cloud.wait_for(lambda ms: statuses()[-1:] == [b"offline"], "the device offline in AP mode")
        with bank.client() as c:
            assert c.get("/api/device").json()["mode"] == "ap"
            seq_offline = max(json.loads(m.payload)["seq"] for m in cloud.messages if m.topic == f"{base}/telemetry")
            r = c.put("/api/device/network", json={"mode": "sta", "ssid": "HomeNet", "password": "correct horse",
                                                   "pin": bank.pin})  # fmt: skip
            assert r.status_code == 200, r.text
        cloud.wait_for(lambda ms: statuses()[-1:] == [b"online"], "the device back online")
        newer = lambda ms: any(  # noqa: E731
            json.loads(m.payload)["seq"] > seq_offline + 2 for m in ms if m.topic.endswith("/telemetry")
        )
        cloud.wait_for(newer, "samples after the return")
        bank.stop()
    cloud.close()
    seqs = sorted({json.loads(m.payload)["seq"] for m in cloud.messages if m.topic == f"{base}/telemetry"})
    assert seqs == list(range(1, seqs[-1] + 1))  # sampled while in AP mode, sent on return: none lost
    assert sum("the device is in AP mode" in e for e in bank.errors) == 1
