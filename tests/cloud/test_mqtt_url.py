"""``--mqtt URL``: what it means, and one clear line (no traceback, no password echoed) for what it cannot be."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ml314.cloud.mqtt_url import parse_mqtt_url
from ml314.errors import InputError


def test_the_forms_of_the_url(tmp_path: Path) -> None:
    plain = parse_mqtt_url("mqtt://127.0.0.1:1884")
    assert (plain.host, plain.port, plain.tls, plain.username) == ("127.0.0.1", 1884, False, None)
    assert plain.interval_s == 5.0
    assert plain.discovery_prefix == "homeassistant"
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    tls = parse_mqtt_url(f"mqtts://broker.example:8884?ca={ca}&interval=1s&discovery=off&buffer=500")
    assert (tls.tls, tls.ca, tls.interval_s, tls.discovery_prefix, tls.buffer_samples) == (True, ca, 1.0, None, 500)
    assert parse_mqtt_url("mqtts://h").port == 8883 and parse_mqtt_url("mqtt://h").port == 1883
    user = parse_mqtt_url("mqtt://ha%20user:s%40cret@h:1883")
    assert (user.username, user.password) == ("ha user", "s@cret")
    assert "s@cret" not in repr(user) and "s@cret" not in user.where


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://h:1883", "mqtt://HOST:PORT or mqtts://HOST:PORT"),
        ("mqtt://:1883", "no host"),
        ("mqtt://h:99999", "Port out of range"),
        ("mqtt://h?interval=0s", "must be positive"),
        ("mqtt://h?speed=2", "unknown option 'speed'"),
        ("mqtt://h?ca=/x.pem", "ca= needs mqtts://"),
        ("mqtts://h?ca=/no/such.pem", "no such file"),
        ("mqtt://u:topsecret@h?buffer=1", "buffer='1'"),
        ("mqtt://h?discovery=home/assistant", "discovery="),
    ],
)
def test_a_bad_url_names_what_is_wrong(url: str, says: str) -> None:
    with pytest.raises(InputError, match="--mqtt") as raised:
        parse_mqtt_url(url)
    assert says in str(raised.value) and "topsecret" not in str(raised.value)


def test_ml314_run_refuses_a_bad_url_in_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ml314.cli.main", "run", "--mqtt", "ftp://h", "--for", "1s"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("ml314: error: --mqtt 'ftp://h'")
    assert "Traceback" not in done.stderr
