"""Accounts of the app's Wi-Fi mode: register, log in (with a lockout), sessions.

- A password is checked against the :class:`~ml314.cloud.password_policy.PasswordPolicy` and stored as its Argon2id
  hash (``ml314/secret_hash.py``, the hasher of the device's label secrets).
- **Lockout:** :data:`LOGIN_FREE_TRIES` wrong passwords in a row, then each further one locks the account's login
  for :data:`LOGIN_FIRST_LOCK_S` s, doubling per wrong password up to :data:`LOGIN_MAX_LOCK_S` (the PIN's schedule
  with a shorter cap: a lock someone else can cause must not shut an owner out for a day). A right password resets
  the count. The count is in the database, so every worker shares it. An unknown username costs the same hash
  verification as a known one and gets the same answer as a wrong password.
- **Sessions:** 256-bit random tokens (``secrets.token_urlsafe(32)``), valid :data:`SESSION_TTL_S`; the database
  keeps only their SHA-256. The web layer carries them in an HttpOnly cookie or an ``Authorization: Bearer`` header.

Every function takes the connection and the time (``now_s``, Unix seconds) as arguments.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from ml314.cloud.account_schema import audit, sessions, users
from ml314.cloud.password_policy import PasswordPolicy
from ml314.cloud.refusals import ForbiddenError, NotSignedInError, RefusedError, TakenError, TooManyTriesError
from ml314.secret_hash import hash_secret, lock_after, verify_secret

__all__ = [
    "LOGIN_FIRST_LOCK_S",
    "LOGIN_FREE_TRIES",
    "LOGIN_MAX_LOCK_S",
    "SESSION_TTL_S",
    "User",
    "end_session",
    "log_in",
    "new_session",
    "normal_username",
    "note",
    "register",
    "session_user",
    "user_named",
]

LOGIN_FREE_TRIES = 5
LOGIN_FIRST_LOCK_S = 30.0
LOGIN_MAX_LOCK_S = 900.0
SESSION_TTL_S = 30 * 86_400.0
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._@+-]{2,63}")
#: verified against when the username is unknown, so both answers cost one Argon2id verification
_DUMMY_HASH = hash_secret(secrets.token_hex(16))


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str


def normal_username(username: str) -> str:
    """``username`` as stored (trimmed, casefolded); :class:`RefusedError` when it cannot be one."""
    name = username.strip().casefold()
    if not _USERNAME.fullmatch(name):
        raise RefusedError(
            "username: 3 to 64 characters, letters, digits and . _ @ + - (an e-mail address will do), starting with "
            "a letter or digit",
            "invalid_username",
            "username",
        )
    return name


def note(
    conn: sa.Connection,
    now_s: float,
    action: str,
    ok: bool,
    *,
    user_id: int | None = None,
    serial: str | None = None,
    detail: str = "",
) -> None:
    """One line of the audit log (binding attempts, handovers, grants, lockouts)."""
    conn.execute(
        audit.insert().values(ts=now_s, user_id=user_id, serial=serial, action=action, ok=ok, detail=detail[:500])
    )


def register(conn: sa.Connection, username: str, password: str, policy: PasswordPolicy, now_s: float) -> User:
    """A new account; :class:`RefusedError` for a bad username or a weak password, :class:`TakenError` when taken."""
    name = normal_username(username)
    policy.check(password, name)
    if conn.execute(sa.select(users.c.id).where(users.c.username == name)).first() is not None:
        raise TakenError(f"the username {name!r} is taken", "username_taken", "username")
    digest = hash_secret(password)
    try:
        with conn.begin_nested():
            user_id = conn.execute(
                users.insert().values(username=name, password_hash=digest, created_s=now_s).returning(users.c.id)
            ).scalar_one()
    except sa.exc.IntegrityError:  # registered at the same moment by another request
        raise TakenError(f"the username {name!r} is taken", "username_taken", "username") from None
    return User(int(user_id), name)


def log_in(conn: sa.Connection, username: str, password: str, now_s: float) -> User:
    """The account if ``password`` is its password and its login is not locked; else :class:`ForbiddenError`
    (``wrong_password``, the same for an unknown username) or :class:`TooManyTriesError` (``account_locked``)."""
    try:
        name = normal_username(username)
    except RefusedError:
        name = ""
    row = conn.execute(
        sa.select(users.c.id, users.c.password_hash, users.c.login_locked_until_s).where(users.c.username == name)
    ).first()
    if row is None:
        verify_secret(_DUMMY_HASH, password)
        raise ForbiddenError("wrong username or password", "wrong_password", "password")
    if now_s < row.login_locked_until_s:
        wait_s = math.ceil(row.login_locked_until_s - now_s)
        raise TooManyTriesError(
            f"too many wrong passwords: this account's login is locked for {wait_s} s more",
            wait_s,
            "account_locked",
            "password",
        )
    if verify_secret(row.password_hash, password):
        conn.execute(users.update().where(users.c.id == row.id).values(login_failures=0, login_locked_until_s=0.0))
        return User(int(row.id), name)
    failures = conn.execute(
        users.update()
        .where(users.c.id == row.id)
        .values(login_failures=users.c.login_failures + 1)
        .returning(users.c.login_failures)
    ).scalar_one()
    wait_s = lock_after(int(failures), LOGIN_FREE_TRIES, LOGIN_FIRST_LOCK_S, LOGIN_MAX_LOCK_S)
    if wait_s:
        conn.execute(users.update().where(users.c.id == row.id).values(login_locked_until_s=now_s + wait_s))
        note(
            conn,
            now_s,
            "login_locked",
            False,
            user_id=int(row.id),
            detail=f"{failures} wrong passwords, {wait_s:.0f} s",
        )
        raise TooManyTriesError(
            f"wrong username or password; this account's login is locked for {wait_s:.0f} s",
            wait_s,
            "account_locked",
            "password",
        )
    raise ForbiddenError("wrong username or password", "wrong_password", "password")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_session(conn: sa.Connection, user: User, now_s: float, ttl_s: float = SESSION_TTL_S) -> str:
    """A new session of ``user``: its token (shown once; only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    conn.execute(
        sessions.insert().values(
            token_hash=_token_hash(token), user_id=user.id, created_s=now_s, expires_s=now_s + ttl_s
        )
    )
    conn.execute(sessions.delete().where(sessions.c.user_id == user.id, sessions.c.expires_s <= now_s))
    return token


def session_user(conn: sa.Connection, token: str | None, now_s: float) -> User:
    """The user of session ``token``; :class:`NotSignedInError` without one, or for an expired or ended one."""
    if not token:
        raise NotSignedInError("log in first", "not_signed_in")
    row = conn.execute(
        sa.select(users.c.id, users.c.username)
        .select_from(sessions.join(users, users.c.id == sessions.c.user_id))
        .where(sessions.c.token_hash == _token_hash(token), sessions.c.expires_s > now_s)
    ).first()
    if row is None:
        raise NotSignedInError("the session has expired or ended: log in again", "session_expired")
    return User(int(row.id), str(row.username))


def end_session(conn: sa.Connection, token: str) -> None:
    """Log out: the session ``token`` stops working."""
    conn.execute(sessions.delete().where(sessions.c.token_hash == _token_hash(token)))


def user_named(conn: sa.Connection, username: str) -> User:
    """The account called ``username``; :class:`RefusedError` ``no_such_user`` if there is none."""
    name = normal_username(username)
    row = conn.execute(sa.select(users.c.id).where(users.c.username == name)).first()
    if row is None:
        raise RefusedError(f"no account called {name!r}", "no_such_user", "username")
    return User(int(row.id), name)
