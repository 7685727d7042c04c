"""The record of maintenance work done, kept in the data dir (``maintenance.json``) so the schedule survives.

    {"version": 1, "start_s": 1764720000.0, "stored_since_s": null,
     "records": [{"item": "power_cables", "t_s": ..., "by": "", "note": "", "result": ""}]}

``start_s`` is the date due dates run from until an item is first done: the commissioning date when it is given,
else the first time the log was opened. ``stored_since_s`` is set while the battery is in storage (its recharge
reminders run from it). The file is replaced as a whole through
:func:`~ml314.storage.atomic.write_atomically` (a crash leaves the old record or the new one); an unreadable file is
refused with one line, never overwritten.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from ml314.diagnostics.maintenance import MAINTENANCE_ITEMS, WorkRecord, item
from ml314.errors import InputError
from ml314.storage.atomic import write_atomically

__all__ = ["MAINTENANCE_FILE", "MaintenanceLog"]

MAINTENANCE_FILE = "maintenance.json"


class MaintenanceLog:
    """The start date and the work done (thread-safe); every change is written before it returns."""

    def __init__(self, path: Path, now_s: float) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.start_s = now_s
        self.stored_since_s: float | None = None
        self.records: tuple[WorkRecord, ...] = ()
        if self.path.exists():
            try:
                self.start_s, self.stored_since_s, self.records = _parse(
                    json.loads(self.path.read_text(encoding="utf-8"))
                )
            except (OSError, ValueError, TypeError, KeyError) as exc:
                raise InputError(f"{self.path}: unreadable maintenance record ({exc}); fix or move it") from None
        else:
            self._save()

    def set_start(self, start_s: float) -> None:
        """The commissioning date due dates run from."""
        with self._lock:
            self.start_s = float(start_s)
            self._save()

    def set_stored(self, since_s: float | None) -> None:
        """The battery went into storage at ``since_s`` (None: back in service)."""
        with self._lock:
            self.stored_since_s = None if since_s is None else float(since_s)
            self._save()

    def add(self, record: WorkRecord) -> None:
        """Record work done (an unknown item is refused, naming the known ones)."""
        if item(record.item) is None:
            keys = ", ".join(i.key for i in MAINTENANCE_ITEMS)
            raise InputError(f"maintenance item {record.item!r}: one of {keys}")
        with self._lock:
            self.records = tuple(sorted((*self.records, record), key=lambda r: r.t_s))
            self._save()

    def _save(self) -> None:
        doc = {
            "version": 1,
            "start_s": self.start_s,
            "stored_since_s": self.stored_since_s,
            "records": [
                {"item": r.item, "t_s": r.t_s, "by": r.by, "note": r.note, "result": r.result} for r in self.records
            ],
        }
        write_atomically(self.path, json.dumps(doc, indent=1) + "\n")


def _parse(doc: Any) -> tuple[float, float | None, tuple[WorkRecord, ...]]:
    if not isinstance(doc, dict) or doc.get("version") != 1 or not isinstance(doc.get("records"), list):
        raise ValueError("not a maintenance record of version 1")
    records = tuple(
        WorkRecord(
            str(r["item"]), float(r["t_s"]), str(r.get("by", "")), str(r.get("note", "")), str(r.get("result", ""))
        )
        for r in doc["records"]
    )
    stored = doc.get("stored_since_s")
    return float(doc["start_s"]), None if stored is None else float(stored), records
