"""``ml314 broker-config`` on a real Mosquitto: each device connects with its own credential and may publish only on
its own topics (a message on another device's topic is dropped: the other device's subscribers never see it);
the cloud account reads every device through a shared subscription and may send commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ml314.cloud.broker_config import mosquitto_hash, parse_password_lines
from ml314.storage.data_dir import DataDir
from ml314.storage.mqtt_credential import MqttCredential
from tests.cloud.clients import TestClient
from tests.mosquitto import free_port

NOT_AUTHORIZED = 0x87
BAD_CREDENTIALS = 0x86


def _device(path: Path) -> tuple[str, MqttCredential]:
    identity, _ = DataDir(path).identity()
    return identity.serial, MqttCredential.open(path, identity.serial)


def test_the_hash_is_mosquittos_own_format() -> None:
    # the vector mosquitto_passwd 2.0.11 wrote for "secret" with this salt (PBKDF2-SHA512, 101 iterations)
    salt = bytes.fromhex("dd52441da9c6a8df39c22c5d")
    expected = (
        "$7$101$3VJEHanGqN85wixd$"
        "fLRV8hj7fqVeq0Jv7JlTLZ8GmMNpSmRHk/Zc14TA+nHSSC4fjv7T8NPms0n+qclyWRFjXLOb2+KF5A6mSM3wyQ=="
    )
    assert mosquitto_hash("secret", salt=salt) == expected
    assert parse_password_lines(f"dev1:{expected}\n", "f") == [("dev1", expected)]


def test_each_device_publishes_only_on_its_own_topics(tmp_path: Path, mosquitto) -> None:
    a_serial, a = _device(tmp_path / "a")
    b_serial, b = _device(tmp_path / "b")
    port = free_port()
    out = tmp_path / "broker"
    done = subprocess.run(
        [sys.executable, "-m", "ml314.cli.main", "broker-config", "--out", str(out), "--device", str(tmp_path / "a"),
         "--device", str(tmp_path / "b"), "--listen", f"127.0.0.1:{port}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert a_serial in done.stdout and b_serial in done.stdout
    assert (out / "passwd").stat().st_mode & 0o077 == 0 and (out / "accounts.txt").stat().st_mode & 0o077 == 0
    assert a.password not in (out / "passwd").read_text() + done.stdout  # only hashes reach the broker side
    cloud_user, role, cloud_password = (out / "accounts.txt").read_text().split()
    assert role == "cloud"
    mosquitto(conf=out / "mosquitto.conf", port=port)

    assert TestClient(port, "anon").connack in {NOT_AUTHORIZED, BAD_CREDENTIALS}  # no anonymous access
    assert TestClient(port, "wrong", a_serial, b.password).connack in {NOT_AUTHORIZED, BAD_CREDENTIALS}
    cloud = TestClient(port, "cloud-1", cloud_user, cloud_password)
    dev_a = TestClient(port, "dev-a", a_serial, a.password)
    dev_b = TestClient(port, "dev-b", b_serial, b.password)
    try:
        assert (cloud.connack, dev_a.connack, dev_b.connack) == (0, 0, 0)
        assert cloud.subscribe("$share/ml314/ml314/+/telemetry") == [1]
        assert dev_b.subscribe(f"ml314/{b_serial}/cmd/#") == [1]
        # Mosquitto grants any subscription and applies the ACL at delivery: A listening to B gets nothing of B's
        dev_a.subscribe("ml314/#")

        dev_a.publish(f"ml314/{b_serial}/telemetry", b"forged by A")  # the broker drops it
        dev_a.publish(f"ml314/{a_serial}/telemetry", b"A's own")
        dev_b.publish(f"ml314/{b_serial}/telemetry", b"B's own")
        got = cloud.wait_for(lambda ms: len(ms) >= 2, "both devices' own samples")
        # each publisher's messages arrive in order, so A's forgery would have come before A's own sample
        assert sorted((m.topic, m.payload) for m in got) == sorted(
            [(f"ml314/{a_serial}/telemetry", b"A's own"), (f"ml314/{b_serial}/telemetry", b"B's own")]
        )
        dev_a.publish(f"ml314/{b_serial}/cmd/protocol", b"forged command")  # dropped too
        cloud.publish(f"ml314/{b_serial}/cmd/protocol", b"from the cloud")
        got_b = dev_b.wait_for(lambda ms: len(ms) >= 1, "the cloud's command")
        assert [m.payload for m in got_b] == [b"from the cloud"]
        cloud.publish(f"ml314/{a_serial}/cmd/protocol", b"for A")  # after B's, so A would have had B's first
        got_a = dev_a.wait_for(lambda ms: any(m.payload == b"for A" for m in ms), "its own command")
        assert [(m.topic, m.payload) for m in got_a] == [(f"ml314/{a_serial}/cmd/protocol", b"for A")]
    finally:
        for client in (cloud, dev_a, dev_b):
            client.close()


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ml314.cli.main", "broker-config", "--out", str(tmp_path / "x")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("ml314: error: no device accounts") and "Traceback" not in done.stderr


@pytest.mark.parametrize("line", ["dev1", "dev1:plain", "bad/serial:$7$101$a$b"])
def test_a_devices_file_line_that_is_no_hash_is_refused(line: str) -> None:
    from ml314.errors import InputError  # noqa: PLC0415

    with pytest.raises(InputError, match="f:1"):
        parse_password_lines(line, "f")
