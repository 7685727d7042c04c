"""Scenario drivers: what drives the bank in ``ml314 simulate``. One driver per file, listed here."""

from ml314.runtime.scenarios.home import run_home
from ml314.runtime.scenarios.lab import run_lab
from ml314.runtime.simulation import ScenarioDriver

SCENARIOS: dict[str, ScenarioDriver] = {
    "home": run_home,
    "lab": run_lab,
}

__all__ = ["SCENARIOS"]
