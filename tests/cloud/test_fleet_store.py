"""The fleet store on a private PostgreSQL: parsed messages stored by COPY, copies dropped, partitions made on
demand, and the read functions the app's API uses (cloud/fleet_read.py)."""

from __future__ import annotations

import datetime as dt
import time

import orjson
import pytest
import sqlalchemy as sa

from ml314.cloud import fleet_read
from ml314.cloud.fleet_rows import BadPayloadError, parse_message
from ml314.cloud.fleet_schema import drop_partitions_before
from ml314.cloud.fleet_store import FleetStore
from tests.cloud.payloads import event, sample, sample_bytes, summary
from tests.postgres import PostgresServer

A, B = "ML314-AAAAAAAAAAAA", "ML314-BBBBBBBBBBBB"
DAY = 86_400.0


@pytest.fixture
def store(postgres_server: PostgresServer):
    s = FleetStore.open(postgres_server.new_database())
    yield s
    s.close()


def _msg(serial: str, kind: str, body: object, now: float):
    payload = body if isinstance(body, bytes) else orjson.dumps(body)
    return parse_message(f"ml314/{serial}/{kind}", payload, now)


def _count(store: FleetStore, table: str) -> int:
    with store.engine.connect() as c:
        return int(c.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_samples_stored_once_each_in_the_partition_of_its_own_day(store: FleetStore) -> None:
    now = time.time()
    old = now - 3 * DAY  # a sample sent late from the device's buffer
    batch = [_msg(A, "telemetry", sample_bytes(A, q, old + q, modules=2), now) for q in (1, 2, 3)]
    batch += [_msg(B, "telemetry", sample_bytes(B, 7, now), now)]
    first = store.store(batch)
    assert (first.samples, first.samples_new, first.module_rows_new) == (4, 4, 7)
    again = store.store(batch[1:])  # QoS 1 delivered copies: dropped by (serial, seq)
    assert (again.samples, again.samples_new, again.module_rows_new) == (3, 0, 0)
    assert _count(store, "fleet_bank_sample") == 4
    assert _count(store, "fleet_module_sample") == 7
    day = dt.datetime.fromtimestamp(old, dt.UTC).date()
    assert _count(store, f"fleet_bank_sample_{day:%Y%m%d}") == 3

    with store.engine.connect() as conn:
        latest = fleet_read.latest_samples(conn, [A, B, "ML314-NOTHINGHERE0"])
        assert set(latest) == {A, B}
        want = sample(A, 3, old + 3, modules=2)
        got = latest[A]
        assert (got["seq"], got["kind"], got["serial"]) == (3, "sample", A)
        assert got["ts"] == pytest.approx(want["ts"], abs=1e-6)
        assert got["bank"] == want["bank"]
        assert [m["n"] for m in got["modules"]] == [1, 2]
        assert got["modules"][1] == want["modules"][1]
        status = fleet_read.device_status(conn, [A, "ML314-NOTHINGHERE0"])
        assert status[A] == {"online": True, "ts": pytest.approx(now, abs=1e-3)}
        assert status["ML314-NOTHINGHERE0"] == {"online": False, "ts": None}


def test_summary_events_status_and_history(store: FleetStore) -> None:
    now = time.time()
    t0 = now - 600.0
    batch = [_msg(A, "telemetry", summary(A, range(1, 11), t0), now)]  # seq 1..10, one per second
    batch += [_msg(A, "telemetry", sample(A, q, t0 + q - 1), now) for q in range(11, 21)]
    batch += [_msg(A, "events", event(A, i, t0 + i), now) for i in (1, 2, 3)]
    stored = store.store(batch)
    assert (stored.samples_new, stored.events_new) == (11, 3)
    assert store.store([_msg(A, "events", event(A, 2, t0 + 2), now)]).events_new == 0
    assert store.store([_msg(A, "events", event(A, 2, t0 + 2, epoch=1), now)]).events_new == 1

    with store.engine.connect() as conn:
        events = fleet_read.device_events(conn, A, 3)
        assert [(e["epoch"], e["id"]) for e in events] == [(0, 3), (1, 2), (0, 2)]
        assert events[0]["event_kind"] == "alarm" and events[0]["value"] == 3.61
        # one row per second that holds data: the summary (at its last sample's time, the mean of seq 1..10) and
        # the samples 11..20 (the payloads' soc_pct is seq % 100)
        history = fleet_read.bank_history(conn, A, t0 - 1, now, 1.0)
        assert [r["soc_pct"] for r in history] == [5.5, *range(11, 21)]
        assert all(set(r) == {"ts", "soc_pct", "voltage_v", "current_a", "power_w"} for r in history)
        assert history[0]["ts"] == float(int(t0 + 9))
        # one bucket of all: the summary weighs as the 10 samples it stands for
        (whole,) = fleet_read.bank_history(conn, A, t0 - 1, now, 1e10)
        assert whole["soc_pct"] == pytest.approx(10.5) and whole["ts"] == 0.0
        assert [r["soc_pct"] for r in fleet_read.bank_history(conn, A, t0 + 9.5, t0 + 11.5, 1.0)] == [11, 12]
        assert fleet_read.latest_samples(conn, [A])[A]["seq"] == 20

    # the will: offline; a status received earlier than the newest news changes nothing
    store.store([_msg(A, "status", b"offline", now + 1)])
    store.store([_msg(A, "status", b"online", now + 0.5)])
    with store.engine.connect() as conn:
        assert fleet_read.device_status(conn, [A])[A] == {"online": False, "ts": pytest.approx(now + 1, abs=1e-3)}


def test_retention_drops_whole_days(store: FleetStore) -> None:
    now = time.time()
    store.store([_msg(A, "telemetry", sample(A, q, ts), now) for q, ts in ((1, now - 10 * DAY), (2, now))])
    dropped = drop_partitions_before(store.engine, dt.datetime.fromtimestamp(now - DAY, dt.UTC).date())
    assert len(dropped) == 3  # the old day of each partitioned table
    assert _count(store, "fleet_bank_sample") == 1


@pytest.mark.parametrize(
    ("topic_serial", "payload", "why"),
    [
        (A, b"not json", "not JSON"),
        (A, b"[1, 2]", "not an object"),
        (B, orjson.dumps(sample(A, 1, 1.7e9)), "serial is not the topic's"),
        (A, orjson.dumps({**sample(A, 1, 1.7e9), "seq": 0}), "seq"),
        (A, orjson.dumps({**sample(A, 1, 1.7e9), "ts": 1e12}), "ts"),
        (A, orjson.dumps({**sample(A, 1, 1.7e9), "bank": {"soc_pct": "full"}}), "soc_pct"),
        (A, orjson.dumps({**sample(A, 1, 1.7e9), "modules": [{"n": "one"}]}), "n is not"),
    ],
)
def test_bad_payloads_are_refused_before_the_database(topic_serial: str, payload: bytes, why: str) -> None:
    with pytest.raises(BadPayloadError, match=why):
        parse_message(f"ml314/{topic_serial}/telemetry", payload, 1.7e9)


def test_any_text_survives_the_copy(store: FleetStore) -> None:
    now = time.time()
    odd = 'tab\there, line\nbreak, back\\slash, "quotes", {braces}, NULL, \\N, comma,'
    body = sample(A, 1, now)
    body["bank"]["alarms"] = [odd, "", "NULL"]
    body["modules"][0]["state"] = odd
    ev = {**event(A, 1, now), "message": odd}
    store.store([_msg(A, "telemetry", body, now), _msg(A, "events", ev, now)])
    with store.engine.connect() as conn:
        got = fleet_read.latest_samples(conn, [A])[A]
        assert got["bank"]["alarms"] == [odd, "", "NULL"]
        assert got["modules"][0]["state"] == odd
        assert fleet_read.device_events(conn, A, 1)[0]["message"] == odd


def test_the_whole_module_check_writes_what_the_field_by_field_checks_write() -> None:
    """A sample's modules as ``ml314 run`` sends them take the fast path (checked as a whole); the same values with
    one field of another JSON type (an integral number written as an integer) take the field-by-field path."""
    body = sample(A, 7, 1.7e9, modules=4)
    slow = orjson.loads(orjson.dumps(body))
    for m in slow["modules"]:
        assert m["soh_pct"] == int(m["soh_pct"])
        m["soh_pct"] = int(m["soh_pct"])
    fast_rows = parse_message(f"ml314/{A}/telemetry", orjson.dumps(body), 1.7e9)
    slow_rows = parse_message(f"ml314/{A}/telemetry", orjson.dumps(slow), 1.7e9)
    assert fast_rows.module_rows == slow_rows.module_rows == 4
    assert fast_rows.module_text == slow_rows.module_text
