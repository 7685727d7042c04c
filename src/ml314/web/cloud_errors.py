"""The cloud app's refusals in the web API's one error form (``web/errors.py``): ``{"error": {"code", "message",
"field"}}`` with the HTTP status of the refusal's kind (and ``retry_after_s`` plus a ``Retry-After`` header when a
lock or a rate limit says when to come back)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ml314.cloud.refusals import (
    ForbiddenError,
    NoSuchDeviceError,
    NotSignedInError,
    RefusedError,
    TakenError,
    TooManyTriesError,
)
from ml314.errors import TransportError
from ml314.web.errors import error_body, install_error_handlers

__all__ = ["install_cloud_error_handlers"]

#: refusal kind -> HTTP status (the most specific first)
STATUS_OF: tuple[tuple[type[Exception], int], ...] = (
    (NotSignedInError, 401),
    (ForbiddenError, 403),
    (NoSuchDeviceError, 404),
    (TakenError, 409),
    (TooManyTriesError, 429),
    (RefusedError, 400),
)


def _refusal(request: Request, exc: Exception) -> JSONResponse:
    del request
    assert isinstance(exc, RefusedError)
    status = next(s for kind, s in STATUS_OF if isinstance(exc, kind))
    extra: dict[str, Any] = {}
    headers: dict[str, str] | None = None
    if isinstance(exc, TooManyTriesError):
        extra["retry_after_s"] = exc.retry_after_s
        headers = {"Retry-After": str(int(exc.retry_after_s))}
    return JSONResponse(error_body(exc.code, str(exc), exc.field, **extra), status_code=status, headers=headers)


def _transport(request: Request, exc: Exception) -> JSONResponse:
    del request
    return JSONResponse(error_body("device_unreachable", str(exc)), status_code=503)


def install_cloud_error_handlers(app: FastAPI) -> None:
    """The web API's handlers, plus the cloud's refusals and an unreachable broker (503)."""
    install_error_handlers(app)

    async def refusal(request: Request, exc: Exception) -> JSONResponse:
        return _refusal(request, exc)

    async def transport(request: Request, exc: Exception) -> JSONResponse:
        return _transport(request, exc)

    app.add_exception_handler(RefusedError, refusal)
    app.add_exception_handler(TransportError, transport)
