"""The fleet store of ``ml314 cloud`` on PostgreSQL (docs/cloud.md): what the devices send over MQTT, one row per
bank sample, one per module per sample, one per event, and one row of status per device.

    table                 one row per                        unique key (dedupe)          partitioned
    fleet_bank_sample     sample or summary of a device      (serial, seq, ts)            by day of ts
    fleet_module_sample   module of a sample or summary      (serial, seq, n, ts)         by day of ts
    fleet_event           BMS event                          (serial, epoch, id, ts)      by day of ts
    fleet_device          device: online, last seen, newest  (serial)                     no

``ts`` is the time the device **took** the sample (or logged the event), not the time the cloud received it: a
sample sent late from the device's disk buffer lands in the partition of its own day. Partitions are RANGE
partitions of one UTC day, created on demand (:func:`ensure_partitions`) as data for a day first arrives; retention
drops whole days (:func:`drop_partitions_before`). A unique key of a partitioned table must hold the partition key,
so ``ts`` is in every key; a copy of a message (QoS 1 delivers at least once) carries the same ``ts`` as the
original, so the key still drops it.

A **summary** (the device's buffer merged samples ``seq_from..seq`` while the broker was away) is a bank row with
``kind = 'summary'``: the measured quantities hold the mean, ``samples`` how many samples it stands for and
``stats`` the min/max/mean/n of each; its module rows have no cell arrays, and their ``stats`` hold the rest.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

__all__ = [
    "BANK_FIELDS",
    "BANK_FLAGS",
    "BANK_INTS",
    "MODULE_FIELDS",
    "PARTITIONED",
    "bank_sample",
    "create_schema",
    "device",
    "drop_partitions_before",
    "ensure_partitions",
    "event",
    "metadata",
    "module_sample",
    "partition_name",
]

metadata = sa.MetaData()
F8: sa.Double[float] = sa.Double()
TS = sa.TIMESTAMP(timezone=True)

#: the bank's measured quantities, as in the sample payload's ``bank`` (float8 columns)
BANK_FIELDS = (
    "soc_pct", "soh_pct", "voltage_v", "current_a", "power_w", "temperature_c", "charged_energy_kwh",
    "discharged_energy_kwh", "remaining_capacity_ah", "full_capacity_ah", "stored_energy_kwh", "cell_voltage_max_v",
    "cell_voltage_min_v", "cell_temperature_max_c", "cell_temperature_min_c", "cvl_v", "ccl_a", "dcl_a",
)  # fmt: skip
#: the bank's integer and boolean fields
BANK_INTS = ("cycles", "module_count")
BANK_FLAGS = ("charge_enable", "discharge_enable")
#: a module's measured scalars (float8 columns)
MODULE_FIELDS = ("soc_pct", "soh_pct", "voltage_v", "current_a")
MODULE_FLAGS = ("balancing", "charge_mosfet_on", "discharge_mosfet_on")

bank_sample = sa.Table(
    "fleet_bank_sample",
    metadata,
    sa.Column("serial", sa.Text, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False, comment="the device's sample number (the last one of a summary)"),
    sa.Column("ts", TS, nullable=False, comment="when the device took the sample (a summary: its last sample)"),
    sa.Column("kind", sa.Text, nullable=False, comment="sample | summary"),
    sa.Column("seq_from", sa.BigInteger, nullable=False, comment="first sample a summary stands for (= seq)"),
    sa.Column("samples", sa.Integer, nullable=False, comment="samples the row stands for (1 for a sample)"),
    sa.Column("ts_from", TS, nullable=False, comment="when the first of them was taken (= ts for a sample)"),
    sa.Column("t_s", F8, comment="the bank's simulated time, s"),
    *(sa.Column(name, F8) for name in BANK_FIELDS),
    *(sa.Column(name, sa.Integer) for name in BANK_INTS),
    *(sa.Column(name, sa.Boolean) for name in BANK_FLAGS),
    sa.Column("alarms", pg.ARRAY(sa.Text), comment="warnings active (a summary: every alarm or protection seen)"),
    sa.Column("protections", pg.ARRAY(sa.Text), comment="protections active"),
    sa.Column("stats", pg.JSONB, comment="a summary's min/max/mean/n per quantity; NULL for a sample"),
    sa.Column("received", TS, nullable=False, server_default=sa.func.now(), comment="when the cloud stored it"),
    sa.Column("worker", sa.Text, comment="the name of the cloud worker that stored it"),
    sa.PrimaryKeyConstraint("serial", "seq", "ts", name="fleet_bank_sample_pkey"),
    sa.Index("fleet_bank_sample_serial_ts", "serial", "ts"),
    postgresql_partition_by="RANGE (ts)",
)

module_sample = sa.Table(
    "fleet_module_sample",
    metadata,
    sa.Column("serial", sa.Text, nullable=False, comment="the bank's serial (the device)"),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("ts", TS, nullable=False),
    sa.Column("n", sa.SmallInteger, nullable=False, comment="chain position, 1 = first"),
    sa.Column("module_id", sa.SmallInteger, comment="DIP ID"),
    sa.Column("module_serial", sa.Text),
    sa.Column("state", sa.Text, comment="BMS state (charge, discharge, idle, ...)"),
    *(sa.Column(name, F8) for name in MODULE_FIELDS),
    sa.Column("cells_v", pg.ARRAY(F8), comment="the 16 cell voltages, V (NULL in a summary)"),
    sa.Column("temps_c", pg.ARRAY(F8), comment="board, cells 1-4, 5-8, 9-12, 13-16, MOSFET, degC"),
    sa.Column("cycles", sa.Integer),
    *(sa.Column(name, sa.Boolean) for name in MODULE_FLAGS),
    sa.Column("alarms", pg.ARRAY(sa.Text)),
    sa.Column("protections", pg.ARRAY(sa.Text)),
    sa.Column("stats", pg.JSONB, comment="a summary's module statistics; NULL for a sample"),
    sa.PrimaryKeyConstraint("serial", "seq", "n", "ts", name="fleet_module_sample_pkey"),
    postgresql_partition_by="RANGE (ts)",
)

event = sa.Table(
    "fleet_event",
    metadata,
    sa.Column("serial", sa.Text, nullable=False),
    sa.Column("epoch", sa.Integer, nullable=False, comment="goes up when the device's event log starts over"),
    sa.Column("id", sa.BigInteger, nullable=False, comment="the event's number in the device's log"),
    sa.Column("ts", TS, nullable=False, comment="when the device logged it"),
    sa.Column("t_s", F8),
    sa.Column("module_id", sa.SmallInteger, comment="DIP ID, 0 = the bank"),
    sa.Column("event_kind", sa.Text),
    sa.Column("key", sa.Text),
    sa.Column("quantity", sa.Text),
    sa.Column("value", F8),
    sa.Column("threshold", F8),
    sa.Column("unit", sa.Text),
    sa.Column("level", sa.Text),
    sa.Column("action", sa.Text),
    sa.Column("message", sa.Text),
    sa.Column("received", TS, nullable=False, server_default=sa.func.now()),
    sa.PrimaryKeyConstraint("serial", "epoch", "id", "ts", name="fleet_event_pkey"),
    sa.Index("fleet_event_serial_ts", "serial", "ts"),
    postgresql_partition_by="RANGE (ts)",
)

device = sa.Table(
    "fleet_device",
    metadata,
    sa.Column("serial", sa.Text, primary_key=True),
    sa.Column("online", sa.Boolean, nullable=False, comment="the verdict of the newest evidence at status_ts"),
    sa.Column("status_ts", TS, nullable=False, comment="newest evidence: a status message or any message received"),
    sa.Column("last_seq", sa.BigInteger, comment="the newest stored sample (highest seq)"),
    sa.Column("last_ts", TS, comment="... and its ts (finds its partition)"),
)

#: the time-partitioned tables
PARTITIONED = (bank_sample, module_sample, event)


def create_schema(engine: sa.Engine) -> None:
    """Create the tables if missing (idempotent; safe for workers starting together) and the partitions of
    today and tomorrow."""
    with engine.begin() as conn:
        _lock(conn)
        metadata.create_all(conn)
    today = dt.datetime.now(dt.UTC).date()
    ensure_partitions(engine, (today, today + dt.timedelta(days=1)))


def partition_name(table: sa.Table, day: dt.date) -> str:
    return f"{table.name}_{day:%Y%m%d}"


def _lock(conn: sa.Connection) -> None:
    """Serialise DDL between workers for the rest of the transaction."""
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(314314)"))


def ensure_partitions(engine: sa.Engine, days: Iterable[dt.date]) -> None:
    """Create the partitions of ``days`` (UTC) of every partitioned table, each that is missing, in a transaction
    of its own: call it before the transaction that inserts rows of those days (it waits for inserts into the
    parent that are under way)."""
    wanted = sorted(set(days))
    if not wanted:
        return
    with engine.begin() as conn:
        _lock(conn)
        for day in wanted:
            lo = dt.datetime.combine(day, dt.time(), dt.UTC)
            hi = lo + dt.timedelta(days=1)
            for table in PARTITIONED:
                conn.execute(
                    sa.text(
                        f'CREATE TABLE IF NOT EXISTS "{partition_name(table, day)}" PARTITION OF "{table.name}" '
                        f"FOR VALUES FROM ('{lo.isoformat()}') TO ('{hi.isoformat()}')"
                    )
                )


def drop_partitions_before(engine: sa.Engine, day: dt.date) -> list[str]:
    """Retention: drop every day partition older than ``day`` (UTC); the names dropped."""
    dropped: list[str] = []
    with engine.begin() as conn:
        _lock(conn)
        for table in PARTITIONED:
            names = conn.execute(
                sa.text(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :parent"
                ),
                {"parent": table.name},
            ).scalars()
            for name in sorted(names):
                stamp = name.rsplit("_", 1)[-1]
                if stamp.isdigit() and len(stamp) == 8 and dt.datetime.strptime(stamp, "%Y%m%d").date() < day:
                    conn.execute(sa.text(f'DROP TABLE "{name}"'))
                    dropped.append(name)
    return dropped
