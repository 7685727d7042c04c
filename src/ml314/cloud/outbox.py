"""The device's disk buffer of MQTT messages (``mqtt-outbox.sqlite`` in the data dir): store first, send later.

Every telemetry sample and every event is written here before it is sent, and deleted only when the broker has
acknowledged it (QoS 1 PUBACK). So nothing is lost while the broker is unreachable, nor when ``ml314 run`` stops
or is killed in between: the next connection sends the backlog, oldest first, each message with its original
``seq`` and ``ts``. A message acknowledged just before the connection broke may be sent twice; ``seq`` (samples)
and ``id`` (events) let the receiver drop the copy.

Bounded: when more than ``max_samples`` telemetry rows wait, the oldest ``group`` of them are merged into one
summary (``telemetry.merge``: mean/min/max, last counters, every alarm) that takes the place of the first, so the
most recent detail is kept and the oldest history gets coarser (summaries of summaries) instead of growing the
disk without end. Events are never summarised; more than ``max_samples`` waiting events drop the oldest, counted
in ``events_dropped``.

One thread uses an :class:`Outbox` (the MQTT thread); rows handed out by :meth:`pending` stay untouched by a
summary until :meth:`remove` or :meth:`release`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ml314.cloud.telemetry import merge

__all__ = ["OUTBOX_FILE", "Outbox", "Row"]

OUTBOX_FILE = "mqtt-outbox.sqlite"
Row = tuple[int, str, bytes]  # id, topic, payload

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, topic TEXT NOT NULL,
                                   payload TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS outbox_kind ON outbox (kind, id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class Outbox:
    """The buffer in ``path`` (created when missing)."""

    def __init__(self, path: Path, max_samples: int = 100_000, group: int = 60) -> None:
        if max_samples < 2 or group < 2:
            raise ValueError("max_samples and group must be at least 2")
        self.path = Path(path)
        self.max_samples = max_samples
        self.group = min(group, max_samples)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._inflight: set[int] = set()
        self.summaries = 0  # merges made by this process

    def close(self) -> None:
        self._db.close()

    # ---------------------------------------------------------------------------------------------------- meta
    def _meta(self, key: str, default: int) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else int(row[0])

    def _set_meta(self, key: str, value: int) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    @property
    def last_seq(self) -> int:
        """The last sample sequence number given (0: none yet)."""
        return self._meta("seq", 0)

    @property
    def last_event_id(self) -> int:
        """The id of the last event stored (-1: none yet)."""
        return self._meta("event_id", -1)

    @property
    def events_dropped(self) -> int:
        return self._meta("events_dropped", 0)

    @property
    def event_epoch(self) -> int:
        """Counts the times the bank's event log started over (a new bank: ``--fresh``); events are unique by
        (epoch, id)."""
        return self._meta("event_epoch", 0)

    def new_event_epoch(self) -> int:
        """The event log started over (its ids went back): the next events are a new epoch from id 0."""
        with self._db:
            self._db.execute("BEGIN")
            epoch = self.event_epoch + 1
            self._set_meta("event_epoch", epoch)
            self._set_meta("event_id", -1)
        return epoch

    # ------------------------------------------------------------------------------------------------- writing
    def add_sample(self, topic: str, build: Callable[[int], dict[str, Any]]) -> int:
        """Store the sample ``build(seq)`` with the next sequence number; return that number."""
        with self._db:
            self._db.execute("BEGIN")
            seq = self.last_seq + 1
            payload = json.dumps(build(seq), separators=(",", ":"))
            self._db.execute("INSERT INTO outbox (kind, topic, payload) VALUES ('sample', ?, ?)", (topic, payload))
            self._set_meta("seq", seq)
        while self.count("sample") > self.max_samples and self._summarise_oldest():
            pass
        return seq

    def add_event(self, topic: str, event_id: int, payload: dict[str, Any]) -> None:
        """Store an event (ids must grow; one at or below :attr:`last_event_id` is ignored)."""
        if event_id <= self.last_event_id:
            return
        with self._db:
            self._db.execute("BEGIN")
            text = json.dumps(payload, separators=(",", ":"))
            self._db.execute("INSERT INTO outbox (kind, topic, payload) VALUES ('event', ?, ?)", (topic, text))
            self._set_meta("event_id", event_id)
            extra = self.count("event") - self.max_samples
            if extra > 0:
                self._db.execute(
                    "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE kind = 'event' ORDER BY id LIMIT ?)",
                    (extra,),
                )
                self._set_meta("events_dropped", self.events_dropped + extra)

    def _summarise_oldest(self) -> bool:
        """Merge the oldest ``group`` sample/summary rows not in flight into one; False if none could be."""
        rows = self._db.execute(
            "SELECT id, payload FROM outbox WHERE kind = 'sample' ORDER BY id LIMIT ?",
            (self.group + len(self._inflight),),
        ).fetchall()
        rows = [r for r in rows if r[0] not in self._inflight][: self.group]
        if len(rows) < 2:
            return False
        summary = merge([json.loads(p) for _, p in rows])
        ids = [r[0] for r in rows]
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids[1:]])
            self._db.execute("UPDATE outbox SET payload = ? WHERE id = ?", (json.dumps(summary), ids[0]))
        self.summaries += 1
        return True

    # ------------------------------------------------------------------------------------------------- sending
    def count(self, kind: str | None = None) -> int:
        if kind is None:
            return int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        return int(self._db.execute("SELECT COUNT(*) FROM outbox WHERE kind = ?", (kind,)).fetchone()[0])

    def pending(self, limit: int) -> list[Row]:
        """Up to ``limit`` of the oldest rows not already handed out; they stay in flight until removed or
        released."""
        rows = self._db.execute(
            "SELECT id, topic, payload FROM outbox ORDER BY id LIMIT ?", (limit + len(self._inflight),)
        ).fetchall()
        out = [(int(i), str(t), str(p).encode()) for i, t, p in rows if i not in self._inflight][:limit]
        self._inflight.update(r[0] for r in out)
        return out

    def remove(self, ids: list[int]) -> None:
        """The broker acknowledged these rows: delete them."""
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])
        self._inflight.difference_update(ids)

    def release(self) -> None:
        """The connection broke: every row in flight is pending again."""
        self._inflight.clear()
