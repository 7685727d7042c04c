"""What every route of the cloud app shares: the database, the policies, the rate limits, the command port, the
clock, and the session of the request (cookie or bearer token).

**Sessions.** Log-in and registration answer with the session token in the body (for API clients, which send it as
``Authorization: Bearer TOKEN``) and set it as the cookie ``ml314_session`` (for the browser app): ``HttpOnly`` (the
page's scripts never see it), ``SameSite=Strict`` (no other site's page can make the browser send it, which is the
protection against cross-site requests; bodies are JSON), ``Secure`` when the app is served over HTTPS, ``Path=/``,
and the session's lifetime as ``Max-Age``.

**Transactions.** :meth:`CloudContext.tx` runs one function in one transaction. A refusal keeps what was written
before it (a wrong password's count, an audit line: the domain functions check before they change anything
else); any other exception rolls everything back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import sqlalchemy as sa
from fastapi import Request, Response

from ml314.cloud.accounts import SESSION_TTL_S, User, session_user
from ml314.cloud.commands import CommandPort
from ml314.cloud.password_policy import PasswordPolicy
from ml314.cloud.rate_limit import RateLimit
from ml314.cloud.refusals import RefusedError

__all__ = ["COOKIE", "CloudContext", "Limits"]

COOKIE = "ml314_session"
T = TypeVar("T")


@dataclass(frozen=True)
class Limits:
    """Rate limits per client address (logins, registrations, binding attempts) and per user (searches), counted
    in each serving process; the account and binding lockouts are in the database (``cloud/accounts.py``)."""

    logins: tuple[int, float] = (30, 300.0)
    registrations: tuple[int, float] = (20, 3600.0)
    bind_attempts: tuple[int, float] = (30, 300.0)
    searches: tuple[int, float] = (30, 60.0)


@dataclass
class CloudContext:
    engine: sa.Engine
    policy: PasswordPolicy = field(default_factory=PasswordPolicy)
    commands: CommandPort | None = None
    limits: Limits = field(default_factory=Limits)
    session_ttl_s: float = SESSION_TTL_S
    #: how long a command request waits for the device's answer before it answers 202 (sent)
    command_wait_s: float = 5.0
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        lim = self.limits
        self.login_limit = RateLimit(*lim.logins, "log-in attempts")
        self.register_limit = RateLimit(*lim.registrations, "registrations")
        self.bind_limit = RateLimit(*lim.bind_attempts, "binding attempts")
        self.search_limit = RateLimit(*lim.searches, "device searches")

    def tx(self, work: Callable[[sa.Connection], T]) -> T:
        """``work(conn)`` in one transaction (see the module's note on refusals)."""
        with self.engine.connect() as conn:
            try:
                result = work(conn)
            except RefusedError:
                conn.commit()
                raise
            conn.commit()
            return result

    @staticmethod
    def token_of(request: Request) -> str | None:
        """The session token of ``request``: the bearer token, else the cookie."""
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return request.cookies.get(COOKIE)

    def user_of(self, request: Request) -> User:
        """The signed-in user of ``request``; :class:`~ml314.cloud.refusals.NotSignedInError` otherwise."""
        token = self.token_of(request)
        return self.tx(lambda conn: session_user(conn, token, self.clock()))

    def set_cookie(self, request: Request, response: Response, token: str) -> None:
        response.set_cookie(
            COOKIE,
            token,
            max_age=int(self.session_ttl_s),
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )

    @staticmethod
    def clear_cookie(request: Request, response: Response) -> None:
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=request.url.scheme == "https")

    @staticmethod
    def address(request: Request) -> str:
        return request.client.host if request.client else "?"
