"""The routine maintenance of manual Table 12-3: items, intervals, due dates and reminders.

Due dates run from the last time an item was done, or from the start date (commissioning, or the first run of the
data dir) when it never was. Where the table gives a range ("once 6-12 months" for the cabinet's cleanliness) the
short end is taken: a reminder that comes early costs a look, one that comes late costs dust in the cabinet.

Pure: times are passed in (epoch seconds); the record of work done is kept by ``storage/maintenance_log.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "DUE_SOON_DAYS",
    "MAINTENANCE_ITEMS",
    "Due",
    "MaintenanceItem",
    "WorkRecord",
    "item",
    "reminders",
    "schedule",
]

DAY_S = 86400.0
MONTH_DAYS = 30.4375
#: an item is "due soon" this many days before its due date
DUE_SOON_DAYS = 14.0

Status = Literal["overdue", "due soon", "ok"]


@dataclass(frozen=True)
class MaintenanceItem:
    """One row of Table 12-3."""

    key: str
    name: str
    interval_months: float
    interval_text: str  # as the manual words it
    steps: tuple[str, ...]
    guided: bool = False  # the software runs it (the shallow charge/discharge test)
    in_storage: bool = False  # due only while the battery is stored (8.1.3, 13.1 (10)), from the day it was stored


MAINTENANCE_ITEMS: tuple[MaintenanceItem, ...] = (
    MaintenanceItem(
        "power_cables",
        "Power cables",
        6,
        "once every 6 months",
        (
            "Inspect the power cable for mechanical damage; the terminal insulation sleeves must be intact. If damaged,"
            " turn the machine off and repair or replace the cable.",
            "Check the power cable for looseness; tighten with a standard torque wrench.",
            "Look for loose screws or discoloured copper bus bars; tighten the screws with a torque wrench; a"
            " discoloured bus bar is replaced by the manufacturer's after-sales service.",
        ),
    ),
    MaintenanceItem(
        "communication_cables",
        "Communication cables",
        12,
        "once a year",
        (
            "Verify that the terminals of the parallel communication cable are tight; re-tighten a loose one.",
            "Check the communication cable for discolouration; if discoloured, shut the machine down and replace it.",
        ),
    ),
    MaintenanceItem(
        "cabinet_cleanliness",
        "Cabinet cleanliness",
        6,
        "once every 6-12 months (the reminder takes 6)",
        ("Check the front door, back door and the modules inside the cabinet for dust; clean it in time.",),
    ),
    MaintenanceItem(
        "running_status",
        "System running status",
        6,
        "once every 6 months",
        (
            "Check that every parameter (system voltage, current, temperature ...) is normal while the system runs"
            " (the PC software's live view).",
            "Check that the main components work: system switches and contactors.",
            "Inspect the air inlet, outlet and ducts for blockage; clean them.",
        ),
    ),
    MaintenanceItem(
        "charge_discharge",
        "Charge and discharge maintenance",
        6,
        "once every 6 months",
        (
            "A light-load, shallow charge/discharge test to check that SOC and SOH are normal, read with the PC"
            " software; depth of discharge and power at most 20 % of the rated values (ml314 maintenance test).",
        ),
        guided=True,
    ),
    MaintenanceItem(
        "storage_recharge",
        "Storage recharge",
        3,
        "every 3 months while stored (13.1 (10); 8.1.3 says 6: the stricter is taken)",
        (
            "Charge the stored battery back to 60 % SOC (the top of the 50-60 % storage band), then switch it off"
            " again; see ml314 maintenance storage.",
        ),
        in_storage=True,
    ),
)
_BY_KEY = {i.key: i for i in MAINTENANCE_ITEMS}


def item(key: str) -> MaintenanceItem | None:
    """The item of ``key``, or None."""
    return _BY_KEY.get(key)


@dataclass(frozen=True)
class WorkRecord:
    """Work done: which item, when (epoch s), by whom, a note, the result (e.g. the shallow test's verdict)."""

    item: str
    t_s: float
    by: str = ""
    note: str = ""
    result: str = ""


@dataclass(frozen=True)
class Due:
    """One item's place in the schedule at ``now``."""

    item: MaintenanceItem
    last_done_s: float | None
    due_s: float
    days_left: float
    status: Status


def schedule(
    start_s: float, records: tuple[WorkRecord, ...], now_s: float, stored_since_s: float | None = None
) -> tuple[Due, ...]:
    """Every item of Table 12-3 with its due date, soonest first; while the battery is stored (``stored_since_s``)
    also its storage recharge, due from the day it was stored or its last recharge since."""
    out: list[Due] = []
    for it in MAINTENANCE_ITEMS:
        if it.in_storage and stored_since_s is None:
            continue
        since = stored_since_s if it.in_storage and stored_since_s is not None else start_s
        done = [r.t_s for r in records if r.item == it.key and r.t_s >= (since if it.in_storage else -math.inf)]
        last = max(done) if done else None
        due = (since if last is None else last) + it.interval_months * MONTH_DAYS * DAY_S
        left = (due - now_s) / DAY_S
        status: Status = "overdue" if left < 0 else "due soon" if left <= DUE_SOON_DAYS else "ok"
        out.append(Due(it, last, due, left, status))
    return tuple(sorted(out, key=lambda d: d.due_s))


def reminders(dues: tuple[Due, ...]) -> tuple[str, ...]:
    """One line per item that is overdue or due soon."""
    lines = []
    for d in dues:
        if d.status == "overdue":
            lines.append(f"{d.item.name}: overdue by {-d.days_left:.0f} days ({d.item.interval_text}{_source(d)})")
        elif d.status == "due soon":
            lines.append(f"{d.item.name}: due in {d.days_left:.0f} days ({d.item.interval_text}{_source(d)})")
    return tuple(lines)


def _source(d: Due) -> str:
    return "" if d.item.in_storage else ", Table 12-3"
