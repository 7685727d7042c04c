"""Scenario drivers: what drives the bank in ``ml314 simulate``. One driver per file, listed here."""

from ml314.runtime.scenarios.home import HomeScenario
from ml314.runtime.scenarios.lab import LabScenario
from ml314.runtime.scenarios.storage import StorageScenario
from ml314.runtime.simulation import ScenarioDriver

SCENARIOS: dict[str, ScenarioDriver] = {
    "home": HomeScenario(),
    "lab": LabScenario(),
    "storage": StorageScenario(),
}

__all__ = ["SCENARIOS"]
