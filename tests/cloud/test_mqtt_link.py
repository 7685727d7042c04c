"""``ml314 run --mqtt`` against a real Mosquitto with the generated per-device configuration: the broker stopped
mid-run and started again; every sample arrives, once per sequence number, with the time it was taken (the ones
taken during the outage come late from the disk buffer with their original timestamps), and the bank kept running
meanwhile."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

from tests.cloud.fleet import Fleet
from tests.needs import missing
from tests.web.running import RunningBank, wait_for


def _outbox(data: Path, sql: str) -> int:
    db = sqlite3.connect(data / "mqtt-outbox.sqlite")
    try:
        return int(db.execute(sql).fetchone()[0])
    finally:
        db.close()


def _buffered(data: Path) -> int:
    return _outbox(data, "SELECT COUNT(*) FROM outbox WHERE kind = 'sample'")


def test_a_broker_outage_loses_no_sample(tmp_path: Path, mosquitto) -> None:
    fleet = Fleet(tmp_path, mosquitto)
    broker = fleet.broker
    cloud = fleet.client("cloud", "cloud-test", session_expiry_s=3600)
    assert cloud.subscribe("ml314/+/telemetry") == [1]
    assert cloud.subscribe("ml314/+/events") == [1]
    url = f"mqtt://127.0.0.1:{fleet.port}?interval=0.2&discovery=off"
    with RunningBank(tmp_path, "--mqtt", url, "--quiet") as bank:
        # refused until provisioned: the device buffers from its first sample on, and retries
        serial = fleet.provision(bank.data_dir)

        def samples() -> list[dict]:
            return [json.loads(m.payload) for m in cloud.messages if m.topic.endswith("/telemetry")]

        cloud.wait_for(lambda ms: sum(m.topic.endswith("/telemetry") for m in ms) >= 3, "the first samples")
        broker.stop()
        stopped = time.time()
        before = _buffered(bank.data_dir)
        wait_for(lambda: True if _buffered(bank.data_dir) >= before + 4 else None, "4 buffered samples", alive=bank)
        restarted = time.time()
        broker.start()
        last_buffered = _outbox(bank.data_dir, "SELECT value FROM meta WHERE key = 'seq'")
        cloud.wait_for(lambda ms: any(s["seq"] > last_buffered + 2 for s in samples()), "new samples")
        bank.stop()
    cloud.close()

    got = samples()
    by_seq: dict[int, dict] = {}
    for s in got:
        assert by_seq.setdefault(s["seq"], s) == s  # a second copy (QoS 1) is byte-for-byte the same sample
    seqs = sorted(by_seq)
    assert seqs == list(range(1, seqs[-1] + 1)), "a sample is missing"
    assert all(s["kind"] == "sample" and s["serial"] == serial for s in got)
    ts = [by_seq[q]["ts"] for q in seqs]
    assert ts == sorted(ts)  # original timestamps, in the order taken
    during = [by_seq[q] for q in seqs if stopped < by_seq[q]["ts"] < restarted]
    assert len(during) >= 3  # taken while the broker was down, sent after it came back
    t_s = [s["t_s"] for s in during]
    assert t_s == sorted(t_s) and t_s[-1] > t_s[0]  # the bank ran on during the outage
    assert sum("mqtt: connected" in e for e in bank.errors) >= 2  # it connected again by itself
    events = {e["id"]: e for m in cloud.messages if m.topic.endswith("/events") and (e := json.loads(m.payload))}
    assert sorted(events) == list(range(len(events)))  # the event log from its start, no gap
    assert all(e["kind"] == "event" and e["epoch"] == 0 and e["event_kind"] for e in events.values())


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (openssl), the broker's and the clients' trust anchor at once."""
    openssl = shutil.which("openssl")
    if openssl is None:
        missing("openssl (to make a test certificate)")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_mqtts_with_a_private_ca(tmp_path: Path, mosquitto) -> None:
    cert, key = _self_signed(tmp_path)
    fleet = Fleet(tmp_path, mosquitto, tls=(cert, key))
    cloud = fleet.client("cloud", "cloud-tls")
    assert cloud.subscribe("ml314/+/telemetry") == [1]
    url = f"mqtts://127.0.0.1:{fleet.port}?ca={cert}&interval=0.2&discovery=off"
    with RunningBank(tmp_path, "--mqtt", url, "--quiet") as bank:
        serial = fleet.provision(bank.data_dir)
        got = cloud.wait_for(lambda ms: len(ms) >= 2, "samples over TLS")
    cloud.close()
    assert all(json.loads(m.payload)["serial"] == serial for m in got)
    assert "mqtts://127.0.0.1" in "\n".join(bank.lines)
