"""The battery-system view of the cloud app over the fleet store: samples and events stored by the ingest's own
store code (cloud/fleet_store.py) come back to their owner (and an installer), never to another account."""

from __future__ import annotations

import time
from pathlib import Path

import orjson

from ml314.cloud.fleet_rows import parse_message
from ml314.cloud.fleet_store import FleetStore
from tests.cloud.app_server import new_device, provision_devices, serving
from tests.cloud.payloads import event, sample
from tests.postgres import PostgresServer


def test_each_account_reads_only_its_own_devices_telemetry(tmp_path: Path, postgres_server: PostgresServer) -> None:
    db = postgres_server.new_database()
    with serving(db) as app:
        a, b = new_device(tmp_path / "a"), new_device(tmp_path / "b")
        provision_devices(app.engine, a, b)
        now = time.time()
        store = FleetStore.open(db)
        try:
            batch = [
                parse_message(f"ml314/{a.serial}/telemetry", orjson.dumps(sample(a.serial, q, now - 60 + q, 2)), now)
                for q in (1, 2, 3)
            ]
            batch.append(parse_message(f"ml314/{b.serial}/telemetry", orjson.dumps(sample(b.serial, 9, now)), now))
            batch.append(parse_message(f"ml314/{a.serial}/events", orjson.dumps(event(a.serial, 1, now - 30)), now))
            store.store(batch)
        finally:
            store.close()
        with app.account("alice") as alice, app.account("bert") as bert, app.account("ivan") as ivan:
            for client, dev in ((alice, a), (bert, b)):
                r = client.post("/api/devices", json={"serial": dev.serial, "claim_code": dev.claim_code})
                assert r.status_code == 201
            listed = alice.get("/api/devices").json()["devices"]
            assert [(d["serial"], d["online"], d["soc_pct"]) for d in listed] == [(a.serial, True, 3.0)]
            now_a = alice.get(f"/api/devices/{a.serial}/now").json()
            assert now_a["status"]["online"] is True
            assert (now_a["sample"]["seq"], len(now_a["sample"]["modules"])) == (3, 2)
            assert now_a["sample"]["bank"]["soc_pct"] == 3.0
            hist = alice.get(
                f"/api/devices/{a.serial}/history", params={"from": now - 120, "to": now + 1, "step": 3600}
            )
            rows = hist.json()["rows"]
            assert rows and all(1.0 <= r["soc_pct"] <= 3.0 for r in rows)  # the means of SOC 1, 2, 3
            events = alice.get(f"/api/devices/{a.serial}/events").json()["events"]
            assert [(e["id"], e["key"]) for e in events] == [(1, "cell_overvoltage")]
            assert bert.get(f"/api/devices/{b.serial}/now").json()["sample"]["seq"] == 9

            for path in ("now", "history", "events"):  # the other tenant's device: as if it did not exist
                r = bert.get(f"/api/devices/{a.serial}/{path}")
                assert (r.status_code, r.json()["error"]["code"]) == (404, "no_such_device"), path
                assert ivan.get(f"/api/devices/{a.serial}/{path}").status_code == 404
            assert (
                alice.post(f"/api/devices/{a.serial}/access", json={"username": "ivan", "hours": 1}).status_code == 201
            )
            assert ivan.get(f"/api/devices/{a.serial}/now").json()["sample"]["seq"] == 3  # the installer reads
            bad = alice.get(f"/api/devices/{a.serial}/history", params={"from": now, "to": now - 1})
            assert (bad.status_code, bad.json()["error"]["field"]) == (400, "to")
