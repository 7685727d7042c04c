"""A finding: what is wrong, where, the evidence, and what the manual says to do about it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ml314.diagnostics.manual import ManualRow
from ml314.domain.faults import FaultSeverity

__all__ = ["Evidence", "Finding"]


@dataclass(frozen=True, slots=True)
class Evidence:
    """One observed fact behind a finding: what, its value and unit, the level it was judged against, and when
    (simulated seconds; None: the present view)."""

    what: str
    value: float | str
    unit: str = ""
    threshold: float | None = None
    t_s: float | None = None

    def text(self) -> str:
        v = f"{self.value:.4g}" if isinstance(self.value, float) else str(self.value)
        unit = f" {self.unit}" if self.unit else ""
        limit = "" if self.threshold is None else f" (level {self.threshold:.4g}{unit})"
        when = "" if self.t_s is None else f" at t {self.t_s:.0f} s"
        return f"{self.what}: {v}{unit}{limit}{when}"

    def as_dict(self) -> dict[str, Any]:
        return {"what": self.what, "value": self.value, "unit": self.unit, "threshold": self.threshold, "t_s": self.t_s}


@dataclass(frozen=True, slots=True)
class Finding:
    """One diagnosis. ``code`` is the rule's (``no_keepalive``, ``sleep``...); ``module_id`` the DIP ID of the module
    concerned (None: the bank or a link, named in ``where``); ``since_s`` when the condition was first seen."""

    code: str
    severity: FaultSeverity
    title: str
    module_id: int | None
    where: str
    evidence: tuple[Evidence, ...]
    manual: ManualRow
    since_s: float | None = None

    @property
    def key(self) -> tuple[str, int | None, str]:
        """What makes two findings the same finding (rule, module, place)."""
        return self.code, self.module_id, self.where

    def text(self) -> str:
        """One line: severity, where, title, the manual's reference."""
        return f"{self.severity.name.lower()}: {self.where}: {self.title} [{self.manual.ref}]"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready record (API, MQTT, ``ml314 diagnose --json``)."""
        m = self.manual
        return {
            "code": self.code,
            "severity": self.severity.name.lower(),
            "title": self.title,
            "module_id": self.module_id,
            "where": self.where,
            "since_s": self.since_s,
            "evidence": [e.as_dict() for e in self.evidence],
            "manual": {
                "ref": m.ref,
                "phenomenon": m.phenomenon,
                "analysis": m.analysis,
                "solution": m.solution,
            },
            "steps": list(m.steps),
        }

    def report(self) -> str:
        """Several lines for a person: the title, the evidence, the manual's analysis and solution, the steps."""
        m = self.manual
        lines = [self.text()]
        lines += [f"    evidence: {e.text()}" for e in self.evidence]
        lines.append(f"    analysis ({m.ref}): {m.analysis}")
        lines.append(f"    solution: {m.solution}")
        lines += [f"    {i}. {step}" for i, step in enumerate(m.steps, 1)]
        return "\n".join(lines)
