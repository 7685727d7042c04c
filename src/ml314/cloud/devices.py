"""Devices of the app's Wi-Fi mode: provisioning, search, binding with proof of possession, names, handover,
installer access. Tenant isolation lives here: every read or change of a device goes through :func:`access`, which
finds the device only through the caller's own binding or grant.

- **Provisioning:** the cloud knows a device by its serial and the Argon2id hash of its claim code, the hash that
  ``identity.json`` of the device's data dir holds (``ml314 cloud-provision --device DATA_DIR``, as a factory would;
  ``--devices FILE`` takes ``SERIAL:$argon2id$...`` lines). Provisioning again (after ``ml314 label --reset``)
  replaces the hash: the old label's claim code stops binding.
- **Search ("+")** takes the whole serial (LCD, label) and answers whether it can be bound; nothing lists devices a
  user has no role on, so the fleet cannot be enumerated (serials have 60 random bits; searches are rate-limited).
- **Binding** needs the claim code of the label. Wrong codes count like wrong passwords (the login's lockout, per
  user); an unknown serial gets the same answer as a wrong code. A device has one owner; a second one needs a
  handover or an unbind.
- **Installer access:** the owner grants an account read-only access for 1 hour to 30 days; it ends by itself at
  its expiry, or when the owner revokes it, unbinds or hands the device over.

A refusal keeps the writes made before it (failure counts, audit lines): every function checks before it changes
anything else.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from ml314.cloud.access import Action, Role, permits
from ml314.cloud.account_schema import bindings, devices, grants, users
from ml314.cloud.accounts import LOGIN_FIRST_LOCK_S, LOGIN_FREE_TRIES, LOGIN_MAX_LOCK_S, User, note, user_named
from ml314.cloud.refusals import ForbiddenError, NoSuchDeviceError, RefusedError, TakenError, TooManyTriesError
from ml314.cloud.topics import check_serial
from ml314.errors import InputError
from ml314.secret_hash import hash_secret, is_secret_hash, lock_after, normal_claim_code, verify_secret

__all__ = [
    "MAX_GRANT_H",
    "DeviceAccess",
    "access",
    "bind",
    "grant",
    "grants_of",
    "hand_over",
    "my_devices",
    "parse_claim_lines",
    "provision",
    "rename",
    "revoke",
    "search",
    "unbind",
]

MAX_GRANT_H = 720.0  # 30 days
NAME_MAX = 64
_DUMMY_HASH = hash_secret("not a claim code")


@dataclass(frozen=True, slots=True)
class DeviceAccess:
    """A device as one user sees it: its serial, the user's role, the owner's name for it, when the role ends."""

    serial: str
    role: Role
    name: str
    expires_s: float | None  # None: owner (no end)

    def json(self) -> dict[str, object]:
        return {"serial": self.serial, "role": self.role, "name": self.name, "expires_s": self.expires_s}


def _serial(serial: str) -> str:
    try:
        return check_serial(serial.strip().upper())
    except InputError:
        raise RefusedError(f"serial {serial!r}: not a device serial (ML314-…)", "invalid_serial", "serial") from None


def _name(name: str | None, serial: str) -> str:
    text = " ".join((name or "").split())
    if len(text) > NAME_MAX or any(not c.isprintable() for c in text):
        raise RefusedError(f"name: at most {NAME_MAX} printable characters", "invalid_name", "name")
    return text or serial


# ------------------------------------------------------------------------------------------ provisioning
def parse_claim_lines(text: str, source: str) -> list[tuple[str, str]]:
    """``SERIAL:$argon2id$...`` lines (blank lines and ``#`` comments skipped); :class:`InputError` naming the line."""
    entries: list[tuple[str, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        text_line = line.strip()
        if not text_line or text_line.startswith("#"):
            continue
        serial, sep, digest = text_line.partition(":")
        if not sep or not is_secret_hash(digest):
            raise InputError(f"{source}:{number}: expected SERIAL:$argon2id$... (a claim code's hash)")
        entries.append((check_serial(serial), digest))
    return entries


def provision(conn: sa.Connection, entries: Sequence[tuple[str, str]], now_s: float) -> tuple[int, int]:
    """Add or update devices (serial, claim-code hash); (added, updated)."""
    added = updated = 0
    for serial, digest in entries:
        check_serial(serial)
        if not is_secret_hash(digest):
            raise InputError(f"device {serial}: the claim code's hash is not an Argon2 hash")
        done = conn.execute(devices.update().where(devices.c.serial == serial).values(claim_hash=digest))
        if done.rowcount:
            updated += 1
        else:
            conn.execute(devices.insert().values(serial=serial, claim_hash=digest, provisioned_s=now_s))
            added += 1
    return added, updated


# ------------------------------------------------------------------------------------------------ access
def _role_of(conn: sa.Connection, user: User, serial: str, now_s: float) -> DeviceAccess | None:
    row = conn.execute(
        sa.select(bindings.c.owner_id, bindings.c.name, grants.c.role, grants.c.expires_s)
        .select_from(
            bindings.outerjoin(grants, sa.and_(grants.c.serial == bindings.c.serial, grants.c.user_id == user.id))
        )
        .where(bindings.c.serial == serial)
    ).first()
    if row is None:
        return None
    name = str(row.name or serial)
    if row.owner_id == user.id:
        return DeviceAccess(serial, "owner", name, None)
    if row.role is not None and row.expires_s > now_s:
        return DeviceAccess(serial, row.role, name, float(row.expires_s))
    return None


def access(conn: sa.Connection, user: User, serial: str, action: Action, now_s: float) -> DeviceAccess:
    """``user``'s access to ``serial`` for ``action``: :class:`NoSuchDeviceError` when the user has no role on it (the
    same as for a serial that does not exist), :class:`ForbiddenError` when the role does not permit the action."""
    try:
        serial = _serial(serial)
    except RefusedError:
        raise NoSuchDeviceError(f"no device {serial!r} among yours", "no_such_device", "serial") from None
    found = _role_of(conn, user, serial, now_s)
    if found is None:
        raise NoSuchDeviceError(f"no device {serial} among yours", "no_such_device", "serial")
    if not permits(found.role, action):
        raise ForbiddenError(
            f"{found.role} access to {serial} does not permit {action}; only its owner may", "owner_only"
        )
    return found


def my_devices(conn: sa.Connection, user: User, now_s: float) -> list[DeviceAccess]:
    """The devices ``user`` owns, then those an unexpired grant lets them see; by name."""
    owned = conn.execute(sa.select(bindings.c.serial, bindings.c.name).where(bindings.c.owner_id == user.id)).all()
    shared = conn.execute(
        sa.select(bindings.c.serial, bindings.c.name, grants.c.role, grants.c.expires_s)
        .select_from(grants.join(bindings, bindings.c.serial == grants.c.serial))
        .where(grants.c.user_id == user.id, grants.c.expires_s > now_s)
    ).all()
    mine = [DeviceAccess(r.serial, "owner", r.name or r.serial, None) for r in owned]
    theirs = [DeviceAccess(r.serial, r.role, r.name or r.serial, float(r.expires_s)) for r in shared]
    return sorted(mine, key=lambda d: d.name.casefold()) + sorted(theirs, key=lambda d: d.name.casefold())


# ----------------------------------------------------------------------------------------------- binding
def search(conn: sa.Connection, user: User, serial: str) -> dict[str, object]:
    """The "+" search: whether the device ``serial`` can be bound by ``user`` (``bindable``), is theirs already
    (``yours``); :class:`NoSuchDeviceError` when no such device is provisioned."""
    serial = _serial(serial)
    row = conn.execute(
        sa.select(devices.c.serial, bindings.c.owner_id)
        .select_from(devices.outerjoin(bindings, bindings.c.serial == devices.c.serial))
        .where(devices.c.serial == serial)
    ).first()
    if row is None:
        raise NoSuchDeviceError(
            f"no device {serial}: check the serial on the LCD or the label", "no_such_device", "serial"
        )
    return {"serial": serial, "bindable": row.owner_id is None, "yours": row.owner_id == user.id}


def bind(
    conn: sa.Connection, user: User, serial: str, claim_code: str, *, name: str | None, now_s: float
) -> DeviceAccess:
    """Bind ``serial`` to ``user`` with the claim code of its label. :class:`ForbiddenError` ``claim_code_wrong`` (for
    an unknown serial too), :class:`TooManyTriesError` when this user's binding is locked, :class:`TakenError` when the
    device has an owner."""
    serial = _serial(serial)
    nickname = _name(name, serial)
    locked = conn.execute(sa.select(users.c.bind_locked_until_s).where(users.c.id == user.id)).scalar_one()
    if now_s < locked:
        wait_s = math.ceil(locked - now_s)
        raise TooManyTriesError(
            f"too many wrong claim codes: binding is locked for {wait_s} s more", wait_s, "bind_locked", "claim_code"
        )
    digest = conn.execute(sa.select(devices.c.claim_hash).where(devices.c.serial == serial)).scalar_one_or_none()
    if not verify_secret(digest or _DUMMY_HASH, normal_claim_code(claim_code)) or digest is None:
        failures = conn.execute(
            users.update()
            .where(users.c.id == user.id)
            .values(bind_failures=users.c.bind_failures + 1)
            .returning(users.c.bind_failures)
        ).scalar_one()
        wait_s = lock_after(int(failures), LOGIN_FREE_TRIES, LOGIN_FIRST_LOCK_S, LOGIN_MAX_LOCK_S)
        note(conn, now_s, "bind", False, user_id=user.id, serial=serial, detail="wrong claim code or serial")
        if wait_s:
            conn.execute(users.update().where(users.c.id == user.id).values(bind_locked_until_s=now_s + wait_s))
            raise TooManyTriesError(
                f"wrong serial or claim code; binding is locked for {wait_s:.0f} s", wait_s, "bind_locked", "claim_code"
            )
        raise ForbiddenError(
            "wrong serial or claim code (the label's claim code, `ml314 label`)", "claim_code_wrong", "claim_code"
        )
    conn.execute(users.update().where(users.c.id == user.id).values(bind_failures=0, bind_locked_until_s=0.0))
    owner = conn.execute(sa.select(bindings.c.owner_id).where(bindings.c.serial == serial)).scalar_one_or_none()
    if owner == user.id:
        return access(conn, user, serial, "read", now_s)
    if owner is not None:
        note(conn, now_s, "bind", False, user_id=user.id, serial=serial, detail="already bound")
        raise TakenError(
            f"{serial} is bound to another account: its owner can hand it over or unbind it", "already_bound", "serial"
        )
    try:
        with conn.begin_nested():
            conn.execute(bindings.insert().values(serial=serial, owner_id=user.id, name=nickname, bound_s=now_s))
    except sa.exc.IntegrityError:
        raise TakenError(f"{serial} was just bound by another account", "already_bound", "serial") from None
    note(conn, now_s, "bind", True, user_id=user.id, serial=serial)
    return DeviceAccess(serial, "owner", nickname, None)


def rename(conn: sa.Connection, user: User, serial: str, name: str, now_s: float) -> DeviceAccess:
    """The owner names the device (an empty name shows the serial)."""
    found = access(conn, user, serial, "rename", now_s)
    nickname = _name(name, found.serial)
    conn.execute(bindings.update().where(bindings.c.serial == found.serial).values(name=nickname))
    return DeviceAccess(found.serial, found.role, nickname, None)


def unbind(conn: sa.Connection, user: User, serial: str, now_s: float) -> None:
    """The owner lets the device go (its grants end with the binding)."""
    found = access(conn, user, serial, "unbind", now_s)
    conn.execute(bindings.delete().where(bindings.c.serial == found.serial))
    conn.execute(grants.delete().where(grants.c.serial == found.serial))
    note(conn, now_s, "unbind", True, user_id=user.id, serial=found.serial)


def hand_over(conn: sa.Connection, user: User, serial: str, to_username: str, now_s: float) -> None:
    """The owner gives the device to the account ``to_username``: the new owner names it afresh, the grants end."""
    found = access(conn, user, serial, "handover", now_s)
    other = user_named(conn, to_username)
    if other.id == user.id:
        raise RefusedError("the device is yours already", "same_owner", "username")
    conn.execute(grants.delete().where(grants.c.serial == found.serial))
    conn.execute(
        bindings.update().where(bindings.c.serial == found.serial).values(owner_id=other.id, name=None, bound_s=now_s)
    )
    note(conn, now_s, "handover", True, user_id=user.id, serial=found.serial, detail=f"to user {other.id}")


# -------------------------------------------------------------------------------------- installer access
def grant(
    conn: sa.Connection, user: User, serial: str, to_username: str, *, hours: float, now_s: float
) -> dict[str, object]:
    """The owner gives ``to_username`` read-only (installer) access for ``hours`` (replacing an earlier grant)."""
    found = access(conn, user, serial, "share", now_s)
    if not 0 < hours <= MAX_GRANT_H or not math.isfinite(hours):
        raise RefusedError(f"hours: more than 0, at most {MAX_GRANT_H:.0f} (30 days)", "invalid_hours", "hours")
    other = user_named(conn, to_username)
    if other.id == user.id:
        raise RefusedError("the owner has every right already", "same_owner", "username")
    expires_s = now_s + hours * 3600.0
    conn.execute(grants.delete().where(grants.c.serial == found.serial, grants.c.user_id == other.id))
    conn.execute(
        grants.insert().values(
            serial=found.serial, user_id=other.id, role="installer", created_s=now_s, expires_s=expires_s
        )
    )
    note(conn, now_s, "grant", True, user_id=user.id, serial=found.serial, detail=f"installer {other.id} {hours} h")
    return {"username": other.username, "role": "installer", "expires_s": expires_s}


def revoke(conn: sa.Connection, user: User, serial: str, username: str, now_s: float) -> None:
    """The owner ends ``username``'s access now."""
    found = access(conn, user, serial, "share", now_s)
    other = user_named(conn, username)
    gone = conn.execute(grants.delete().where(grants.c.serial == found.serial, grants.c.user_id == other.id))
    if not gone.rowcount:
        raise RefusedError(f"{other.username} has no access to {found.serial}", "no_such_grant", "username")
    note(conn, now_s, "revoke", True, user_id=user.id, serial=found.serial, detail=f"installer {other.id}")


def grants_of(conn: sa.Connection, user: User, serial: str, now_s: float) -> list[dict[str, object]]:
    """The owner's list of who else may see the device, and until when (unexpired grants)."""
    found = access(conn, user, serial, "share", now_s)
    rows = conn.execute(
        sa.select(users.c.username, grants.c.role, grants.c.expires_s)
        .select_from(grants.join(users, users.c.id == grants.c.user_id))
        .where(grants.c.serial == found.serial, grants.c.expires_s > now_s)
        .order_by(grants.c.expires_s)
    ).all()
    return [{"username": r.username, "role": r.role, "expires_s": float(r.expires_s)} for r in rows]
