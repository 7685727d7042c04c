"""Writing batches of parsed messages (fleet_rows.py) into the fleet store (fleet_schema.py).

One batch is one transaction: the rows go by COPY into temporary staging tables (one per table, emptied at
commit), then ``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` moves them into the partitioned tables, which drops
every copy already stored (by ``(serial, seq)`` for telemetry, ``(serial, epoch, id)`` for events; ``ts`` is in
each key as partitioning requires, and a copy carries the same ``ts``), and one upsert brings the device rows up to
date. Only after the commit may the caller acknowledge the messages to the broker.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import sqlalchemy as sa

from ml314.cloud.fleet_rows import BANK_COLUMNS, EVENT_COLUMNS, MODULE_COLUMNS, Parsed, copy_line
from ml314.cloud.fleet_schema import bank_sample, create_schema, ensure_partitions, event, module_sample
from ml314.errors import InputError, TransportError

__all__ = ["FleetStore", "Stored", "fleet_db_url", "safe_url"]

_STAGE_TYPES = {
    "serial": "text", "seq": "bigint", "ts": "float8", "kind": "text", "seq_from": "bigint", "samples": "integer",
    "ts_from": "float8", "cycles": "integer", "module_count": "integer", "charge_enable": "boolean",
    "discharge_enable": "boolean", "alarms": "text[]", "protections": "text[]", "stats": "jsonb", "n": "smallint",
    "module_id": "smallint", "module_serial": "text", "state": "text", "cells_v": "float8[]", "temps_c": "float8[]",
    "balancing": "boolean", "charge_mosfet_on": "boolean", "discharge_mosfet_on": "boolean", "epoch": "integer",
    "id": "bigint", "event_kind": "text", "key": "text", "quantity": "text", "unit": "text", "level": "text",
    "action": "text", "message": "text",
}  # fmt: skip
_TIMES = ("ts", "ts_from")


def fleet_db_url(db: str) -> str:
    """The SQLAlchemy URL of ``--db postgresql://USER[:PASSWORD]@HOST[:PORT]/DB``."""
    for scheme in ("postgresql://", "postgres://", "postgresql+psycopg://"):
        if db.startswith(scheme) and len(db) > len(scheme):
            return "postgresql+psycopg://" + db[len(scheme) :]
    raise InputError(f"--db {db.rsplit('@', maxsplit=1)[-1]!r}: postgresql://USER@HOST:PORT/DB")


@dataclass(frozen=True, slots=True)
class Stored:
    """What one batch did: rows staged and rows new in the store (the rest were copies already stored)."""

    samples: int
    samples_new: int
    module_rows_new: int
    events: int
    events_new: int


def _stage_sql(name: str, columns: Sequence[str]) -> str:
    types = ", ".join(f'"{c}" {_STAGE_TYPES.get(c, "float8")}' for c in columns)
    return f"CREATE TEMP TABLE IF NOT EXISTS {name} ({types}) ON COMMIT DELETE ROWS"


def _move_sql(stage: str, table: sa.Table, columns: Sequence[str]) -> str:
    """Staging to the table; the bank rows also get the worker's name (the statement's one parameter)."""
    cols = ", ".join(f'"{c}"' for c in columns)
    values = ", ".join(f'to_timestamp("{c}")' if c in _TIMES else f'"{c}"' for c in columns)
    if table is bank_sample:
        cols, values = f"{cols}, worker", f"{values}, %(worker)s::text"
    return f'INSERT INTO "{table.name}" ({cols}) SELECT {values} FROM {stage} ON CONFLICT DO NOTHING'


_TABLES = (
    ("ml314_stage_bank", bank_sample, BANK_COLUMNS),
    ("ml314_stage_module", module_sample, MODULE_COLUMNS),
    ("ml314_stage_event", event, EVENT_COLUMNS),
)
_DEVICE_UPSERT = """
INSERT INTO fleet_device (serial, online, status_ts, last_seq, last_ts)
SELECT serial, online, to_timestamp(status_ts), last_seq, to_timestamp(last_ts)
FROM unnest(%s::text[], %s::boolean[], %s::float8[], %s::bigint[], %s::float8[])
     AS d(serial, online, status_ts, last_seq, last_ts)
ON CONFLICT (serial) DO UPDATE SET
  online = CASE WHEN excluded.status_ts >= fleet_device.status_ts THEN excluded.online ELSE fleet_device.online END,
  status_ts = GREATEST(fleet_device.status_ts, excluded.status_ts),
  last_ts = CASE WHEN fleet_device.last_seq IS NULL OR excluded.last_seq > fleet_device.last_seq
                 THEN excluded.last_ts ELSE fleet_device.last_ts END,
  last_seq = CASE WHEN fleet_device.last_seq IS NULL OR excluded.last_seq > fleet_device.last_seq
                  THEN excluded.last_seq ELSE fleet_device.last_seq END
"""


def safe_url(url: str) -> str:
    """``url`` without its password."""
    return sa.make_url(url).render_as_string(hide_password=True)


class FleetStore:
    """Stores batches on one connection of ``engine`` (one store per worker, named ``worker``)."""

    def __init__(self, engine: sa.Engine, worker: str = "") -> None:
        self.engine = engine
        self.worker = worker
        self._days: set[dt.date] = set()
        self._conn: sa.Connection | None = None

    @classmethod
    def open(cls, url: str, worker: str = "") -> FleetStore:
        """A store on ``url`` (``postgresql://...``), the schema created if missing; TransportError if the
        database cannot be reached."""
        engine = sa.create_engine(fleet_db_url(url), pool_pre_ping=True)
        try:
            create_schema(engine)
        except sa.exc.OperationalError as exc:
            engine.dispose()
            reason = str(exc.orig or exc).strip().splitlines()[0] if str(exc.orig or exc).strip() else "failed"
            raise TransportError(f"--db {safe_url(fleet_db_url(url))}: connection failed ({reason})") from None
        return cls(engine, worker)

    def close(self) -> None:
        self._drop_connection()
        self.engine.dispose()

    def _connection(self) -> sa.Connection:
        if self._conn is None or self._conn.closed or self._conn.invalidated:
            self._conn = self.engine.connect()
            for stage, _table, columns in _TABLES:
                self._conn.exec_driver_sql(_stage_sql(stage, columns))
            self._conn.commit()
        return self._conn

    def _partitions(self, batch: Sequence[Parsed]) -> None:
        days = {dt.datetime.fromtimestamp(p.ts, dt.UTC).date() for p in batch if p.kind != "status"}
        missing = days - self._days
        if missing:
            ensure_partitions(self.engine, missing)
            self._days |= missing

    def store(self, batch: Sequence[Parsed]) -> Stored:
        """Store ``batch`` in one transaction. Raises the database's error (psycopg's or SQLAlchemy's) with the
        transaction rolled back; the connection is then dropped, and the next call opens a new one."""
        try:
            self._partitions(batch)
            conn = self._connection()
            with conn.begin():  # rolled back if anything raises
                return self._store(conn, batch)
        except BaseException:
            self._drop_connection()
            raise

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.invalidate()
                conn.close()

    def _store(self, conn: sa.Connection, batch: Sequence[Parsed]) -> Stored:
        raw: Any = conn.connection.driver_connection
        assert isinstance(raw, psycopg.Connection)
        banks = [p.bank for p in batch if p.bank is not None]
        events = [p.event for p in batch if p.event is not None]
        texts = (
            "".join([copy_line(row) for row in banks]),
            "".join([p.module_text for p in batch]),  # formatted while parsing (fleet_rows.py)
            "".join([copy_line(row) for row in events]),
        )
        new = []
        with raw.cursor() as cur:
            for (stage, table, columns), text in zip(_TABLES, texts, strict=True):
                if not text:
                    new.append(0)
                    continue
                with cur.copy(f"COPY {stage} ({', '.join(columns)}) FROM STDIN") as copy:
                    copy.write(text.encode())
                cur.execute(
                    _move_sql(stage, table, columns).encode(), {"worker": self.worker} if table is bank_sample else None
                )
                new.append(max(cur.rowcount, 0))
            self._devices(cur, batch)
        return Stored(len(banks), new[0], new[1], len(events), new[2])

    @staticmethod
    def _devices(cur: psycopg.Cursor[Any], batch: Sequence[Parsed]) -> None:
        news: dict[str, tuple[bool, float]] = {}  # the newest news per device: the last message of it in the batch
        newest: dict[str, tuple[int, float]] = {}
        for p in batch:
            news[p.serial] = (p.online, p.received_s)
            if p.kind == "telemetry" and p.seq > newest.get(p.serial, (0, 0.0))[0]:
                newest[p.serial] = (p.seq, p.ts)
        serials = sorted(news)  # one order for every worker: no deadlock between two upserts
        cur.execute(
            _DEVICE_UPSERT.encode(),
            (
                serials,
                [news[s][0] for s in serials],
                [news[s][1] for s in serials],
                [newest[s][0] if s in newest else None for s in serials],
                [newest[s][1] if s in newest else None for s in serials],
            ),
        )
