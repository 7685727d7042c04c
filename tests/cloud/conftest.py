"""The MQTT tests' private broker (``tests/mosquitto.py``)."""

from tests.mosquitto import mosquitto

__all__ = ["mosquitto"]
