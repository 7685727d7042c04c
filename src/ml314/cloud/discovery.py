"""Home Assistant MQTT discovery for one bank: the configs a device publishes (retained) so that HA creates its
devices and entities by itself (docs/mqtt.md, "Home Assistant").

* one HA device per bank (identifier = the serial) and one per module (``<serial>-m<n>``, ``via_device`` the bank);
* sensors with the device class, state class and unit HA accepts together (``tests/cloud/ha_rules.py`` checks
  them): charged and discharged energy are ``energy`` / ``total_increasing`` / kWh, ready for the Energy
  dashboard; per-cell voltages and cell-group temperatures exist but are disabled by default;
* every alarm kind as a ``problem`` binary sensor of the bank, and one ``problem`` binary sensor per module;
* the diagnostics of chapter 12 as one ``problem`` binary sensor of the bank, its text and findings as attributes
  (the ``diagnostics`` object of the state topic, :func:`diagnostics_state`);
* the CAN and RS485 protocol selections as ``select`` entities, guarded by the technician PIN: a ``text`` entity
  (mode password) takes the PIN, which opens the selection for one change within :data:`UNLOCK_S` seconds; a
  selection without it is refused and the refusal shows on the "Last command" sensor;
* every entity is unavailable while the device's status topic says ``offline`` (its will message).

Discovery topics are ``<prefix>/<component>/<serial>/<object id>/config``; object ids are the unique ids without
the serial.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ml314 import __version__
from ml314.bms.states import BmsState
from ml314.cloud.telemetry import ALARMS
from ml314.cloud.topics import DeviceTopics
from ml314.domain.spec import ML314
from ml314.protocols.base import Transport
from ml314.protocols.registry import entries

__all__ = ["UNLOCK_S", "diagnostics_state", "discovery_messages", "protocol_options"]

#: seconds a right PIN (the "Technician PIN" entity) keeps the protocol selection open, for one change
UNLOCK_S = 120.0
CELLS = ML314.cells_in_series
#: key, name, device_class, state_class, unit, entity_category (None: not set)
_BANK_SENSORS: tuple[tuple[str, str, str | None, str | None, str | None, str | None], ...] = (
    ("soc", "State of charge", "battery", "measurement", "%", None),
    ("soh", "State of health", None, "measurement", "%", "diagnostic"),
    ("voltage", "Voltage", "voltage", "measurement", "V", None),
    ("current", "Current", "current", "measurement", "A", None),
    ("power", "Power", "power", "measurement", "W", None),
    ("temperature", "Temperature", "temperature", "measurement", "°C", None),
    ("charged_energy", "Energy charged", "energy", "total_increasing", "kWh", None),
    ("discharged_energy", "Energy discharged", "energy", "total_increasing", "kWh", None),
    ("stored_energy", "Stored energy", "energy_storage", "measurement", "kWh", None),
    ("remaining_capacity", "Remaining capacity", None, "measurement", "Ah", None),
    ("full_capacity", "Full capacity", None, "measurement", "Ah", "diagnostic"),
    ("cycles", "Cycles", None, "total_increasing", None, "diagnostic"),
    ("cell_voltage_max", "Highest cell voltage", "voltage", "measurement", "V", "diagnostic"),
    ("cell_voltage_min", "Lowest cell voltage", "voltage", "measurement", "V", "diagnostic"),
    ("cell_temperature_max", "Highest cell temperature", "temperature", "measurement", "°C", "diagnostic"),
    ("cell_temperature_min", "Lowest cell temperature", "temperature", "measurement", "°C", "diagnostic"),
    ("cvl", "Charge voltage limit", "voltage", "measurement", "V", "diagnostic"),
    ("ccl", "Charge current limit", "current", "measurement", "A", "diagnostic"),
    ("dcl", "Discharge current limit", "current", "measurement", "A", "diagnostic"),
    ("module_count", "Modules online", None, "measurement", None, "diagnostic"),
)
#: the state field of each bank sensor (its unit suffix)
_BANK_FIELD = {
    "soc": "soc_pct",
    "soh": "soh_pct",
    "voltage": "voltage_v",
    "current": "current_a",
    "power": "power_w",
    "temperature": "temperature_c",
    "charged_energy": "charged_energy_kwh",
    "discharged_energy": "discharged_energy_kwh",
    "stored_energy": "stored_energy_kwh",
    "remaining_capacity": "remaining_capacity_ah",
    "full_capacity": "full_capacity_ah",
    "cycles": "cycles",
    "cell_voltage_max": "cell_voltage_max_v",
    "cell_voltage_min": "cell_voltage_min_v",
    "cell_temperature_max": "cell_temperature_max_c",
    "cell_temperature_min": "cell_temperature_min_c",
    "cvl": "cvl_v",
    "ccl": "ccl_a",
    "dcl": "dcl_a",
    "module_count": "module_count",
}
_MODULE_SENSORS: tuple[tuple[str, str, str | None, str | None, str | None, str | None, str], ...] = (
    ("soc", "State of charge", "battery", "measurement", "%", None, "soc_pct"),
    ("soh", "State of health", None, "measurement", "%", "diagnostic", "soh_pct"),
    ("voltage", "Voltage", "voltage", "measurement", "V", None, "voltage_v"),
    ("current", "Current", "current", "measurement", "A", None, "current_a"),
    ("cycles", "Cycles", None, "total_increasing", None, "diagnostic", "cycles"),
)
#: the module's temperature sensors in the order of ``temps_c`` (Pylon order); cell groups disabled by default
_MODULE_TEMPS = (
    ("temp_board", "BMS board temperature", True),
    ("temp_cells_1_4", "Cells 1-4 temperature", False),
    ("temp_cells_5_8", "Cells 5-8 temperature", False),
    ("temp_cells_9_12", "Cells 9-12 temperature", False),
    ("temp_cells_13_16", "Cells 13-16 temperature", False),
    ("temp_mosfet", "MOSFET temperature", True),
)


def protocol_options(transport: Transport) -> list[str]:
    """The names a protocol ``select`` offers for ``transport`` (what ``ml314 protocols`` lists)."""
    return [e.name for e in entries() if e.transport is transport]


def _alarm_name(kind: str) -> str:
    return kind.replace("_", " ").capitalize()


def discovery_messages(
    serial: str, prefix: str, modules: Sequence[tuple[int, str]]
) -> list[tuple[str, dict[str, Any]]]:
    """(topic, config) of every entity of the bank ``serial``; ``modules`` are (chain position n, module serial)."""
    t = DeviceTopics(serial)
    origin = {"name": "ml314", "sw_version": __version__}
    bank_device = {
        "identifiers": [serial],
        "name": f"ML314 bank {serial[-4:]}",
        "manufacturer": "ML314",
        "model": f"{ML314.model} bank",
        "serial_number": serial,
        "sw_version": __version__,
    }
    common = {"availability_topic": t.status, "origin": origin}
    out: list[tuple[str, dict[str, Any]]] = []

    def add(component: str, key: str, device: dict[str, Any], config: dict[str, Any]) -> None:
        uid = f"{serial}_{key}"
        out.append((t.discovery(prefix, component, key), {**config, "unique_id": uid, "device": device, **common}))

    for key, name, dclass, sclass, unit, category in _BANK_SENSORS:
        config: dict[str, Any] = {
            "name": name,
            "state_topic": t.state,
            "value_template": f"{{{{ value_json.{_BANK_FIELD[key]} }}}}",
            "state_class": sclass,
        }
        _put(config, device_class=dclass, unit_of_measurement=unit, entity_category=category)
        add("sensor", key, bank_device, config)
    for kind in ALARMS:
        add("binary_sensor", f"alarm_{kind}", bank_device, {
            "name": f"Alarm {_alarm_name(kind).lower()}",
            "state_topic": t.state,
            "value_template": f"{{{{ 'ON' if value_json.alarm.{kind} else 'OFF' }}}}",
            "device_class": "problem",
            "entity_category": "diagnostic",
        })  # fmt: skip
    add("binary_sensor", "diagnostics", bank_device, {
        "name": "Diagnostics",
        "state_topic": t.state,
        "value_template": "{{ 'ON' if value_json.diagnostics is defined and value_json.diagnostics.problem "
                          "else 'OFF' }}",
        "json_attributes_topic": t.state,
        "json_attributes_template": "{{ (value_json.diagnostics if value_json.diagnostics is defined else {}) "
                                    "| tojson }}",
        "device_class": "problem",
    })  # fmt: skip
    for transport, key in ((Transport.CAN, "can"), (Transport.RS485, "rs485")):
        add("select", f"{key}_protocol", bank_device, {
            "name": f"{transport.value} protocol",
            "command_topic": t.command(f"{key}_protocol"),
            "state_topic": t.protocols,
            "value_template": f"{{{{ value_json.{key} }}}}",
            "options": protocol_options(transport),
            "entity_category": "config",
        })  # fmt: skip
    add("text", "technician_pin", bank_device, {
        "name": "Technician PIN",
        "command_topic": t.command("pin"),
        "state_topic": t.result,
        "value_template": "{{ '' }}",  # the PIN never comes back as a state
        "mode": "password",
        "min": 0,
        "max": 32,
        "entity_category": "config",
    })  # fmt: skip
    add("sensor", "last_command", bank_device, {
        "name": "Last command",
        "state_topic": t.result,
        "value_template": "{{ value_json.message[:250] }}",
        "entity_category": "diagnostic",
    })  # fmt: skip

    for n, module_serial in modules:
        device = {
            "identifiers": [f"{serial}-m{n}"],
            "name": f"ML314 module {n}",
            "manufacturer": "ML314",
            "model": ML314.model,
            "serial_number": module_serial,
            "via_device": serial,
        }
        state = t.module_state(n)
        for key, name, dclass, sclass, unit, category, field in _MODULE_SENSORS:
            config = {"name": name, "state_topic": state, "value_template": f"{{{{ value_json.{field} }}}}",
                      "state_class": sclass}  # fmt: skip
            _put(config, device_class=dclass, unit_of_measurement=unit, entity_category=category)
            add("sensor", f"m{n}_{key}", device, config)
        add("sensor", f"m{n}_state", device, {
            "name": "BMS state",
            "state_topic": state,
            "value_template": "{{ value_json.state }}",
            "device_class": "enum",
            "options": [s.name.lower() for s in BmsState],
        })  # fmt: skip
        add("sensor", f"m{n}_dip_id", device, {
            "name": "DIP ID",
            "state_topic": state,
            "value_template": "{{ value_json.id }}",
            "entity_category": "diagnostic",
        })  # fmt: skip
        add("binary_sensor", f"m{n}_problem", device, {
            "name": "Problem",
            "state_topic": state,
            "value_template": "{{ 'ON' if value_json.alarms or value_json.protections else 'OFF' }}",
            "device_class": "problem",
        })  # fmt: skip
        add("binary_sensor", f"m{n}_balancing", device, {
            "name": "Balancing",
            "state_topic": state,
            "value_template": "{{ 'ON' if value_json.balancing else 'OFF' }}",
            "entity_category": "diagnostic",
        })  # fmt: skip
        for i, (key, name, enabled) in enumerate(_MODULE_TEMPS):
            add("sensor", f"m{n}_{key}", device, {
                "name": name,
                "state_topic": state,
                "value_template": f"{{{{ value_json.temps_c[{i}] }}}}",
                "device_class": "temperature",
                "state_class": "measurement",
                "unit_of_measurement": "°C",
                "enabled_by_default": enabled,
                "entity_category": "diagnostic",
            })  # fmt: skip
        for c in range(CELLS):
            add("sensor", f"m{n}_cell_{c + 1}", device, {
                "name": f"Cell {c + 1} voltage",
                "state_topic": state,
                "value_template": f"{{{{ value_json.cells_v[{c}] }}}}",
                "device_class": "voltage",
                "state_class": "measurement",
                "unit_of_measurement": "V",
                "suggested_display_precision": 3,
                "enabled_by_default": False,
                "entity_category": "diagnostic",
            })  # fmt: skip
    return out


def _put(config: dict[str, Any], **values: str | None) -> None:
    """Set the keys whose value is not None (HA rejects a null device class or unit)."""
    config.update({k: v for k, v in values.items() if v is not None})


def diagnostics_state(report: dict[str, Any]) -> dict[str, Any]:
    """The ``diagnostics`` object of the state topic from a diagnostics report (``GET /api/diagnostics``):
    ``problem``, ``count``, ``text`` (one line per finding, at most 250 characters in all, as HA shows
    attributes) and each finding's code, module, title, the manual's reference and its solution."""
    findings = report.get("findings", [])
    lines = [f"{f['where']}: {f['title']} [{f['manual']['ref']}]" for f in findings]
    text = "; ".join(lines) if lines else "no finding"
    return {
        "problem": bool(findings),
        "count": len(findings),
        "text": text if len(text) <= 250 else text[:247] + "...",
        "findings": [
            {
                "code": f["code"],
                "module_id": f["module_id"],
                "title": f["title"],
                "manual": f["manual"]["ref"],
                "solution": f["manual"]["solution"],
            }
            for f in findings
        ],
    }
