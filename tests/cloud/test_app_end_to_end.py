"""End to end: three simulated devices (``ml314 run --mqtt``, one module each) -> a private Mosquitto with the
generated fleet configuration -> two ``ml314 cloud`` workers (one also serving the app, ``--http``; the other
``--http off``) -> a private PostgreSQL -> the app's API. Two owners bind their devices with the labels' claim
codes (provisioned by ``ml314 cloud-provision --device``), and each sees only their own devices' telemetry."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx

from ml314.storage.identity import DeviceIdentity
from tests.cloud.app_server import PASSWORD
from tests.cloud.fleet import Fleet
from tests.cloud.workers import ML314, CloudProcess, wait_until
from tests.postgres import PostgresServer
from tests.web.running import RunningBank


def _sign_up(url: str, username: str) -> httpx.Client:
    with httpx.Client(base_url=url, timeout=60.0) as c:
        r = c.post("/api/register", json={"username": username, "password": PASSWORD})
    assert r.status_code == 201, r.text
    return httpx.Client(base_url=url, timeout=60.0, headers={"Authorization": f"Bearer {r.json()['token']}"})


def test_three_devices_two_workers_two_owners(tmp_path: Path, mosquitto: Any, postgres_server: PostgresServer) -> None:
    fleet = Fleet(tmp_path, mosquitto)
    db = postgres_server.new_database()
    cloud_url = f"mqtt://cloud:{fleet.files.passwords['cloud']}@127.0.0.1:{fleet.port}"
    device_url = f"mqtt://127.0.0.1:{fleet.port}?interval=0.5&discovery=off"
    banks: list[RunningBank] = []
    workers: list[CloudProcess] = []
    clients: list[httpx.Client] = []
    try:
        workers.append(CloudProcess(cloud_url, db, "web", "--http", "127.0.0.1:0", "--quiet").ready())
        workers.append(CloudProcess(cloud_url, db, "ingest", "--http", "off", "--quiet").ready())
        app_url = workers[0].wait_line("web: ").split()[1]
        assert not any(line.startswith("web: ") for line in workers[1].lines)
        for i in range(3):
            (tmp_path / f"d{i}").mkdir()
            banks.append(RunningBank(tmp_path / f"d{i}", "--mqtt", device_url, "--quiet"))
        serials = [fleet.provision(b.data_dir) for b in banks]  # the broker accounts, as a factory would
        done = subprocess.run(
            [*ML314, "cloud-provision", "--db", db, *(a for b in banks for a in ("--device", str(b.data_dir)))],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0 and "provisioned 3 new device(s)" in done.stdout, done.stderr
        codes = [DeviceIdentity.load(b.data_dir).read_label().claim_code for b in banks]

        alice, bob = _sign_up(app_url, "alice"), _sign_up(app_url, "bob")
        clients += [alice, bob]
        owners = {0: alice, 1: alice, 2: bob}
        for i, owner in owners.items():
            r = owner.post("/api/devices", json={"serial": serials[i], "claim_code": codes[i], "name": f"bank {i}"})
            assert r.status_code == 201, r.text

        def telemetry(client: httpx.Client, serial: str) -> dict[str, Any] | None:
            body = client.get(f"/api/devices/{serial}/now").json()
            return body if body["sample"] is not None and body["status"]["online"] else None

        for i, owner in owners.items():
            now = wait_until(
                lambda o=owner, s=serials[i]: telemetry(o, s),
                f"device {i}'s telemetry",
                alive=[w.proc for w in workers] + [b.proc for b in banks],
            )
            assert now["sample"]["serial"] == serials[i]
            assert len(now["sample"]["modules"]) == 1
            assert 0.0 <= now["sample"]["bank"]["soc_pct"] <= 100.0

        listed = {
            name: sorted(d["serial"] for d in c.get("/api/devices").json()["devices"])
            for name, c in (("alice", alice), ("bob", bob))
        }
        assert listed == {"alice": sorted(serials[:2]), "bob": [serials[2]]}
        for i, owner in owners.items():
            other = bob if owner is alice else alice
            for path in ("", "/now", "/history", "/events"):
                r = other.get(f"/api/devices/{serials[i]}{path}")
                assert (r.status_code, r.json()["error"]["code"]) == (404, "no_such_device")
    finally:
        for c in clients:
            c.close()
        for b in banks:
            b.stop()
        codes_out = [w.stop() for w in workers]
    assert codes_out == [0, 0]
    assert not any("Traceback" in line for w in workers for line in w.errors)
