"""Home Assistant's rules for MQTT discovery configs, as HA documents and enforces them, for checking ours.

Sources (public, read for this file):
* device class -> units and device class -> state classes: ``home-assistant/core``
  ``homeassistant/components/sensor/const.py`` (``DEVICE_CLASS_UNITS``, ``DEVICE_CLASS_STATE_CLASSES``); only the
  classes ml314 could use are copied, with every unit HA allows for them;
* required and allowed keys: HA's docs ``source/_integrations/{sensor,binary_sensor,select,text}.mqtt.markdown``
  and ``mqtt.markdown`` (discovery topic format, ``node_id``/``object_id`` characters, device block needs a
  ``unique_id``, ``availability_topic`` or ``availability`` but not both);
* binary sensor device classes: HA's ``BinarySensorDeviceClass``; entity categories: ``config``, ``diagnostic``.
"""

from __future__ import annotations

import re
from typing import Any

ENERGY_UNITS = {"J", "kJ", "MJ", "GJ", "mWh", "Wh", "kWh", "MWh", "GWh", "TWh", "cal", "kcal", "Mcal", "Gcal"}
DEVICE_CLASS_UNITS: dict[str, set[str | None]] = {
    "battery": {"%"},
    "current": {"A", "mA"},
    "duration": {"d", "h", "min", "s", "ms"},
    "energy": set(ENERGY_UNITS),
    "energy_storage": set(ENERGY_UNITS),
    "enum": {None},
    "power": {"mW", "W", "kW", "MW", "GW", "TW"},
    "temperature": {"°C", "°F", "K"},
    "timestamp": {None},
    "voltage": {"V", "mV", "µV", "kV", "MV"},
}
DEVICE_CLASS_STATE_CLASSES: dict[str, set[str]] = {
    "battery": {"measurement"},
    "current": {"measurement"},
    "duration": {"measurement", "total", "total_increasing"},
    "energy": {"total", "total_increasing"},
    "energy_storage": {"measurement"},
    "enum": set(),
    "power": {"measurement"},
    "temperature": {"measurement"},
    "timestamp": set(),
    "voltage": {"measurement"},
}
STATE_CLASSES = {"measurement", "total", "total_increasing"}
BINARY_SENSOR_CLASSES = {
    "battery", "battery_charging", "carbon_monoxide", "cold", "connectivity", "door", "garage_door", "gas", "heat",
    "light", "lock", "moisture", "motion", "moving", "occupancy", "opening", "plug", "power", "presence", "problem",
    "running", "safety", "smoke", "sound", "tamper", "update", "vibration", "window",
}  # fmt: skip
ENTITY_CATEGORIES = {"config", "diagnostic"}
REQUIRED = {
    "sensor": {"state_topic"},
    "binary_sensor": {"state_topic"},
    "select": {"command_topic", "options"},
    "text": {"command_topic"},
}
_TOPIC = re.compile(
    r"^(?P<prefix>[^/]+)/(?P<component>[a-z_]+)/(?:(?P<node>[a-zA-Z0-9_-]+)/)?(?P<obj>[a-zA-Z0-9_-]+)/config$"
)


def check_config(topic: str, config: dict[str, Any]) -> list[str]:
    """Every rule ``config`` (published on ``topic``) breaks; empty when HA accepts it."""
    errors: list[str] = []
    m = _TOPIC.match(topic)
    if m is None:
        return [f"{topic}: not <prefix>/<component>/[<node_id>/]<object_id>/config"]
    component = m.group("component")
    if component not in REQUIRED:
        return [f"{topic}: component {component!r} not checked here"]
    missing = REQUIRED[component] - set(config)
    if missing:
        errors.append(f"{topic}: missing {sorted(missing)}")
    if "device" in config:
        if not config.get("unique_id"):
            errors.append(f"{topic}: a device block needs a unique_id")
        dev = config["device"]
        if not (dev.get("identifiers") or dev.get("connections")):
            errors.append(f"{topic}: the device needs identifiers or connections")
    if ("availability_topic" in config) == ("availability" in config):
        errors.append(f"{topic}: exactly one of availability_topic and availability")
    category = config.get("entity_category")
    if category is not None and category not in ENTITY_CATEGORIES:
        errors.append(f"{topic}: entity_category {category!r}")
    for key, value in config.items():
        if value is None:
            errors.append(f"{topic}: {key} is null (HA's schema rejects it: leave the key out)")
    if component == "sensor":
        errors += _check_sensor(topic, config)
    elif component == "binary_sensor":
        dc = config.get("device_class")
        if dc is not None and dc not in BINARY_SENSOR_CLASSES:
            errors.append(f"{topic}: binary sensor device_class {dc!r}")
    elif component == "select":
        options = config.get("options")
        if not isinstance(options, list) or not options or len(set(options)) != len(options):
            errors.append(f"{topic}: options must be a non-empty list of distinct strings")
    elif component == "text" and config.get("mode", "text") not in {"text", "password"}:
        errors.append(f"{topic}: text mode {config.get('mode')!r}")
    return errors


def _check_sensor(topic: str, config: dict[str, Any]) -> list[str]:
    errors = []
    dc = config.get("device_class")
    unit = config.get("unit_of_measurement")
    sc = config.get("state_class")
    if sc is not None and sc not in STATE_CLASSES:
        errors.append(f"{topic}: state_class {sc!r}")
    if dc is not None:
        if dc not in DEVICE_CLASS_UNITS:
            errors.append(f"{topic}: sensor device_class {dc!r} not expected")
            return errors
        if unit not in DEVICE_CLASS_UNITS[dc]:
            errors.append(f"{topic}: unit {unit!r} is not valid for device_class {dc!r}")
        if sc is not None and sc not in DEVICE_CLASS_STATE_CLASSES[dc]:
            errors.append(f"{topic}: state_class {sc!r} is not valid for device_class {dc!r}")
        if dc == "enum" and not config.get("options"):
            errors.append(f"{topic}: an enum sensor needs options")
    return errors
