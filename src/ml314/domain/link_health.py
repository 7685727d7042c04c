"""The health of one link as a frozen snapshot: frames, errors by kind, its open faults and recent events.

A link (a CAN bus, an RS485 listener or device, the Modbus server, the bank link) counts what it carried and what
went wrong; surfaces (the status line, the summary, later the web pages) render a :class:`LinkHealthSnapshot`
and never reach into the link's threads.
"""

from __future__ import annotations

from dataclasses import dataclass

from ml314.domain.faults import SystemFault, SystemFaultKind

__all__ = ["LinkHealthSnapshot"]


@dataclass(frozen=True, slots=True)
class LinkHealthSnapshot:
    """One link at one moment.

    ``errors`` counts per ``kind:reason`` (``link_bad_frame:ValueError``); ``faults`` are the faults open now
    (the device lost, errors within the last minute), ``events`` the latest fault records (newest last).
    """

    link: str
    frames_in: int = 0
    frames_out: int = 0
    errors: tuple[tuple[str, int], ...] = ()
    faults: tuple[SystemFault, ...] = ()
    events: tuple[SystemFault, ...] = ()
    lost: bool = False
    reopens: int = 0
    connections: int = 0
    refused: int = 0

    @property
    def error_count(self) -> int:
        """Every error counted so far, of any kind."""
        return sum(n for _, n in self.errors)

    def count(self, kind: SystemFaultKind) -> int:
        """The errors counted of one fault kind (every reason)."""
        prefix = kind.value + ":"
        return sum(n for key, n in self.errors if key.startswith(prefix))

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready record (summary, API)."""
        return {
            "link": self.link,
            "frames_in": self.frames_in,
            "frames_out": self.frames_out,
            "errors": dict(self.errors),
            "faults": [f.as_dict() for f in self.faults],
            "events": [f.as_dict() for f in self.events],
            "lost": self.lost,
            "reopens": self.reopens,
            "connections": self.connections,
            "refused": self.refused,
        }

    def brief(self) -> str:
        """A short text for a status line: counters, and the open faults first."""
        head = ", ".join(f.label for f in sorted(self.faults, key=lambda f: -f.severity))
        counts = f"in {self.frames_in} out {self.frames_out} err {self.error_count}"
        return f"{self.link}: {head + '; ' if head else ''}{counts}" + (
            f" reopened {self.reopens}" if self.reopens else ""
        )
