"""Per-device secrets: random at first start, stored only hashed, a label page, a PIN lockout that survives."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from ml314.errors import AccessDeniedError, InputError
from ml314.storage.identity import (
    FIRST_LOCK_S,
    FREE_TRIES,
    LEGACY_AP_PASSWORD,
    LEGACY_PIN,
    MAX_LOCK_S,
    DeviceIdentity,
    lock_after,
)

NOW = 1_800_000_000.0


def test_each_device_draws_its_own_secrets_and_stores_only_hashes(tmp_path: Path) -> None:
    a, label_a = DeviceIdentity.create(tmp_path / "a")
    b, label_b = DeviceIdentity.create(tmp_path / "b")
    for x, y in zip((label_a.serial, label_a.pin, label_a.ap_password, label_a.claim_code),
                    (label_b.serial, label_b.pin, label_b.ap_password, label_b.claim_code), strict=True):  # fmt: skip
        assert x != y
    assert label_a.pin.isdigit() and len(label_a.pin) == 8 and label_a.pin != LEGACY_PIN
    assert len(label_a.ap_password) >= 16 and label_a.ap_password != LEGACY_AP_PASSWORD
    stored = (tmp_path / "a" / "identity.json").read_text()
    for secret in (label_a.pin, label_a.ap_password, label_a.claim_code):
        assert secret not in stored
    hashes = json.loads(stored)["hashes"]
    assert all(h.startswith("$argon2id$") for h in hashes.values())
    assert len({h.split("$")[4] for h in hashes.values()}) == 3  # a salt per hash
    for name in ("identity.json", "label.txt"):
        assert stat.S_IMODE(os.stat(tmp_path / "a" / name).st_mode) == 0o600
    assert a.read_label() == label_a and b.read_label() == label_b
    assert a.check_ap_password(label_a.ap_password) and not a.check_ap_password(label_b.ap_password)
    assert a.check_claim_code(label_a.claim_code.lower().replace("-", " "))
    assert not a.check_claim_code(label_b.claim_code)
    with pytest.raises(InputError, match="already has a device identity"):
        DeviceIdentity.create(tmp_path / "a")
    again, new_label = DeviceIdentity.open(tmp_path / "a")
    assert new_label is None and again.serial == label_a.serial


def test_the_right_pin_grants_and_wrong_ones_lock_with_a_doubling_wait(tmp_path: Path) -> None:
    identity, label = DeviceIdentity.create(tmp_path)
    assert identity.check_pin(label.pin, NOW).serial == label.serial
    for i in range(FREE_TRIES - 1):
        with pytest.raises(AccessDeniedError, match=f"{FREE_TRIES - 1 - i} tr"):
            identity.check_pin("00000000", NOW)
    with pytest.raises(AccessDeniedError, match=f"locked for {FIRST_LOCK_S:.0f} s"):
        identity.check_pin("00000000", NOW)
    # locked: even the right PIN is refused, also by a freshly loaded identity (a restart)
    with pytest.raises(AccessDeniedError, match="locked for 20 s more"):
        DeviceIdentity.load(tmp_path).check_pin(label.pin, NOW + FIRST_LOCK_S - 20)
    with pytest.raises(AccessDeniedError, match=f"locked for {2 * FIRST_LOCK_S:.0f} s"):
        identity.check_pin("00000000", NOW + FIRST_LOCK_S)
    assert DeviceIdentity.load(tmp_path).pin_failures == FREE_TRIES + 1
    identity.check_pin(label.pin, NOW + 3 * FIRST_LOCK_S)  # after the wait the right PIN works and resets
    assert DeviceIdentity.load(tmp_path).pin_failures == 0
    assert [lock_after(n) for n in range(FREE_TRIES - 1, FREE_TRIES + 3)] == [0.0, 30.0, 60.0, 120.0]
    assert lock_after(100) == MAX_LOCK_S


def test_the_manuals_universal_secrets_work_only_in_legacy_mode(tmp_path: Path) -> None:
    identity, label = DeviceIdentity.create(tmp_path)
    with pytest.raises(AccessDeniedError):
        identity.check_pin(LEGACY_PIN, NOW)
    assert not identity.check_ap_password(LEGACY_AP_PASSWORD)
    legacy = identity.with_legacy_secrets(True)
    assert DeviceIdentity.load(tmp_path).legacy_secrets
    assert legacy.check_pin(LEGACY_PIN, NOW).legacy and legacy.check_ap_password(LEGACY_AP_PASSWORD)
    assert not legacy.check_pin(label.pin, NOW).legacy  # the device's own PIN still works
    off = legacy.with_legacy_secrets(False)
    with pytest.raises(AccessDeniedError):
        off.check_pin(LEGACY_PIN, NOW)


def test_a_reset_needs_the_pin_and_voids_the_old_secrets(tmp_path: Path) -> None:
    identity, old = DeviceIdentity.create(tmp_path)
    new_identity, new = identity.reset(identity.check_pin(old.pin, NOW))
    assert new.serial == old.serial and new.pin != old.pin and new.claim_code != old.claim_code
    assert new_identity.read_label() == new
    with pytest.raises(AccessDeniedError):
        new_identity.check_pin(old.pin, NOW)
    new_identity.check_pin(new.pin, NOW)


def test_a_label_that_is_gone_open_to_others_or_not_this_devices_is_refused(tmp_path: Path) -> None:
    identity, _ = DeviceIdentity.create(tmp_path / "a")
    _, other = DeviceIdentity.create(tmp_path / "b")
    label = tmp_path / "a" / "label.txt"
    os.chmod(label, 0o644)
    with pytest.raises(InputError, match="readable by others"):
        identity.read_label()
    label.write_text(other.text())
    os.chmod(label, 0o600)
    with pytest.raises(InputError, match="not the one of device"):
        identity.read_label()
    label.unlink()
    with pytest.raises(InputError, match="label --reset"):
        identity.read_label()
    with pytest.raises(InputError, match="no device identity yet"):
        DeviceIdentity.load(tmp_path / "c")
