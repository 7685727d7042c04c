"""The event log's acknowledgements, kept in the data dir (``acks.json``) so a restart keeps them.

An event's id counts every event since the log began (the stored log carries its count of dropped events, so ids go
on across restarts). An id alone could still name another event after a restart that lost the newest events (a
SIGKILL between two saves of the log, or ``--fresh``): each acknowledgement is therefore stored with the event's
fingerprint (time, module, kind, key) and holds only for the event that has both. The file is replaced as a whole
through :func:`~ml314.storage.atomic.write_atomically`, so a crash leaves the old set or the new one.

    {"version": 1, "acks": [{"id": 12, "t_s": 3600.0, "module_id": 2, "kind": "alarm", "key": "cell_ov"}]}
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from ml314.bms.events import Event
from ml314.storage.atomic import write_atomically

__all__ = ["ACKS_FILE", "AckStore", "fingerprint"]

ACKS_FILE = "acks.json"
#: acknowledgements kept at most (the oldest ids go first; the log itself holds 10 000 events)
MAX_ACKS = 100_000

Fingerprint = tuple[float, int, str, str]


def fingerprint(event: Event) -> Fingerprint:
    return (float(event.t_s), int(event.module_id), str(event.kind), str(event.key))


class AckStore:
    """The acknowledged events (thread-safe); with a ``path`` every change is written before it returns, and the
    file is read at construction (a missing or unreadable file: none acknowledged, said by :attr:`problem`)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.problem: str | None = None
        self._acks: dict[int, Fingerprint] = {}
        self._lock = threading.Lock()
        if path is not None and path.exists():
            try:
                self._acks = _parse(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError, KeyError) as exc:
                self.problem = f"{path}: unreadable ({exc}); acknowledgements start empty"

    def is_acked(self, event_id: int, event: Event) -> bool:
        return self._acks.get(event_id) == fingerprint(event)

    def acked(self) -> dict[int, Fingerprint]:
        """A copy of every acknowledgement (id: fingerprint)."""
        with self._lock:
            return dict(self._acks)

    def add(self, event_id: int, event: Event) -> None:
        """Acknowledge ``event`` (id ``event_id``); written to the file before this returns."""
        with self._lock:
            if self._acks.get(event_id) == fingerprint(event):
                return
            self._acks[event_id] = fingerprint(event)
            while len(self._acks) > MAX_ACKS:
                del self._acks[min(self._acks)]
            if self.path is not None:
                write_atomically(self.path, _document(self._acks))


def _document(acks: dict[int, Fingerprint]) -> str:
    rows = [{"id": i, "t_s": f[0], "module_id": f[1], "kind": f[2], "key": f[3]} for i, f in sorted(acks.items())]
    return json.dumps({"version": 1, "acks": rows}, indent=1) + "\n"


def _parse(doc: Any) -> dict[int, Fingerprint]:
    if not isinstance(doc, dict) or doc.get("version") != 1 or not isinstance(doc.get("acks"), list):
        raise ValueError("not an acknowledgement file of version 1")
    return {int(r["id"]): (float(r["t_s"]), int(r["module_id"]), str(r["kind"]), str(r["key"])) for r in doc["acks"]}
