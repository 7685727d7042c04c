"""The LCD's link to a running ``ml314 run``: its web API read into snapshots, the protocol change sent.

``GET /api/modules/{id}`` (and ``GET /api/bank``) give the values the LCD shows, rebuilt with
:func:`~ml314.domain.snapshot_json.from_jsonable`; a :class:`~ml314.hmi.lcd.ProtocolRequest` becomes ``PUT
/api/protocols`` and its answer a :class:`~ml314.hmi.lcd.ProtocolReply` (401/403 with the device's words and, on a
lockout, ``retry_after_s``). An unreachable server is a :class:`~ml314.errors.TransportError` with one clear line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from ml314.domain.battery_status import BankStatus, ModuleStatus
from ml314.domain.snapshot_json import SnapshotDecodeError, from_jsonable
from ml314.errors import InputError, TransportError
from ml314.hmi.lcd import LcdScreen, LcdState, PortProtocols, ProtocolReply, ProtocolRequest, render
from ml314.protocols.base import Transport

__all__ = ["LcdClient", "LcdData"]


@dataclass(frozen=True, slots=True)
class LcdData:
    """What one poll brought: the bank, the module, whether the module is online, the protocols the ports run now
    (when the server says), and whether the module's BMS runs (its LCD has power)."""

    bank: BankStatus | None
    module: ModuleStatus | None
    online: bool
    running: PortProtocols | None
    powered: bool = True
    network: str | None = None  # the device's network mode (``GET /api/device``; None where it has none)

    def screen(self, state: LcdState, now_s: float, utc_offset_s: float = 0.0) -> LcdScreen:
        """The screen of ``state`` with these values (what the terminal and the browser both draw)."""
        return render(
            state,
            self.bank,
            self.module,
            now_s,
            online=self.online,
            running=self.running,
            powered=self.powered,
            utc_offset_s=utc_offset_s,
            network=self.network,
        )


def _protocols(*docs: dict[str, Any]) -> PortProtocols | None:
    for doc in docs:
        p = doc.get("protocols")
        if isinstance(p, dict):
            return PortProtocols(can=_name(p.get("can")), rs485=_name(p.get("rs485")))
    return None


def _name(value: Any) -> str | None:
    if isinstance(value, dict):  # {"name": ..., "code": ...}
        value = value.get("name")
    return value if isinstance(value, str) else None


def _error(response: httpx.Response) -> tuple[str, float]:
    """The message and retry_after_s of an error response (``{"error": {...}}``)."""
    try:
        doc = response.json()
    except ValueError:
        return f"HTTP {response.status_code}", 0.0
    err = doc.get("error", doc) if isinstance(doc, dict) else {}
    if not isinstance(err, dict):
        return f"HTTP {response.status_code}", 0.0
    message = str(err.get("message") or f"HTTP {response.status_code}")
    retry = err.get("retry_after_s", doc.get("retry_after_s") if isinstance(doc, dict) else None)
    if retry is None:
        retry = response.headers.get("retry-after")
    try:
        return message, max(0.0, float(retry or 0.0))
    except (TypeError, ValueError):
        return message, 0.0


class LcdClient:
    """One ``ml314 run`` at ``url`` (``http://127.0.0.1:8314``), asked asynchronously."""

    def __init__(self, url: str, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.url, timeout=10.0, transport=transport)

    async def close(self) -> None:
        await self._http.aclose()

    async def _get(self, path: str) -> httpx.Response:
        try:
            return await self._http.get(path)
        except httpx.HTTPError as exc:
            raise TransportError(f"cannot reach ml314 run at {self.url} ({exc or type(exc).__name__})") from None

    async def fetch(self, module_id: int) -> LcdData:
        """The bank and module ``module_id`` now; :class:`InputError` if the bank has no such module."""
        bank_r = await self._get("/api/bank")
        if bank_r.status_code != 200:
            raise TransportError(f"{self.url}/api/bank answered HTTP {bank_r.status_code}: is this ml314 run?")
        module_r = await self._get(f"/api/modules/{module_id}")
        try:
            bank_doc = bank_r.json()
            bank = from_jsonable(BankStatus, bank_doc["bank"])
            if module_r.status_code == 404:
                ids = sorted(m.address for m in bank.modules)
                raise InputError(f"no module {module_id} at {self.url} (modules: {', '.join(map(str, ids))})")
            if module_r.status_code != 200:
                raise TransportError(f"{self.url}/api/modules/{module_id} answered HTTP {module_r.status_code}")
            module_doc = module_r.json()
            module = from_jsonable(ModuleStatus, module_doc["module"])
        except (ValueError, KeyError, TypeError, SnapshotDecodeError) as exc:
            raise TransportError(f"{self.url}: not the ml314 API ({exc})") from None
        online = bool(module_doc.get("online", True))
        powered = bool(module_doc.get("powered", True))
        return LcdData(bank, module, online, _protocols(module_doc, bank_doc), powered, await self._network())

    async def _network(self) -> str | None:
        """The device's network mode label (a battery read over its wire, ``ml314 monitor``, has none)."""
        r = await self._get("/api/device")
        try:
            doc = r.json() if r.status_code == 200 else None
        except ValueError:
            return None
        label = doc.get("mode_label") if isinstance(doc, dict) else None
        return label if isinstance(label, str) else None

    async def change_protocol(self, request: ProtocolRequest) -> ProtocolReply:
        """Send the LCD's protocol change; the device's answer (an unreachable device is a refusal that says so)."""
        body = {
            "pin": request.pin,
            "can": request.protocol if request.port is Transport.CAN else None,
            "rs485": request.protocol if request.port is Transport.RS485 else None,
        }
        try:
            r = await self._http.put("/api/protocols", json=body)
        except httpx.HTTPError as exc:
            return ProtocolReply(request.seq, False, f"device not reachable ({type(exc).__name__})")
        if r.status_code == 200:
            doc = r.json()
            return ProtocolReply(request.seq, True, can=_name(doc.get("can")), rs485=_name(doc.get("rs485")))
        message, retry = _error(r)
        return ProtocolReply(request.seq, False, message, retry_after_s=retry)
