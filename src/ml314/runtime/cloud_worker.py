"""``ml314 cloud``'s ingest worker: messages from the broker (cloud_intake.py) into the fleet store
(cloud/fleet_store.py), in batches, acknowledged only once stored (docs/cloud.md).

A batch closes when it holds ``batch_messages`` messages or ``batch_s`` after its first message came, whichever is
first. It is parsed (a bad message is counted, logged in one line and acknowledged: it never blocks the queue),
stored in one transaction, and only then acknowledged to the broker. A database that fails is tried again with the
same batch (nothing is acknowledged meanwhile, so the broker stops sending once ``receive_maximum`` messages wait);
rows the database refuses are found by storing the batch one message at a time. :meth:`CloudWorker.stop` (SIGTERM)
lets the batch under way finish and be acknowledged.
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import psycopg
import sqlalchemy as sa

from ml314.cloud.fleet_rows import BadPayloadError, Parsed, parse_message
from ml314.cloud.fleet_store import FleetStore, Stored, fleet_db_url, safe_url
from ml314.cloud.mqtt_url import MqttTarget
from ml314.errors import InputError
from ml314.runtime.cloud_intake import MqttIntake, Received

__all__ = ["CloudConfig", "CloudWorker", "Counters", "default_name"]

#: errors of the data itself (a value the database refuses): never worth a retry of the same rows
_DATA_ERRORS = (psycopg.DataError, psycopg.IntegrityError, psycopg.ProgrammingError)
#: a batch closes when no message came for this long (or when full, or at its time)
_GAP_S = 0.02
#: at most this many lines about bad messages per minute (the counters have them all)
_BAD_LINES_PER_MIN = 10


def default_name() -> str:
    """The host's name: the worker's name (and its MQTT session) when ``--name`` is not given."""
    return socket.gethostname().split(".")[0] or "worker"


@dataclass(frozen=True, slots=True)
class CloudConfig:
    """What ``ml314 cloud`` runs with (validated by :meth:`validate`)."""

    mqtt: MqttTarget
    db: str
    name: str
    batch_messages: int = 500
    batch_s: float = 0.2
    session_expiry_s: int = 86_400
    guard: bool = False  # this worker also holds the fleet's restart guard (cloud_intake.py): one worker per fleet

    @property
    def client_id(self) -> str:
        return f"ml314-cloud-{self.name}"

    def validate(self) -> None:
        if not self.mqtt.username:
            raise InputError(f"--mqtt {self.mqtt.where}: the cloud account's USER:PASSWORD@ is needed")
        fleet_db_url(self.db)
        if not self.name or not all(c.isalnum() or c in "-_." for c in self.name) or len(self.name) > 40:
            raise InputError(f"--name {self.name!r}: letters, digits, - _ . (up to 40; one per worker)")
        if not 1 <= self.batch_messages <= 10_000:
            raise InputError(f"--batch {self.batch_messages}: messages per batch, 1 .. 10000")
        if not 0.001 <= self.batch_s <= 60.0:
            raise InputError(f"--batch-time {self.batch_s:g} s: 1 ms .. 60 s")


@dataclass
class Counters:
    """What the worker did since it started."""

    messages: int = 0
    samples: int = 0
    samples_new: int = 0
    module_rows_new: int = 0
    events: int = 0
    events_new: int = 0
    status: int = 0
    bad: int = 0
    batches: int = 0
    acked: int = 0
    db_retries: int = 0
    bad_by_reason: dict[str, int] = field(default_factory=dict)

    def add(self, stored: Stored) -> None:
        self.samples += stored.samples
        self.samples_new += stored.samples_new
        self.module_rows_new += stored.module_rows_new
        self.events += stored.events
        self.events_new += stored.events_new

    def line(self) -> str:
        copies = self.samples - self.samples_new + self.events - self.events_new
        return (
            f"{self.messages} messages: {self.samples_new} samples ({self.module_rows_new} module rows), "
            f"{self.events_new} events, {self.status} status, {copies} copies dropped, {self.bad} bad; "
            f"{self.batches} batches"
        )


class CloudWorker:
    """One ingest worker: :meth:`start`, then :meth:`run` until :meth:`stop`."""

    def __init__(self, config: CloudConfig, echo: Callable[[str], None]) -> None:
        config.validate()
        self.config = config
        self.counters = Counters()
        self._echo = echo
        self._stopping = threading.Event()
        self._bad_lines: list[float] = []
        self.store: FleetStore | None = None
        self.intake: MqttIntake | None = None

    def start(self) -> list[str]:
        """Open the store (the schema created if missing) and connect to the broker; the lines to print. Raises
        InputError/TransportError (one line) for a database that cannot be reached or a broker that refuses."""
        c = self.config
        self.store = FleetStore.open(c.db, c.name)
        self.intake = MqttIntake(
            c.mqtt,
            c.client_id,
            session_expiry_s=c.session_expiry_s,
            receive_maximum=2 * c.batch_messages,  # one batch being stored, the next one arriving
            echo=self._echo,
            guard=c.guard,
            prepare=parse_message,  # on paho's thread, overlapping the database's work on this one
        )
        if not self.intake.connect(self._stopping):
            return []
        guard = " + the restart guard" if c.guard else ""
        return [
            f"ml314 cloud {c.name}: {c.mqtt.where} (client id {c.client_id}{guard}) "
            f"-> {safe_url(fleet_db_url(c.db))}; batches of up to {c.batch_messages} messages / {c.batch_s:g} s"
        ]

    def stop(self) -> None:
        """Finish the batch under way, acknowledge it, and return from :meth:`run` (safe from a signal handler)."""
        self._stopping.set()

    def close(self) -> None:
        if self.intake is not None:
            self.intake.close()
        if self.store is not None:
            self.store.close()

    def run(self, on_status: Callable[[str], None] | None = None, status_every_s: float = 10.0) -> None:
        """Store batches until :meth:`stop`."""
        next_status = time.monotonic() + status_every_s
        while not self._stopping.is_set():
            batch = self._collect()
            if batch:
                self._handle(batch)
            if on_status is not None and time.monotonic() >= next_status:
                on_status(self.counters.line())
                next_status = time.monotonic() + status_every_s

    # ---------------------------------------------------------------------------------------------------- steps
    def _collect(self) -> list[Received]:
        """The next batch: waits for a first message (a short while, to notice :meth:`stop`), then takes more until
        the batch is full, its time is up, or no message came for ``_GAP_S`` (the broker sends no more than the
        receive maximum unacknowledged: waiting longer would only delay the batch)."""
        assert self.intake is not None
        inbox = self.intake.messages
        try:
            first = inbox.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.config.batch_s
        while len(batch) < self.config.batch_messages:
            left = deadline - time.monotonic()
            try:
                batch.append(inbox.get(timeout=min(left, _GAP_S)) if left > 0 else inbox.get_nowait())
            except queue.Empty:
                break
        return batch

    def _handle(self, batch: list[Received]) -> None:
        parsed: list[Parsed] = []
        for item in batch:
            done = item.prepared
            if isinstance(done, Parsed):
                parsed.append(done)
            elif isinstance(done, BadPayloadError):
                self._bad(item.topic, str(done))
            else:  # not parsed on paho's thread (or it failed unexpectedly: then it fails here, as it would)
                try:
                    parsed.append(parse_message(item.topic, item.payload, item.received_s))
                except BadPayloadError as exc:
                    self._bad(item.topic, str(exc))
        if parsed and not self._store(parsed):
            return  # stopped while the database was away: nothing acknowledged, the broker sends it all again
        assert self.intake is not None
        self.counters.messages += len(batch)
        self.counters.status += sum(p.kind == "status" for p in parsed)
        self.counters.batches += 1
        self.counters.acked += self.intake.ack(batch)

    def _store(self, parsed: Sequence[Parsed], *, alone: bool = False) -> bool:
        """Store ``parsed``, trying again while the database is away; False if stopped meanwhile. Rows the database
        refuses: the batch again one message at a time (``alone``), and a message refused alone is bad."""
        assert self.store is not None
        delay_s = 0.5
        said = False
        while True:
            try:
                self.counters.add(self.store.store(parsed))
                if said:
                    self._echo("ml314 cloud: the database is back")
                return True
            except (sa.exc.DBAPIError, psycopg.Error) as exc:
                orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
                first = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
                if isinstance(orig, _DATA_ERRORS):
                    if alone:
                        self._bad(f"ml314/{parsed[0].serial}/{parsed[0].kind}", f"refused by the database: {first}")
                        return True
                    return all(self._store([p], alone=True) for p in parsed)
                self.counters.db_retries += 1
                if not said:
                    self._echo(f"ml314 cloud: the database failed ({first}); trying again, nothing acknowledged")
                    said = True
            if self._stopping.wait(delay_s):
                return False
            delay_s = min(delay_s * 2, 10.0)

    def _bad(self, topic: str, reason: str) -> None:
        self.counters.bad += 1
        self.counters.bad_by_reason[reason] = self.counters.bad_by_reason.get(reason, 0) + 1
        now = time.monotonic()
        self._bad_lines = [t for t in self._bad_lines if now - t < 60.0]
        if len(self._bad_lines) < _BAD_LINES_PER_MIN:
            self._bad_lines.append(now)
            self._echo(f"ml314 cloud: bad message on {topic[:100]}: {reason} (dropped; {self.counters.bad} so far)")
