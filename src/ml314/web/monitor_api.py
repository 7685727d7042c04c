"""``GET /api/monitor``: the link to a monitored battery (``ml314 monitor`` only): what is read, over what, and
each pack's link state (online, last-seen age, answers, timeouts, refusals) with what it said about itself (serial,
model, firmware, its 0x47 system parameters and 0x92 management info on Pylon RS485)."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter

from ml314.domain.snapshot_json import to_jsonable
from ml314.protocols.pylon_rs485_poll import module_of

if TYPE_CHECKING:
    from ml314.runtime.monitor import Monitor

__all__ = ["monitor_router"]


def monitor_router(monitor: Monitor) -> APIRouter:
    """The route on ``monitor``."""
    router = APIRouter(prefix="/api", tags=["monitor"])

    @router.get("/monitor", summary="The monitored battery's link and each pack's link state")
    def get_monitor() -> dict[str, Any]:
        """`source`, `protocol`, `packs` (RS485: per address `online`, `last_seen_age_s`, counters, identity,
        `parameters`, `management`), `can` (CAN: frames received, age of the last one), `links`."""
        now = time.time()
        packs = []
        for p in monitor.packs():
            r = p.reading
            packs.append(
                {
                    "adr": p.adr,
                    "module": module_of(p.adr),
                    "online": p.online,
                    "last_seen_s": p.last_seen_s,
                    "last_seen_age_s": None if p.last_seen_s is None else round(now - p.last_seen_s, 3),
                    "answers": p.answers,
                    "timeouts": p.timeouts,
                    "misses": p.misses,
                    "refusals": p.refusals,
                    "last_error": p.last_error,
                    "serial": r.serial,
                    "model": r.model,
                    "firmware": r.firmware,
                    "manufacturer": r.manufacturer,
                    "parameters": None if r.parameters is None else dict(r.parameters),
                    "management": None if r.management is None else asdict(r.management),
                }
            )
        peer = monitor.can_peer
        can = None
        if peer is not None:
            heard = peer.last_frame_s
            can = {
                "frames_in": peer.received,
                "frames_out": peer.sent,
                "decode_errors": peer.decode_errors,
                "last_frame_age_s": None if heard is None else round(time.monotonic() - heard, 3),
                "offline_after_s": monitor.config.offline_after_s,
            }
        return {
            "source": monitor.where,
            "protocol": monitor.config.protocol.name,
            "status": monitor.status_line(),
            "cycles": None if monitor.poller is None else monitor.poller.cycles,
            "late_answers": None if monitor.poller is None else monitor.poller.late,
            "packs": packs,
            "can": can,
            "links": [to_jsonable(h) for h in monitor.link_health()],
        }

    return router
