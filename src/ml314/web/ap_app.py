"""The device's local API on its AP address (``ml314 run --ap HOST:PORT``): the same application as ``--http``,
behind the device's own AP password.

On the product, AP mode is the module's own Wi-Fi network ``Smart Battery-XXXX``, which only someone with its
password can join. No radio exists here, so the AP is a second listener, and the Wi-Fi password is a login:
``POST /api/ap/login`` with the AP password sets an HttpOnly session cookie, and every other route (REST and the
live WebSocket alike) needs that session. The app's page (``/app/``), its assets and the device's public face
(``GET /api/device``) are open, so the app can show the login. While the device is not in AP mode its AP is off:
every request is answered ``503 ap_off``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any

from ml314.domain.network import NetworkMode
from ml314.runtime.network import DeviceNetwork
from ml314.web.device_api import AP_COOKIE
from ml314.web.errors import error_body

__all__ = ["ApGuard"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]

#: open without an AP session: the app's page and assets, the device's public face, the login
OPEN_PATHS = ("/app", "/app/", "/api/device", "/api/ap/login", "/api/ap/logout", "/favicon.ico")
OPEN_PREFIXES = ("/app/",)


def _cookie(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            jar.load(value.decode("latin-1"))
            morsel = jar.get(AP_COOKIE)
            if morsel is not None:
                return morsel.value
    return None


class ApGuard:
    """ASGI middleware of the AP listener (``app.add_middleware(ApGuard, network=...)``): REST and WebSocket."""

    def __init__(self, app: Asgi, network: DeviceNetwork) -> None:
        self.app = app
        self.network = network

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in {"http", "websocket"}:
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        if self.network.mode is not NetworkMode.AP:
            message = "the device is not in AP mode: its AP is off (switch it to AP mode in the app)"
            await self._refuse(scope, send, 503, "ap_off", message)
            return
        session = self.network.ap_session(_cookie(scope))
        scope.setdefault("state", {})["ap_session"] = session
        if session or path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        await self._refuse(scope, send, 401, "ap_login_required", "log in with the device's AP password first")

    @staticmethod
    async def _refuse(scope: Scope, send: Send, status: int, code: str, message: str) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 4000 + status, "reason": code})
            return
        body = json.dumps(error_body(code, message, "password" if status == 401 else None)).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
