"""Chapter 12's findings in Home Assistant: one ``problem`` binary sensor of the bank, its text and findings as
attributes from the state topic; through a real broker, a running bank with a silent inverter turns it on."""

from __future__ import annotations

import json
from pathlib import Path

import jinja2
import pytest

from ml314.cloud.broker_config import ServiceAccount
from ml314.cloud.discovery import diagnostics_state, discovery_messages
from ml314.diagnostics import ModuleObservation, Observation, diagnose
from ml314.runtime.diagnosis import report_of
from tests.cloud.fleet import Fleet
from tests.cloud.ha_rules import check_config
from tests.web.running import RunningBank

SERIAL = "ML314-TESTTESTTEST"


def _sensor() -> tuple[str, dict[str, object]]:
    return next((t, c) for t, c in discovery_messages(SERIAL, "homeassistant", [(1, "")]) if "/diagnostics/" in t)


def _render(template: object, state: dict[str, object]) -> str:
    return jinja2.Environment(autoescape=False).from_string(str(template)).render(value_json=state)


def test_the_sensor_is_a_problem_with_the_text_as_attributes() -> None:
    topic, config = _sensor()
    assert topic == f"homeassistant/binary_sensor/{SERIAL}/diagnostics/config"
    assert check_config(topic, config) == []
    assert config["device_class"] == "problem" and config["json_attributes_topic"] == config["state_topic"]
    sleeping = Observation(t_s=100.0, modules=(ModuleObservation(0, 3, state="sleep", voltage_v=47.0),))
    state = {"diagnostics": diagnostics_state(report_of(diagnose(sleeping), 100.0))}
    assert _render(config["value_template"], state) == "ON"
    attributes = json.loads(_render(config["json_attributes_template"], state))
    assert attributes["text"] == "module 3: low-voltage protection: the module sleeps [Table 12-2 #9]"
    assert attributes["findings"][0]["solution"] == "Follow the below steps to reboot the module."
    assert _render(config["value_template"], {"diagnostics": diagnostics_state(report_of((), 0.0))}) == "OFF"
    assert _render(config["value_template"], {}) == "OFF"  # a state published before the first diagnosis


@pytest.mark.long
def test_a_silent_inverter_turns_the_problem_sensor_on(tmp_path: Path, mosquitto) -> None:  # type: ignore[no-untyped-def]
    fleet = Fleet(tmp_path, mosquitto, ServiceAccount("cloud", "cloud"), ServiceAccount("hass", "homeassistant"))
    ha = fleet.client("hass", "ha-status")
    ha.subscribe("ml314/#")
    url = f"mqtt://127.0.0.1:{fleet.port}?interval=0.2"
    with RunningBank(tmp_path, "--mqtt", url, "--quiet", "--protocol", "CAN:P14", "--no-peer") as bank:
        serial = fleet.provision(bank.data_dir)

        def problem(ms: list) -> bool:  # type: ignore[type-arg]
            states = [json.loads(m.payload) for m in ms if m.topic == f"ml314/{serial}/state"]
            return bool(states) and bool(states[-1].get("diagnostics", {}).get("problem"))

        got = ha.wait_for(problem, "the diagnostics problem on")
        last = json.loads(next(m.payload for m in reversed(got) if m.topic == f"ml314/{serial}/state"))
        assert "no keep-alive [Table 12-2 #1]" in last["diagnostics"]["text"]
        assert last["diagnostics"]["findings"][0]["code"] == "no_keepalive"
