"""The must-hold of the fleet path: three real ``ml314 run --mqtt`` devices -> Mosquitto (the generated fleet
configuration) -> two ``ml314 cloud`` workers -> PostgreSQL, with the broker stopped and started again mid-run
(once under the workers, once while no worker runs and the devices deliver), and one worker killed (SIGKILL)
mid-run and started again: afterwards every sample and event the devices sent is
stored exactly once (what a device still held when it stopped may have arrived or not), and both workers
stored a share."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from ml314.cloud.fleet_store import fleet_db_url
from tests.cloud.fleet import Fleet
from tests.cloud.workers import CloudProcess, count, seqs_by_serial, wait_until
from tests.postgres import PostgresServer
from tests.web.running import RunningBank


def _outbox(data: Path) -> tuple[int, set[int], int, set[int]]:
    """What the device took and what it still holds unsent: (last seq, unsent seqs, last event id, unsent ids)."""
    db = sqlite3.connect(data / "mqtt-outbox.sqlite")
    try:
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        rows = db.execute("SELECT kind, payload FROM outbox").fetchall()
    finally:
        db.close()
    unsent = [(kind, json.loads(p)) for kind, p in rows]
    assert all(p["kind"] != "summary" for _, p in unsent)  # far from the buffer's bound: no summaries
    seqs = {p["seq"] for kind, p in unsent if kind == "sample"}
    ids = {p["id"] for kind, p in unsent if kind == "event"}
    return meta.get("seq", 0), seqs, meta.get("event_id", -1), ids


def _buffered(data: Path) -> int:
    db = sqlite3.connect(data / "mqtt-outbox.sqlite")
    try:
        return int(db.execute("SELECT COUNT(*) FROM outbox WHERE kind = 'sample'").fetchone()[0])
    finally:
        db.close()


def test_broker_restart_and_a_killed_worker_lose_and_duplicate_nothing(
    tmp_path: Path, mosquitto, postgres_server: PostgresServer
) -> None:
    fleet = Fleet(tmp_path, mosquitto)
    db = postgres_server.new_database()
    engine = sa.create_engine(fleet_db_url(db))
    cloud = f"mqtt://cloud:{fleet.files.passwords['cloud']}@127.0.0.1:{fleet.port}"
    # a holds the restart guard: Mosquitto restores sessions but not their shared subscriptions
    workers = {"a": CloudProcess(cloud, db, "a", "--batch", "50", "--guard").ready()}
    workers["b"] = CloudProcess(cloud, db, "b", "--batch", "50").ready()
    url = f"mqtt://127.0.0.1:{fleet.port}?interval=0.1&discovery=off"
    banks: list[RunningBank] = []
    try:
        for i in range(3):
            (tmp_path / f"dev{i}").mkdir()
            banks.append(RunningBank(tmp_path / f"dev{i}", "--mqtt", url, "--speed", "10", "--quiet"))
        serials = [fleet.provision(b.data_dir) for b in banks]
        alive = [*(b.proc for b in banks), *(w.proc for w in workers.values())]

        def stored_beyond(n: dict[str, int]) -> bool | None:
            got = seqs_by_serial(engine)
            return True if all(len(got.get(s, [])) > n.get(s, 0) for s in serials) else None

        def more(n: int) -> Callable[[], bool | None]:
            now = {s: len(q) + n for s, q in seqs_by_serial(engine).items()}
            return lambda: stored_beyond(now)

        wait_until(lambda: stored_beyond(dict.fromkeys(serials, 5)), "5 samples of each device", alive=alive)

        # the broker stops (its sessions and queues saved) and comes back: the devices buffer meanwhile
        fleet.broker.stop()
        before = [_buffered(b.data_dir) + 3 for b in banks]

        def buffered() -> bool | None:
            return True if all(_buffered(b.data_dir) >= n for b, n in zip(banks, before, strict=True)) else None

        wait_until(buffered, "3 samples buffered by each device", alive=[b.proc for b in banks])
        fleet.broker.start()
        wait_until(more(5), "the backlog stored", alive=alive)

        # worker b killed mid-run: what it had not stored is unacknowledged, and the broker keeps its queue
        workers["b"].kill()
        alive.remove(workers["b"].proc)
        wait_until(more(5), "worker a storing", alive=alive)

        # the broker restarts while no worker runs, and the devices deliver meanwhile: only the guard's restored
        # plain subscription keeps those messages (Mosquitto restores no shared subscription)
        first_a = workers["a"]
        assert first_a.stop() == 0
        alive.remove(first_a.proc)
        fleet.broker.stop()
        fleet.broker.start()
        taken = [_outbox(b.data_dir)[0] + 3 for b in banks]

        def delivered_meanwhile() -> bool | None:
            done = all(
                _outbox(b.data_dir)[0] >= n and _buffered(b.data_dir) == 0 for b, n in zip(banks, taken, strict=True)
            )
            return True if done else None

        wait_until(delivered_meanwhile, "3 more samples delivered to the broker", alive=[b.proc for b in banks])
        for name, extra in (("a", ("--guard",)), ("b", ())):
            workers[name] = CloudProcess(cloud, db, name, "--batch", "50", *extra).ready()
            alive.append(workers[name].proc)
        wait_until(more(5), "both storing", alive=alive)
    finally:
        for b in banks:
            b.stop()

    # delivered: every sample and event the device took and no longer holds; one it still holds may have arrived
    # too (its PUBACK was on the way when the device stopped: it goes out again at the next start, and is dropped)
    sent = {s: _outbox(b.data_dir) for s, b in zip(serials, banks, strict=True)}
    delivered = {s: set(range(1, last + 1)) - unsent for s, (last, unsent, _, _) in sent.items()}
    assert all(len(q) > 15 for q in delivered.values())
    workers_alive = [w.proc for w in workers.values()]

    def all_samples() -> dict[str, list[int]] | None:
        got = seqs_by_serial(engine)
        return got if all(delivered[s] <= set(got.get(s, ())) for s in serials) else None

    wait_until(all_samples, "every delivered sample stored", alive=workers_alive)
    delivered_events = {(s, i) for s, (_, _, last, unsent) in sent.items() for i in range(last + 1) if i not in unsent}
    taken_events = {(s, i) for s, (_, _, last, _) in sent.items() for i in range(last + 1)}

    def all_events() -> set[tuple[str, int]] | None:
        with engine.connect() as c:
            got = {(s, i) for s, i in c.execute(sa.text("SELECT serial, id FROM fleet_event")).all()}
        return got if delivered_events <= got else None

    assert wait_until(all_events, "every delivered event stored", alive=workers_alive) <= taken_events
    assert [w.stop() for w in workers.values()] == [0, 0]

    stored = seqs_by_serial(engine)
    for s, (last, _, _, _) in sent.items():
        assert stored[s] == sorted(set(stored[s])), "a sample stored twice"
        assert delivered[s] <= set(stored[s]) <= set(range(1, last + 1)), "a sample lost, or one never taken"
    assert count(engine, "SELECT count(*) FROM fleet_module_sample") == sum(len(q) for q in stored.values())
    assert count(engine, "SELECT count(*) FROM fleet_event") == count(
        engine, "SELECT count(DISTINCT (serial, epoch, id)) FROM fleet_event"
    )
    with engine.connect() as c:
        split = dict(c.execute(sa.text("SELECT worker, count(*) FROM fleet_bank_sample GROUP BY worker")).all())
    assert set(split) == {"a", "b"} and min(split.values()) > 0, split
    assert any("lost" in line for line in first_a.errors)  # it saw the broker go, and came back by itself
    assert any("connected again" in line for line in first_a.errors)
    assert not any("Traceback" in x for w in workers.values() for x in w.errors)
    engine.dispose()
