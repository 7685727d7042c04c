"""Who may do what with a bound device: one table of roles and the actions each permits.

The owner bound the device (proof of possession: its claim code) or received it by a handover; an installer holds
a time-limited, read-only grant from the owner. Anyone else gets "no such device", the same answer as for a serial
that does not exist, so a guessed serial tells nothing.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["ACTIONS", "PERMITS", "ROLES", "Action", "Role", "permits"]

Action = Literal["read", "rename", "command", "unbind", "handover", "share"]
Role = Literal["owner", "installer"]

ACTIONS: tuple[Action, ...] = ("read", "rename", "command", "unbind", "handover", "share")
ROLES: tuple[Role, ...] = ("owner", "installer")

#: role -> the actions it permits (read = the battery system, its history and events)
PERMITS: dict[Role, frozenset[Action]] = {
    "owner": frozenset(ACTIONS),
    "installer": frozenset({"read"}),
}


def permits(role: Role, action: Action) -> bool:
    """Whether ``role`` may do ``action``."""
    return action in PERMITS[role]
