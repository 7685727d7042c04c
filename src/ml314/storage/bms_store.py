"""The BMS's non-volatile memory: event log, counters and an opaque state dict, one JSON file per bank.

Why JSON and not SQLite: the whole record is one small document (10 000 events is a few MB) saved every few
minutes and at shutdown, always replaced as a whole, read once at start. A whole-file atomic replace gives the
crash guarantees below with nothing but ``os.replace``; the file is readable by a technician; there is no schema to
migrate. (The run history, which grows all the time, lives in the SQLite database instead.)

File layout: ``{"format": "ml314.bms_store", "version": 1, "sha256": <hex>, "payload": {...}}`` where the
checksum covers the canonical JSON of the payload (sorted keys, compact), so a file that still parses but was
damaged is detected too.

Guarantees of :func:`save_bms_state`, for a crash (or exception) at any instant:

* the new document is written to ``<file>.tmp``, flushed and fsynced before anything else changes;
* the current main file, if it verifies, is copied to ``<file>.bak`` (via ``.bak.tmp`` + rename); one that does
  not verify is renamed to ``<file>.corrupt`` and the existing backup is kept, so a good backup is never replaced
  by a bad file;
* then ``<file>.tmp`` is renamed onto ``<file>`` and the directory fsynced.

At every instant ``<file>`` is absent, the previous good document, or the new one, and ``<file>.bak`` holds the
good document before that. :func:`load_bms_state` reads the main file, falls back to the backup (appending a
warning event that says why), and when neither is usable either raises :class:`InputError` or starts empty with a
warning event. A file for a different bank shape raises :class:`ConfigError`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ml314.bms.events import Counters, Event, EventLog
from ml314.errors import ConfigError, InputError
from ml314.storage.atomic import fsync_dir, write_durably

__all__ = [
    "FORMAT",
    "VERSION",
    "StoredBms",
    "backup_path",
    "bank_store_path",
    "load_bms_state",
    "read_bms_file",
    "save_bms_state",
    "temp_path",
]

FORMAT = "ml314.bms_store"
VERSION = 1
_BANK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

Source = Literal["main", "backup", "empty"]


@dataclass(frozen=True)
class StoredBms:
    """What was saved (or an empty start): where it came from and when it was saved (NaN for an empty start)."""

    events: EventLog
    counters: Counters
    state: dict[str, Any]
    saved_t_s: float
    source: Source


def bank_store_path(directory: Path, bank: str) -> Path:
    """The file of bank ``bank`` in ``directory``: ``<bank>.bms.json``."""
    if not _BANK_NAME.match(bank):
        raise InputError(f"bank name {bank!r}: use letters, digits, '_', '-' or '.' (at most 64, no leading dot)")
    return Path(directory) / f"{bank}.bms.json"


def backup_path(path: Path) -> Path:
    """The previous good document: ``<file>.bak``."""
    return path.with_name(path.name + ".bak")


def temp_path(path: Path) -> Path:
    """Where the next document is written before it replaces ``path``: ``<file>.tmp``."""
    return path.with_name(path.name + ".tmp")


def _corrupt_path(path: Path) -> Path:
    return path.with_name(path.name + ".corrupt")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def _canonical(payload: Any) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=_json_default, allow_nan=True)


def _document(payload: dict[str, Any]) -> bytes:
    # normalise first (tuples -> lists, int keys -> text) so the checksum is the one a reader recomputes
    body = _canonical(json.loads(json.dumps(payload, default=_json_default)))
    digest = hashlib.sha256(body.encode()).hexdigest()
    head = json.dumps({"format": FORMAT, "version": VERSION, "sha256": digest})
    return (head[:-1] + ', "payload": ' + body + "}\n").encode()


def save_bms_state(
    path: Path, events: EventLog, counters: Counters, state: dict[str, Any] | None = None, t_s: float = math.nan
) -> None:
    """Save the bank's event log, counters and ``state`` (JSON-compatible values, numpy arrays allowed) to ``path``
    with the crash guarantees of this module. Raises :class:`InputError` if ``state`` cannot be serialised (before
    touching any file)."""
    path = Path(path)
    payload = {
        "saved_t_s": None if math.isnan(t_s) else t_s,
        "events": events.to_records(),
        "events_dropped": events.dropped,
        "counters": counters.to_record(),
        "state": {} if state is None else state,
    }
    try:
        data = _document(payload)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{path}: BMS state cannot be saved ({exc})") from exc
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    write_durably(tmp, data)
    if path.exists():
        try:
            current = path.read_bytes()
            _verify(current, path)
        except InputError:
            os.replace(path, _corrupt_path(path))
        else:
            bak_tmp = backup_path(path).with_name(backup_path(path).name + ".tmp")
            write_durably(bak_tmp, current)
            os.replace(bak_tmp, backup_path(path))
    os.replace(tmp, path)
    fsync_dir(path.parent)


def _verify(data: bytes, path: Path) -> dict[str, Any]:
    """The payload of a document; raises :class:`InputError` saying what is wrong with it."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a valid JSON document ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InputError(f"{path}: not an ml314 BMS store (format {FORMAT!r} expected)")
    if doc.get("version") != VERSION:
        raise InputError(f"{path}: store version {doc.get('version')!r}, this ml314 reads version {VERSION}")
    payload = doc.get("payload")
    if not isinstance(payload, dict):
        raise InputError(f"{path}: the payload is missing")
    digest = hashlib.sha256(_canonical(payload).encode()).hexdigest()
    if digest != doc.get("sha256"):
        raise InputError(f"{path}: checksum mismatch, the file is damaged")
    return payload


def read_bms_file(path: Path, event_capacity: int = EventLog.DEFAULT_CAPACITY) -> StoredBms:
    """Read and verify one store file (main or backup). Raises :class:`InputError` if it is missing, damaged or
    malformed."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file") from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from exc
    payload = _verify(data, path)
    try:
        events = EventLog.from_records(payload["events"], event_capacity)
        counters = Counters.from_record(payload["counters"])
        state = payload["state"]
        saved = payload["saved_t_s"]
    except KeyError as exc:
        raise InputError(f"{path}: field {exc.args[0]!r} missing") from exc
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from exc
    if not isinstance(state, dict):
        raise InputError(f"{path}: state must be an object")
    events.dropped = int(payload.get("events_dropped", 0))
    return StoredBms(events, counters, state, math.nan if saved is None else float(saved), "main")


def load_bms_state(
    path: Path,
    n_modules: int,
    *,
    n_cells: int = 16,
    capacity_ah: float = 314.0,
    t_s: float = 0.0,
    on_error: Literal["empty", "raise"] = "empty",
    event_capacity: int = EventLog.DEFAULT_CAPACITY,
) -> StoredBms:
    """The bank's saved state: the main file, else the backup (with a warning event), else an empty start (an info
    event when there was nothing to load, a warning event when files were unusable) or, with
    ``on_error="raise"``, :class:`InputError`. Raises :class:`ConfigError` when the saved bank has another number
    of modules or cells. Events added here carry ``t_s`` and module id 0 (the bank)."""
    path = Path(path)
    reasons: list[str] = []
    for candidate, source in ((path, "main"), (backup_path(path), "backup")):
        try:
            stored = read_bms_file(candidate, event_capacity)
        except InputError as exc:
            reasons.append(str(exc))
            continue
        _check_shape(stored.counters, candidate, n_modules, n_cells)
        if source == "main":
            return stored
        stored.events.append(
            Event(
                t_s,
                0,
                "info",
                "store.restored_from_backup",
                level="warning",
                action="restored from backup",
                message=f"BMS memory restored from the backup {candidate.name}: {reasons[0]}.",
            )
        )
        return StoredBms(stored.events, stored.counters, stored.state, stored.saved_t_s, "backup")
    nothing_saved = not path.exists() and not backup_path(path).exists()
    if on_error == "raise":
        raise InputError("no usable BMS memory: " + "; ".join(reasons))
    events = EventLog(event_capacity)
    if nothing_saved:
        events.append(
            Event(
                t_s,
                0,
                "info",
                "store.empty",
                action="started empty",
                message=f"No saved BMS memory at {path}; starting with an empty log and zero counters.",
            )
        )
    else:
        events.append(
            Event(
                t_s,
                0,
                "info",
                "store.unusable",
                level="warning",
                action="started empty",
                message="Saved BMS memory unusable, starting with an empty log and zero counters: "
                + "; ".join(reasons)
                + ".",
            )
        )
    return StoredBms(events, Counters(n_modules, n_cells, capacity_ah), {}, math.nan, "empty")


def _check_shape(counters: Counters, path: Path, n_modules: int, n_cells: int) -> None:
    if counters.n_modules != n_modules or counters.n_cells != n_cells:
        raise ConfigError(
            f"{path}: saved for a bank of {counters.n_modules} modules x {counters.n_cells} cells, but this bank "
            f"has {n_modules} x {n_cells}; move the file aside to start afresh or use the matching bank"
        )
