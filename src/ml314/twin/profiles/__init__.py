"""Input profiles that drive a run (PV, household load, grid availability) and lab experiments written as text.

The drivers that run them are `runtime/scenarios`."""

from ml314.twin.profiles.grid import fixed_outages, grid_availability, outage_intervals
from ml314.twin.profiles.household import household_load
from ml314.twin.profiles.lab import LabStep, format_experiment, parse_experiment
from ml314.twin.profiles.profile import Profile
from ml314.twin.profiles.solar import pv_generation

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
