"""The one error form of the web API: ``{"error": {"code", "message", "field"}}`` (plus ``retry_after_s`` when the
PIN check is locked), with the HTTP status of its kind; never a traceback.

Every exception a request can raise is mapped here, by one table: the surface's typed errors, the project's error
tree, FastAPI's validation errors (a 422 becomes a 400 naming the field) and Starlette's HTTP errors (404, 405).
"""

from __future__ import annotations

import sys
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ml314.errors import AccessDeniedError, ConfigError, InputError
from ml314.runtime.surface import (
    ConflictError,
    NotFoundError,
    NotReadyError,
    PinRefusedError,
    PinRequiredError,
    SurfaceError,
)

__all__ = ["ERROR_RESPONSES", "error_body", "install_error_handlers"]

#: the surface's error kinds -> HTTP status (the most specific first)
STATUS_OF: tuple[tuple[type[Exception], int], ...] = (
    (PinRequiredError, 401),
    (PinRefusedError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (NotReadyError, 503),
    (SurfaceError, 400),
    (AccessDeniedError, 403),
    (InputError, 400),
    (ConfigError, 400),
)
_CODE_OF_STATUS = {
    400: "bad_request",
    401: "pin_required",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    503: "not_ready",
}


def error_body(code: str, message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    """The JSON body of every error response."""
    return {"error": {"code": code, "message": message, "field": field, **extra}}


_ERROR_SCHEMA = {
    "content": {
        "application/json": {
            "example": error_body("pin_wrong", "wrong technician PIN (4 tries left before a lock)", "pin"),
        }
    }
}
#: the error responses every route may give, for the OpenAPI document
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "bad input; `field` names it", **_ERROR_SCHEMA},
    404: {"description": "no such module or event", **_ERROR_SCHEMA},
    503: {"description": "the bank is not running yet or any more", **_ERROR_SCHEMA},
}


def _for_surface(exc: Exception) -> JSONResponse:
    status = next(s for kind, s in STATUS_OF if isinstance(exc, kind))
    extra: dict[str, Any] = {}
    if isinstance(exc, PinRefusedError) and exc.retry_after_s > 0:
        extra["retry_after_s"] = exc.retry_after_s
    if isinstance(exc, SurfaceError):
        body = error_body(exc.code, str(exc), exc.field, **extra)
    else:
        body = error_body(_CODE_OF_STATUS.get(status, "bad_request"), str(exc))
    headers = {"Retry-After": str(int(extra["retry_after_s"]))} if "retry_after_s" in extra else None
    return JSONResponse(body, status_code=status, headers=headers)


def _field(loc: Any) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or None


def install_error_handlers(app: FastAPI) -> None:
    """Map every exception a request can raise to the error form."""

    async def surface_error(request: Request, exc: Exception) -> JSONResponse:
        del request
        return _for_surface(exc)

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        del request
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        field = None if first.get("type") == "json_invalid" else _field(first.get("loc", ()))
        message = f"{field}: {first.get('msg', 'invalid')}" if field else str(first.get("msg", "invalid request"))
        return JSONResponse(error_body("invalid_field", message, field), status_code=400)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _CODE_OF_STATUS.get(exc.status_code, f"http_{exc.status_code}")
        message = str(exc.detail) if exc.status_code != 404 else f"no such resource: {request.url.path}"
        return JSONResponse(error_body(code, message), status_code=exc.status_code, headers=exc.headers)

    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        print(f"ml314 web: {request.method} {request.url.path} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        body = error_body("internal", f"internal error ({type(exc).__name__}); the run goes on")
        return JSONResponse(body, status_code=500)

    for kind, _ in STATUS_OF:
        app.add_exception_handler(kind, surface_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, internal_error)
