"""Home Assistant MQTT discovery: every config follows HA's documented rules (device class / state class / unit,
required keys, unique ids, availability), and through a real broker HA finds the retained configs, every template
renders a valid state from the device's live payloads, the protocol select changes the protocol with the PIN and
is refused (and says so) without it, and the will marks the bank unavailable when the process dies."""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

import jinja2
import pytest

from ml314.cloud.broker_config import ServiceAccount
from ml314.cloud.discovery import discovery_messages, protocol_options
from ml314.cloud.telemetry import ALARMS
from ml314.protocols.base import Transport
from ml314.storage.settings_store import load_selection
from tests.cloud.clients import Message
from tests.cloud.fleet import Fleet
from tests.cloud.ha_rules import check_config
from tests.web.running import RunningBank

SERIAL = "ML314-TESTTESTTEST"


def test_every_config_of_a_16_module_bank_follows_home_assistants_rules() -> None:
    messages = discovery_messages(SERIAL, "homeassistant", [(n, f"M{n:02d}") for n in range(1, 17)])
    errors = [e for topic, config in messages for e in check_config(topic, config)]
    assert errors == []
    configs = {c["unique_id"]: c for _, c in messages}
    assert len(configs) == len(messages)  # unique ids are unique
    assert len({topic for topic, _ in messages}) == len(messages)
    bank = {c["device"]["identifiers"][0] for c in configs.values() if "via_device" not in c["device"]}
    assert bank == {SERIAL}  # one bank device, every module a sub-device of it
    modules = {c["device"]["identifiers"][0] for c in configs.values() if c["device"].get("via_device") == SERIAL}
    assert modules == {f"{SERIAL}-m{n}" for n in range(1, 17)}
    for key in ("charged_energy", "discharged_energy"):  # the Energy dashboard's two battery sensors
        c = configs[f"{SERIAL}_{key}"]
        assert (c["device_class"], c["state_class"], c["unit_of_measurement"]) == ("energy", "total_increasing", "kWh")
    soc = configs[f"{SERIAL}_soc"]
    assert (soc["device_class"], soc["unit_of_measurement"], soc["state_class"]) == ("battery", "%", "measurement")
    per_cell = re.compile(r"_m\d+_(cell_\d+|temp_cells_\d+_\d+)$")
    cells = [c for uid, c in configs.items() if per_cell.search(uid)]
    assert len(cells) == 16 * (16 + 4) and all(c["enabled_by_default"] is False for c in cells)
    assert all(c.get("enabled_by_default", True) for uid, c in configs.items() if not per_cell.search(uid))
    alarms = [c for uid, c in configs.items() if uid.startswith(f"{SERIAL}_alarm_")]
    assert len(alarms) == len(ALARMS) and all(c["device_class"] == "problem" for c in alarms)
    assert all(c["availability_topic"] == f"ml314/{SERIAL}/status" for c in configs.values())
    select = configs[f"{SERIAL}_can_protocol"]
    assert select["options"] == protocol_options(Transport.CAN) and "victron-can" in select["options"]


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"state_class": "measurement"}, "state_class 'measurement' is not valid for device_class 'energy'"),
        ({"unit_of_measurement": "Ah"}, "unit 'Ah' is not valid"),
        ({"device_class": "battery"}, "unit 'kWh' is not valid for device_class 'battery'"),
    ],
)
def test_the_rules_catch_the_common_mistakes(change: dict, complaint: str) -> None:
    topic, config = next(m for m in discovery_messages(SERIAL, "homeassistant", []) if "charged_energy" in m[0])
    assert check_config(topic, config) == []
    assert any(complaint in e for e in check_config(topic, {**config, **change}))


def _latest(messages: list[Message], topic: str) -> bytes | None:
    return next((m.payload for m in reversed(messages) if m.topic == topic), None)


def test_home_assistant_finds_the_bank_and_the_pin_guards_the_protocol(tmp_path: Path, mosquitto) -> None:
    fleet = Fleet(tmp_path, mosquitto, ServiceAccount("cloud", "cloud"), ServiceAccount("hass", "homeassistant"))
    ha = fleet.client("hass", "ha-status")
    ha.subscribe("ml314/#")
    url = f"mqtt://127.0.0.1:{fleet.port}?interval=0.2"
    with RunningBank(tmp_path, "--mqtt", url, "--quiet") as bank:
        serial = fleet.provision(bank.data_dir)
        base = f"ml314/{serial}"
        ha.wait_for(lambda ms: _latest(ms, f"{base}/status") == b"online", "the bank online")
        ha.wait_for(lambda ms: _latest(ms, f"{base}/module/1/state") is not None, "the live state")
        expected = discovery_messages(serial, "homeassistant", [(1, "")])

        late = fleet.client("hass", "ha-discovery")  # subscribes after the configs were published: retained
        late.subscribe("homeassistant/#")
        got = late.wait_for(lambda ms: len(ms) >= len(expected), "every retained discovery config")
        late.close()
        assert {m.topic for m in got} == {t for t, _ in expected} and all(m.retain for m in got)
        configs = {m.topic: json.loads(m.payload) for m in got}
        assert [e for t, c in configs.items() for e in check_config(t, c)] == []

        # every template renders a valid state from what the device publishes
        env = jinja2.Environment(autoescape=False)
        states = {m.topic: json.loads(m.payload) for m in ha.messages if m.topic.endswith(("state", "protocols"))}
        rendered = 0
        for topic, c in configs.items():
            if c["state_topic"] not in states:
                continue  # the command result: no state until a command ran
            rendered += 1
            value = env.from_string(c["value_template"]).render(value_json=states[c["state_topic"]])
            if "options" in c:
                assert value in c["options"], (topic, value)
            elif "/binary_sensor/" in topic:
                assert value in ("ON", "OFF"), (topic, value)
            elif "state_class" in c:
                float(value)  # a number HA can record (None would render as "None")
        assert rendered == len(configs) - 2  # all but the PIN and the last command's answer

        def command(name: str, payload: str) -> dict:
            n = sum(m.topic == f"{base}/result" for m in ha.messages)
            ha.publish(f"{base}/cmd/{name}", payload)
            got = ha.wait_for(lambda ms: sum(m.topic == f"{base}/result" for m in ms) > n, f"the answer to {name}")
            return json.loads(_latest(got, f"{base}/result") or b"{}")

        refused = command("can_protocol", "victron-can")
        assert (refused["ok"], refused["code"]) == (False, "pin_required") and "PIN" in refused["message"]
        assert command("pin", "00000000" if bank.pin != "00000000" else "11111111")["code"] == "pin_wrong"
        assert command("can_protocol", json.dumps({"protocol": "victron-can", "pin": "1"}))["code"] == "pin_wrong"
        assert load_selection(bank.settings).can.name != "victron-can"
        assert command("pin", bank.pin)["ok"] is True
        saved = command("can_protocol", "victron-can")
        assert saved["ok"] is True and "next start" in saved["message"]
        assert load_selection(bank.settings).can.name == "victron-can"
        again = command("can_protocol", "pylon-can")  # the PIN opened one change only
        assert again["code"] == "pin_required"
        ha.wait_for(lambda ms: json.loads(_latest(ms, f"{base}/protocols") or b"{}").get("can") == "victron-can",
                    "the select's new state")  # fmt: skip

        bank.proc.send_signal(signal.SIGKILL)  # no goodbye: the broker publishes the will
        ha.wait_for(lambda ms: _latest(ms, f"{base}/status") == b"offline", "the will: offline")
    ha.close()
