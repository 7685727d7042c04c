"""Faults, warnings and cautions of the system as typed records, not strings.

A :class:`SystemFault` is what the runtime, the bank master or the commissioning checks know is wrong outside the
BMS's protection table (that table's trips are :class:`~ml314.domain.battery_status.AlarmKind` alarms): a link
that lost its device, a frame that could not be read, a wiring fault, a module the master lost, a mixed bank.
Surfaces (CLI status line, summary, event log, later the web pages) render these records; they never parse text.

Each kind has one row in :data:`FAULT_KINDS`: its severity and the manual's reference, so a record needs only
the kind, the module (if one is concerned), the link (if one is concerned) and its details.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["FAULT_KINDS", "FaultKindInfo", "FaultSeverity", "SystemFault", "SystemFaultKind"]


class FaultSeverity(enum.IntEnum):
    """How urgent a fault is; higher sorts first on every surface."""

    INFO = 0
    CAUTION = 1
    WARNING = 2
    ALARM = 3


class SystemFaultKind(enum.Enum):
    """What is wrong, one member per kind a surface may need to tell apart."""

    LINK_BAD_FRAME = "link_bad_frame"
    LINK_ERROR = "link_error"
    LINK_LOST = "link_lost"
    LINK_REOPENED = "link_reopened"
    INVERTER_LOST = "inverter_lost"
    WIRING = "wiring"
    MODULE_LOST = "module_lost"
    NO_MASTER = "no_master"
    BANK_MIX = "bank_mix"
    STATE_RESTORED = "state_restored"
    LEGACY_SECRETS = "legacy_secrets"


@dataclass(frozen=True, slots=True)
class FaultKindInfo:
    """The fixed facts of a kind: its severity, a short label and the manual's reference."""

    severity: FaultSeverity
    label: str
    manual_ref: str


#: one row per kind: severity, label for a status line, the manual's section
FAULT_KINDS: dict[SystemFaultKind, FaultKindInfo] = {
    SystemFaultKind.LINK_BAD_FRAME: FaultKindInfo(FaultSeverity.INFO, "bad frame", "12.2 #1"),
    SystemFaultKind.LINK_ERROR: FaultKindInfo(FaultSeverity.WARNING, "link error", "12.2 #1"),
    SystemFaultKind.LINK_LOST: FaultKindInfo(FaultSeverity.ALARM, "link lost", "12.2 #1"),
    SystemFaultKind.LINK_REOPENED: FaultKindInfo(FaultSeverity.INFO, "link reopened", "12.2 #1"),
    SystemFaultKind.INVERTER_LOST: FaultKindInfo(FaultSeverity.ALARM, "inverter lost", "12.2 #1"),
    SystemFaultKind.WIRING: FaultKindInfo(FaultSeverity.ALARM, "wiring", "12.2 #1, 8.4.2"),
    SystemFaultKind.MODULE_LOST: FaultKindInfo(FaultSeverity.ALARM, "module lost", "12.2 #1"),
    SystemFaultKind.NO_MASTER: FaultKindInfo(FaultSeverity.ALARM, "no master", "12.2 #1, 6.3"),
    SystemFaultKind.BANK_MIX: FaultKindInfo(FaultSeverity.CAUTION, "mixed bank", "13.1 (5)"),
    SystemFaultKind.STATE_RESTORED: FaultKindInfo(FaultSeverity.INFO, "state restored", "-"),
    SystemFaultKind.LEGACY_SECRETS: FaultKindInfo(FaultSeverity.WARNING, "legacy PIN 123456 ON", "-"),
}


@dataclass(frozen=True, slots=True)
class SystemFault:
    """One fault: its kind, the module and link concerned (if any), details for a person, and when (sim seconds)."""

    kind: SystemFaultKind
    details: str
    module_id: int | None = None
    link: str | None = None
    t_s: float | None = None

    @property
    def severity(self) -> FaultSeverity:
        """The kind's severity (:data:`FAULT_KINDS`)."""
        return FAULT_KINDS[self.kind].severity

    @property
    def manual_ref(self) -> str:
        """The manual's section for this kind."""
        return FAULT_KINDS[self.kind].manual_ref

    @property
    def label(self) -> str:
        """A short label for a status line: the kind's label with the module or link it concerns."""
        where = f" M{self.module_id}" if self.module_id is not None else (f" {self.link}" if self.link else "")
        return f"{FAULT_KINDS[self.kind].label}{where}"

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready record (summary, event log, API)."""
        return {
            "kind": self.kind.value,
            "severity": self.severity.name.lower(),
            "module_id": self.module_id,
            "link": self.link,
            "details": self.details,
            "manual_ref": self.manual_ref,
            "t_s": self.t_s,
        }


def _check_table() -> None:
    missing = set(SystemFaultKind) - set(FAULT_KINDS)
    if missing:  # pragma: no cover - a programming error caught at import
        raise AssertionError(f"FAULT_KINDS lacks {sorted(k.value for k in missing)}")


_check_table()
