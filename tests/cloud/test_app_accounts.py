"""The cloud app's accounts over HTTP on a private PostgreSQL: the manual's password policy (and a configurable
length), wrong passwords, the lockout, sessions by bearer token and by cookie, typed errors, never a traceback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ml314.cloud.accounts import LOGIN_FIRST_LOCK_S, LOGIN_FREE_TRIES, LOGIN_MAX_LOCK_S, SESSION_TTL_S
from ml314.cloud.password_policy import PasswordPolicy
from ml314.cloud.rate_limit import RateLimit
from ml314.cloud.refusals import RefusedError, TooManyTriesError
from ml314.web.cloud_context import Limits
from tests.cloud.app_server import PASSWORD, CloudAppServer, serving
from tests.postgres import PostgresServer


@pytest.fixture(scope="module")
def app(postgres_server: PostgresServer) -> Iterator[CloudAppServer]:
    with serving(postgres_server.new_database(), policy=PasswordPolicy(min_length=10)) as server:
        yield server


def error(r: object) -> dict[str, object]:
    body = r.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"}, body
    return body["error"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("password", "missing"),
    [
        ("alllowercase99", "an uppercase letter"),
        ("ALLUPPERCASE99", "a lowercase letter"),
        ("NoDigitsAtAll", "a digit"),
        ("Short7a", "at least 10 characters"),  # the configured minimum length
    ],
)
def test_weak_passwords_are_refused_saying_what_is_missing(app: CloudAppServer, password: str, missing: str) -> None:
    with app.client() as c:
        r = c.post("/api/register", json={"username": "weak@example.org", "password": password})
        assert r.status_code == 400
        err = error(r)
        assert (err["code"], err["field"]) == ("weak_password", "password")
        assert missing in str(err["message"])
        assert c.post("/api/login", json={"username": "weak@example.org", "password": password}).status_code == 403


def test_the_policy_is_the_manuals_by_default_and_the_nist_one_on_request() -> None:
    manual = PasswordPolicy()
    manual.check("Abcdefg1")
    with pytest.raises(RefusedError, match="a digit"):
        manual.check("Abcdefgh")
    with pytest.raises(RefusedError, match="the username"):
        manual.check("Owner2024x", "owner2024x")
    nist = PasswordPolicy.nist()
    nist.check("correct horse battery staple")  # no composition rule, spaces welcome
    with pytest.raises(RefusedError, match="15 characters"):
        nist.check("Abcdefg1")


def test_register_then_sessions_by_token_and_by_cookie(app: CloudAppServer) -> None:
    with app.client() as c:
        assert c.get("/api/policy").json() == {
            "password": "at least 10 characters, with a digit, an uppercase and a lowercase letter",
            "min_length": 10,
            "classes": True,
        }
        r = c.post("/api/register", json={"username": "Ann@Example.org", "password": PASSWORD})
        assert r.status_code == 201
        token = r.json()["token"]
        cookie = r.headers["set-cookie"]
        for flag in ("HttpOnly", "SameSite=strict", "Path=/"):
            assert flag.lower() in cookie.lower()
        assert c.get("/api/me").json() == {"username": "ann@example.org"}  # the cookie
        c.cookies.clear()
        assert error(c.get("/api/me"))["code"] == "not_signed_in"
        assert c.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        again = c.post("/api/register", json={"username": "ann@example.org", "password": PASSWORD})
        assert (again.status_code, error(again)["code"]) == (409, "username_taken")
        assert c.post("/api/logout", headers={"Authorization": f"Bearer {token}"}).status_code == 204
        gone = c.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert (gone.status_code, error(gone)["code"]) == (401, "session_expired")
        later = c.post("/api/login", json={"username": "ann@example.org", "password": PASSWORD}).json()["token"]
        assert c.get("/api/me", headers={"Authorization": f"Bearer {later}"}).status_code == 200
        app.clock.advance(SESSION_TTL_S)  # a session lasts 30 days
        old = c.get("/api/me", headers={"Authorization": f"Bearer {later}"})
        assert (old.status_code, error(old)["code"]) == (401, "session_expired")


def test_wrong_password_and_unknown_user_get_the_same_answer(app: CloudAppServer) -> None:
    app.account("bob")
    with app.client() as c:
        wrong = c.post("/api/login", json={"username": "bob", "password": "Wrong7Password"})
        nobody = c.post("/api/login", json={"username": "nobody", "password": "Wrong7Password"})
        assert wrong.status_code == nobody.status_code == 403
        assert (
            error(wrong)
            == error(nobody)
            == {
                "code": "wrong_password",
                "message": "wrong username or password",
                "field": "password",
            }
        )
        ok = c.post("/api/login", json={"username": "BOB", "password": PASSWORD})
        assert ok.status_code == 200 and ok.json()["username"] == "bob"


def test_lockout_after_repeated_wrong_passwords_then_it_expires(app: CloudAppServer) -> None:
    app.account("carol")
    wrong = {"username": "carol", "password": "Wrong7Password"}
    with app.client() as c:
        for _ in range(LOGIN_FREE_TRIES - 1):
            assert error(c.post("/api/login", json=wrong))["code"] == "wrong_password"
        locked = c.post("/api/login", json=wrong)
        assert locked.status_code == 429
        assert error(locked)["code"] == "account_locked"
        assert error(locked)["retry_after_s"] == LOGIN_FIRST_LOCK_S
        assert locked.headers["Retry-After"] == str(int(LOGIN_FIRST_LOCK_S))
        right = c.post("/api/login", json={"username": "carol", "password": PASSWORD})
        assert right.status_code == 429  # the right password too while locked
        app.clock.advance(LOGIN_FIRST_LOCK_S)
        doubled = c.post("/api/login", json=wrong)
        assert error(doubled)["retry_after_s"] == 2 * LOGIN_FIRST_LOCK_S  # doubling per further wrong password
        app.clock.advance(LOGIN_MAX_LOCK_S)
        assert c.post("/api/login", json={"username": "carol", "password": PASSWORD}).status_code == 200
        assert error(c.post("/api/login", json=wrong))["code"] == "wrong_password"  # the count started over


def test_bad_input_is_a_typed_error_never_a_traceback(app: CloudAppServer) -> None:
    with app.client() as c:
        missing = c.post("/api/register", json={"username": "dave"})
        assert (missing.status_code, error(missing)["field"]) == (400, "password")
        bad_name = c.post("/api/register", json={"username": "x", "password": PASSWORD})
        assert error(bad_name)["code"] == "invalid_username"
        junk = c.post("/api/login", content=b"{not json", headers={"Content-Type": "application/json"})
        assert junk.status_code == 400 and error(junk)["code"] == "invalid_field"
        assert c.get("/api/nothing").status_code == 404
        paths = c.get("/openapi.json").json()["paths"]  # the API documents itself
        assert {"/api/login", "/api/devices", "/api/devices/{serial}/network", "/api/devices/{serial}/now"} <= set(
            paths
        )


def test_logins_from_one_address_are_rate_limited(postgres_server: PostgresServer) -> None:
    with serving(postgres_server.new_database(), limits=Limits(logins=(3, 60.0))) as server, server.client() as c:
        for _ in range(3):
            assert c.post("/api/login", json={"username": "x1y", "password": "p"}).status_code == 403
        r = c.post("/api/login", json={"username": "x1y", "password": "p"})
        assert (r.status_code, error(r)["code"]) == (429, "rate_limited")
        server.clock.advance(60.0)
        assert c.post("/api/login", json={"username": "x1y", "password": "p"}).status_code == 403


def test_the_rate_limit_window_slides() -> None:
    limit = RateLimit(2, 10.0, "tries")
    limit.hit("a", 0.0)
    limit.hit("a", 4.0)
    limit.hit("b", 4.0)
    with pytest.raises(TooManyTriesError) as caught:
        limit.hit("a", 5.0)
    assert caught.value.retry_after_s == 5.0
    limit.hit("a", 10.0)  # the first hit left the window
