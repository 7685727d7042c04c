"""The inverter's keep-alive, watched: its loss raises the communication alarm, a long loss brings safe limits.

Time is passed in. The watch starts as if the inverter had just been heard, so a battery with no inverter at all
raises the alarm ``alarm_after_s`` after start (what an installer proving the wiring wants to see).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from ml314.domain.battery_status import AlarmKind, BankStatus, BatteryView
from ml314.domain.limits import ChargeLimits
from ml314.protocols.base import ProtocolInfo

__all__ = ["PEER_STALE_S", "KeepAliveWatch", "LinkState", "fresh_view", "safe_status", "watch_for"]

#: an inverter stops using what it decoded when the battery has been silent this long (Victron: 3 s for 0x351)
PEER_STALE_S = 10.0


class LinkState(enum.Enum):
    OK = "ok"
    LOST = "lost"  # alarm raised, limits unchanged
    TIMED_OUT = "timed out"  # alarm raised, safe limits sent


@dataclass
class KeepAliveWatch:
    """Silence longer than ``alarm_after_s`` is LOST; longer than ``timeout_s`` (the protocol's) is TIMED_OUT."""

    alarm_after_s: float
    timeout_s: float
    last_seen_s: float = 0.0
    frames_seen: int = 0

    def seen(self, now_s: float) -> None:
        self.last_seen_s = now_s
        self.frames_seen += 1

    def state(self, now_s: float) -> LinkState:
        quiet = now_s - self.last_seen_s
        if quiet > self.timeout_s:
            return LinkState.TIMED_OUT
        if quiet > self.alarm_after_s:
            return LinkState.LOST
        return LinkState.OK

    def apply(self, status: BankStatus, now_s: float) -> BankStatus:
        """``status`` as the battery must send it in the link's present state."""
        st = self.state(now_s)
        if st is LinkState.OK:
            return status
        status = replace(status, alarms=status.alarms | {AlarmKind.INVERTER_COMMUNICATION})
        return safe_status(status) if st is LinkState.TIMED_OUT else status


def safe_status(status: BankStatus) -> BankStatus:
    """No current either way without a supervising inverter: CCL = DCL = 0 A and both enables cleared.

    CVL and DVL stay: an inverter that still listens (some never send a keep-alive) stops at once, and the first
    keep-alive restores the BMS's own limits.
    """
    lim = status.limits
    return replace(
        status,
        limits=ChargeLimits(cvl_v=lim.cvl_v, dvl_v=lim.dvl_v, ccl_a=0.0, dcl_a=0.0),
        charge_enable=False,
        discharge_enable=False,
    )


def watch_for(info: ProtocolInfo, now_s: float) -> KeepAliveWatch:
    """The battery's watch on one link: the alarm after 5 s or three periods of silence, whichever is longer, safe
    limits after the protocol's own timeout."""
    return KeepAliveWatch(max(5.0, 3.0 * info.period_s), info.keepalive_timeout_s, now_s)


def fresh_view(view: BatteryView, last_heard_s: float | None, now_s: float) -> BatteryView:
    """What an inverter acts on: its decoded ``view``, or nothing once the battery has been silent too long."""
    if last_heard_s is None or now_s - last_heard_s > PEER_STALE_S:
        return BatteryView()
    return view
