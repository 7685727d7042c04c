"""The cloud app's account routes: the password policy, register, log in, log out, who am I."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from pydantic import BaseModel, Field

from ml314.cloud.accounts import end_session, log_in, new_session, register
from ml314.web.cloud_context import CloudContext

__all__ = ["accounts_router"]


class Credentials(BaseModel):
    username: str = Field(max_length=320, description="3 to 64 characters: letters, digits, . _ @ + -")
    password: str = Field(max_length=4096, description="the account's password")


def accounts_router(ctx: CloudContext) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["account"])

    @router.get("/policy")
    def policy() -> dict[str, Any]:
        """The password policy new accounts must meet (the register page shows it)."""
        p = ctx.policy
        return {"password": p.describe(), "min_length": p.min_length, "classes": p.classes}

    def signed_in(request: Request, response: Response, user: Any, token: str) -> dict[str, Any]:
        ctx.set_cookie(request, response, token)
        return {"username": user.username, "token": token, "expires_in_s": ctx.session_ttl_s}

    @router.post("/register", status_code=201)
    def register_route(body: Annotated[Credentials, Body()], request: Request, response: Response) -> dict[str, Any]:
        """A new account (the policy's password), signed in at once: the session token in the body and the
        cookie. 400 ``weak_password`` / ``invalid_username``, 409 ``username_taken``, 429 ``rate_limited``."""
        ctx.register_limit.hit(ctx.address(request), ctx.clock())

        def work(conn: Any) -> tuple[Any, str]:
            now = ctx.clock()
            user = register(conn, body.username, body.password, ctx.policy, now)
            return user, new_session(conn, user, now, ctx.session_ttl_s)

        user, token = ctx.tx(work)
        return signed_in(request, response, user, token)

    @router.post("/login")
    def login_route(body: Annotated[Credentials, Body()], request: Request, response: Response) -> dict[str, Any]:
        """Log in: the session token in the body and the cookie. 403 ``wrong_password`` (an unknown username
        too), 429 ``account_locked`` (after 5 wrong passwords in a row: 30 s, doubling to 15 min) or
        ``rate_limited`` (too many tries from one address)."""
        ctx.login_limit.hit(ctx.address(request), ctx.clock())

        def work(conn: Any) -> tuple[Any, str]:
            now = ctx.clock()
            user = log_in(conn, body.username, body.password, now)
            return user, new_session(conn, user, now, ctx.session_ttl_s)

        user, token = ctx.tx(work)
        return signed_in(request, response, user, token)

    @router.post("/logout", status_code=204)
    def logout_route(request: Request) -> Response:
        """End this session (the token and the cookie stop working)."""
        token = ctx.token_of(request)
        if token:
            ctx.tx(lambda conn: end_session(conn, token))
        response = Response(status_code=204)
        ctx.clear_cookie(request, response)
        return response

    @router.get("/me")
    def me(request: Request) -> dict[str, Any]:
        """The signed-in account (401 ``not_signed_in`` / ``session_expired``)."""
        return {"username": ctx.user_of(request).username}

    return router
