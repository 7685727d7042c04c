"""Scenario inputs: PV, household load and grid profiles, and lab experiments written as text."""

from ml314.twin.scenarios.grid import fixed_outages, grid_availability, outage_intervals
from ml314.twin.scenarios.household import household_load
from ml314.twin.scenarios.lab import LabStep, format_experiment, parse_experiment
from ml314.twin.scenarios.profile import Profile
from ml314.twin.scenarios.solar import pv_generation

__all__ = [
    "LabStep",
    "Profile",
    "fixed_outages",
    "format_experiment",
    "grid_availability",
    "household_load",
    "outage_intervals",
    "parse_experiment",
    "pv_generation",
]
