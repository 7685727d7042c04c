"""The cloud app's devices over HTTP on a private PostgreSQL: binding needs the label's claim code, tenant isolation
(another account cannot read, rename, command or unbind a device, guessing its serial or not), handover, installer
access that expires and can be revoked."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from ml314.cloud.accounts import LOGIN_FIRST_LOCK_S, LOGIN_FREE_TRIES
from ml314.storage.identity import DeviceLabel
from tests.cloud.app_server import CloudAppServer, Device, new_device, provision_devices, serving
from tests.postgres import PostgresServer


@pytest.fixture
def app(postgres_server: PostgresServer) -> Iterator[CloudAppServer]:
    with serving(postgres_server.new_database()) as server:
        yield server


@pytest.fixture
def two(tmp_path: Path, app: CloudAppServer) -> tuple[Device, Device]:
    devices = new_device(tmp_path / "d1"), new_device(tmp_path / "d2")
    provision_devices(app.engine, *devices)
    return devices


def error(r: httpx.Response) -> tuple[int, str]:
    return r.status_code, str(r.json()["error"]["code"])


def bind(client: httpx.Client, device: Device, name: str | None = None) -> httpx.Response:
    return client.post("/api/devices", json={"serial": device.serial, "claim_code": device.claim_code, "name": name})


def serials(client: httpx.Client) -> list[str]:
    return [d["serial"] for d in client.get("/api/devices").json()["devices"]]


def test_binding_needs_the_claim_code(app: CloudAppServer, two: tuple[Device, Device]) -> None:
    d1, d2 = two
    with app.account("ann") as ann:
        without = ann.post("/api/devices", json={"serial": d1.serial})
        assert error(without) == (400, "invalid_field") and without.json()["error"]["field"] == "claim_code"
        wrong = ann.post("/api/devices", json={"serial": d1.serial, "claim_code": d2.claim_code})
        assert error(wrong) == (403, "claim_code_wrong")
        unknown = ann.post("/api/devices", json={"serial": "ML314-0000000000ZZ", "claim_code": d1.claim_code})
        assert error(unknown) == (403, "claim_code_wrong")  # an unknown serial: the same answer
        assert serials(ann) == []
        # the code as people type it: lower case, without dashes
        typed = {"serial": d1.serial.lower(), "claim_code": d1.claim_code.replace("-", "").lower()}
        ok = ann.post("/api/devices", json=typed)
        assert ok.status_code == 201
        assert ok.json() == {"serial": d1.serial, "role": "owner", "name": d1.serial, "expires_s": None}
        assert serials(ann) == [d1.serial]


def test_wrong_claim_codes_lock_binding(app: CloudAppServer, two: tuple[Device, Device]) -> None:
    d1, _ = two
    wrong = {"serial": d1.serial, "claim_code": DeviceLabel.draw().claim_code}
    with app.account("mallory") as m:
        for _ in range(LOGIN_FREE_TRIES - 1):
            assert error(m.post("/api/devices", json=wrong)) == (403, "claim_code_wrong")
        assert error(m.post("/api/devices", json=wrong)) == (429, "bind_locked")
        assert error(bind(m, d1)) == (429, "bind_locked")  # even the right code while locked
        app.clock.advance(LOGIN_FIRST_LOCK_S)
        assert bind(m, d1).status_code == 201


def test_search_finds_one_exact_serial_and_lists_nothing(app: CloudAppServer, two: tuple[Device, Device]) -> None:
    d1, _ = two
    with app.account("ann") as ann, app.account("bob") as bob:
        assert ann.post("/api/search", json={"serial": d1.serial}).json() == {
            "serial": d1.serial,
            "bindable": True,
            "yours": False,
        }
        assert bind(ann, d1).status_code == 201
        assert ann.post("/api/search", json={"serial": d1.serial}).json()["yours"] is True
        assert bob.post("/api/search", json={"serial": d1.serial}).json() == {
            "serial": d1.serial,
            "bindable": False,
            "yours": False,
        }
        assert error(bob.post("/api/search", json={"serial": d1.serial[:-1]})) == (404, "no_such_device")
        assert error(bob.post("/api/search", json={"serial": "ML314-*"})) == (400, "invalid_serial")
        assert error(bind(bob, d1)) == (409, "already_bound")  # even with the right claim code
        for _ in range(28):
            bob.post("/api/search", json={"serial": "ML314-0000000000ZZ"})
        assert error(bob.post("/api/search", json={"serial": d1.serial})) == (429, "rate_limited")


def test_name_and_rename(app: CloudAppServer, two: tuple[Device, Device]) -> None:
    d1, _ = two
    with app.account("ann") as ann:
        assert bind(ann, d1, "  Garage  ").json()["name"] == "Garage"
        assert ann.patch(f"/api/devices/{d1.serial}", json={"name": "Cellar wall"}).json()["name"] == "Cellar wall"
        assert ann.get(f"/api/devices/{d1.serial}").json()["name"] == "Cellar wall"
        assert ann.patch(f"/api/devices/{d1.serial}", json={"name": ""}).json()["name"] == d1.serial
        assert error(ann.patch(f"/api/devices/{d1.serial}", json={"name": "x" * 65})) == (400, "invalid_name")


def test_another_account_cannot_reach_a_device_even_by_its_serial(
    app: CloudAppServer, two: tuple[Device, Device]
) -> None:
    d1, d2 = two
    with app.account("ann") as ann, app.account("bob") as bob:
        assert bind(ann, d1, "Ann's").status_code == 201
        assert bind(bob, d2, "Bob's").status_code == 201
        assert serials(ann) == [d1.serial] and serials(bob) == [d2.serial]
        base = f"/api/devices/{d1.serial}"
        refusals = [
            bob.get(base),
            bob.patch(base, json={"name": "mine now"}),
            bob.delete(base),
            bob.post(base + "/network", json={"mode": "ap"}),
            bob.get(base + "/result"),
            bob.get(base + "/access"),
            bob.post(base + "/access", json={"username": "bob", "hours": 1}),
            bob.post(base + "/handover", json={"username": "bob"}),
            bob.get("/api/devices/ML314-0000000000ZZ"),  # a guessed serial: the same answer
            bob.get(f"/api/devices/{d1.serial.lower()}"),
            bob.get("/api/devices/1"),
            bob.get("/api/devices/%2A"),
        ]
        for r in refusals:
            assert error(r) == (404, "no_such_device"), r.request.url
        assert ann.get(base).json()["name"] == "Ann's"  # untouched
        with app.client() as anonymous:
            assert error(anonymous.get(base)) == (401, "not_signed_in")
            assert error(anonymous.get("/api/devices")) == (401, "not_signed_in")


def test_installer_access_is_read_only_expires_and_can_be_revoked(
    app: CloudAppServer, two: tuple[Device, Device]
) -> None:
    d1, _ = two
    base = f"/api/devices/{d1.serial}"
    with app.account("owner1") as owner, app.account("installer1") as inst:
        assert bind(owner, d1, "Home").status_code == 201
        granted = owner.post(base + "/access", json={"username": "installer1", "hours": 2})
        assert granted.status_code == 201 and granted.json()["role"] == "installer"
        assert owner.get(base + "/access").json()["grants"][0]["username"] == "installer1"
        seen = inst.get("/api/devices").json()["devices"]
        assert [(d["serial"], d["role"], d["name"]) for d in seen] == [(d1.serial, "installer", "Home")]
        assert inst.get(base).status_code == 200
        for r in (
            inst.patch(base, json={"name": "x"}),
            inst.delete(base),
            inst.post(base + "/network", json={"mode": "ap"}),
            inst.post(base + "/access", json={"username": "installer1", "hours": 700}),
            inst.post(base + "/handover", json={"username": "installer1"}),
        ):
            assert error(r) == (403, "owner_only"), r.request.url
        app.clock.advance(2 * 3600.0)  # expired
        assert error(inst.get(base)) == (404, "no_such_device")
        assert serials(inst) == []
        assert owner.get(base + "/access").json()["grants"] == []
        assert owner.post(base + "/access", json={"username": "installer1", "hours": 24}).status_code == 201
        assert inst.get(base).status_code == 200
        assert owner.delete(base + "/access/installer1").status_code == 204  # revoked
        assert error(inst.get(base)) == (404, "no_such_device")
        assert error(owner.delete(base + "/access/installer1")) == (400, "no_such_grant")
        assert error(owner.post(base + "/access", json={"username": "installer1", "hours": 721})) == (
            400,
            "invalid_hours",
        )
        assert error(owner.post(base + "/access", json={"username": "nobody", "hours": 1})) == (400, "no_such_user")


def test_handover_and_unbind(app: CloudAppServer, two: tuple[Device, Device]) -> None:
    d1, _ = two
    base = f"/api/devices/{d1.serial}"
    with app.account("seller") as seller, app.account("buyer") as buyer, app.account("tech") as tech:
        assert bind(seller, d1, "Old name").status_code == 201
        assert seller.post(base + "/access", json={"username": "tech", "hours": 24}).status_code == 201
        assert seller.post(base + "/handover", json={"username": "buyer"}).status_code == 204
        assert serials(seller) == [] and error(seller.get(base)) == (404, "no_such_device")
        assert buyer.get(base).json() == {"serial": d1.serial, "role": "owner", "name": d1.serial, "expires_s": None}
        assert error(tech.get(base)) == (404, "no_such_device")  # the seller's grants ended
        assert buyer.delete(base).status_code == 204
        assert serials(buyer) == []
        assert buyer.post("/api/search", json={"serial": d1.serial}).json()["bindable"] is True
        assert bind(seller, d1).status_code == 201  # whoever holds the label can bind it again


def test_two_accounts_binding_at_once_get_one_owner(app: CloudAppServer, two: tuple[Device, Device]) -> None:
    d1, _ = two
    with app.account("first") as first, app.account("second") as second:
        with ThreadPoolExecutor(2) as pool:
            answers = sorted(r.status_code for r in pool.map(lambda c: bind(c, d1), (first, second)))
        assert answers == [201, 409]
        owners = [name for name, c in (("first", first), ("second", second)) if serials(c) == [d1.serial]]
        assert len(owners) == 1
