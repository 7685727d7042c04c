"""``ml314 cloud`` worker processes between a private Mosquitto (the generated fleet configuration) and a private
PostgreSQL: the load split between two workers, every sample stored exactly once, bad messages counted and never
in the way, bad options one line and exit 2."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa

from ml314.cloud.fleet_store import fleet_db_url
from ml314.cloud.mqtt_url import parse_mqtt_url
from ml314.errors import InputError
from ml314.runtime.cloud_worker import CloudConfig
from ml314.storage.data_dir import DataDir
from tests.cloud.clients import TestClient
from tests.cloud.fleet import Fleet
from tests.cloud.payloads import sample_bytes
from tests.cloud.workers import ML314, CloudProcess, count, seqs_by_serial, wait_until
from tests.postgres import PostgresServer


def _cloud_url(fleet: Fleet) -> str:
    return f"mqtt://cloud:{fleet.files.passwords['cloud']}@127.0.0.1:{fleet.port}"


def test_two_workers_share_the_load_and_bad_messages_never_block(
    tmp_path: Path, mosquitto, postgres_server: PostgresServer
) -> None:
    fleet = Fleet(tmp_path, mosquitto)
    db = postgres_server.new_database()
    workers = [CloudProcess(_cloud_url(fleet), db, name, "--batch", "20").ready() for name in ("a", "b")]
    # the fleet's one provisioned device publishes in the exact format of ml314 run --mqtt, and some bad messages
    serial = DataDir(tmp_path / "other-device").identity()[0].serial
    device = TestClient(fleet.port, serial, serial, "not this device's")
    topic = f"ml314/{serial}/telemetry"
    now = time.time()
    bad = [b"not json", sample_bytes("ML314-SOMEONEELSE0", 1, now), orjson.dumps({"v": 1, "kind": "sample"})]
    for seq in range(1, 201):
        device.publish(topic, sample_bytes(serial, seq, now - 200 + seq))
        if seq % 50 == 0:
            device.publish(topic, bad[seq // 50 % len(bad)])
    device.publish(f"ml314/{serial}/events", b"{")
    engine = sa.create_engine(fleet_db_url(db))
    alive = [w.proc for w in workers]
    wait_until(lambda: True if count(engine, "SELECT count(*) FROM fleet_bank_sample") >= 200 else None,
               "200 samples stored", alive=alive)  # fmt: skip
    device.publish(f"ml314/{serial}/status", b"offline")
    wait_until(lambda: True if count(engine, "SELECT count(*) FROM fleet_device WHERE NOT online") else None,
               "the device offline", alive=alive)  # fmt: skip
    device.close()
    assert [w.stop() for w in workers] == [0, 0]  # SIGTERM: the batch under way finished, exit 0

    assert seqs_by_serial(engine) == {serial: list(range(1, 201))}
    assert count(engine, "SELECT count(*) FROM fleet_module_sample") == 200
    with engine.connect() as c:
        split = dict(c.execute(sa.text("SELECT worker, count(*) FROM fleet_bank_sample GROUP BY worker")).all())
    assert set(split) == {"a", "b"} and all(n > 0 for n in split.values()), split
    logged = [line for w in workers for line in w.errors if "bad message" in line]
    assert len(logged) == 5, logged  # one line each
    assert any("not JSON" in line for line in logged)
    assert any("serial is not the topic's" in line for line in logged)
    finals = [next(x for x in w.lines if "stopped;" in x) for w in workers]
    assert sum(int(f.split(" bad;")[0].rsplit(" ", 1)[-1]) for f in finals) == 5
    assert not any("Traceback" in x for w in workers for x in w.errors)
    engine.dispose()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--mqtt", "http://x", "--db", "postgresql://u@h/d"], "--mqtt 'http://x': mqtt://HOST:PORT"),
        (["--mqtt", "mqtt://c:p@127.0.0.1:1", "--db", "postgresql://nobody:secret@127.0.0.1:1/none"],
         "--db postgresql+psycopg://nobody:***@127.0.0.1:1/none: connection failed"),
    ],
)  # fmt: skip
def test_bad_options_are_one_line_and_exit_2(args: list[str], words: str, tmp_path: Path) -> None:
    r = subprocess.run([*ML314, "cloud", *args], capture_output=True, text=True, cwd=tmp_path, check=False)
    assert r.returncode == 2, r.stderr
    assert words in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert "secret" not in r.stderr


@pytest.mark.parametrize(
    ("mqtt", "db", "name", "words"),
    [
        ("mqtt://c:p@h:1", "mysql://x/y", "a", "--db 'mysql://x/y': postgresql://"),
        ("mqtt://h:1", "postgresql://u@h/d", "a", "the cloud account's USER:PASSWORD@"),
        ("mqtt://c:p@h:1", "postgresql://u@h/d", "a b", "--name 'a b'"),
    ],
)
def test_bad_settings_are_input_errors(mqtt: str, db: str, name: str, words: str) -> None:
    with pytest.raises(InputError, match=re.escape(words)):
        CloudConfig(parse_mqtt_url(mqtt), db, name).validate()


def test_a_wrong_cloud_password_is_one_line(tmp_path: Path, mosquitto, postgres_server: PostgresServer) -> None:
    fleet = Fleet(tmp_path, mosquitto)
    url = f"mqtt://cloud:wrong@127.0.0.1:{fleet.port}"
    r = subprocess.run([*ML314, "cloud", "--mqtt", url, "--db", postgres_server.new_database()],
                       capture_output=True, text=True, cwd=tmp_path, check=False)  # fmt: skip
    assert r.returncode == 2
    assert "the broker refused the account (not authorized)" in r.stderr and "Traceback" not in r.stderr
