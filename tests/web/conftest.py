"""The web tests that run a device against a broker use the private Mosquitto (``tests/mosquitto.py``)."""

from tests.mosquitto import mosquitto

__all__ = ["mosquitto"]
