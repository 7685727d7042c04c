"""Chapter 12 of the manual as software: findings with their evidence and the manual's advice (pure: data in,
records out; the runtime, the web application, MQTT and ``ml314 diagnose`` read them).

* :mod:`~ml314.diagnostics.manual`: Tables 12-1 and 12-2, word for word;
* :mod:`~ml314.diagnostics.observation`: what the rules read (one :class:`Observation`);
* :mod:`~ml314.diagnostics.observer`: the event ledger and the bank's trace kept between diagnoses;
* :mod:`~ml314.diagnostics.rules`: the rules, one row each, and :func:`diagnose`;
* :mod:`~ml314.diagnostics.finding`: the record a rule produces.
"""

from ml314.diagnostics.finding import Evidence, Finding
from ml314.diagnostics.observation import (
    InverterLinkObservation,
    ModuleObservation,
    Observation,
    ProtectionLedger,
    TracePoint,
)
from ml314.diagnostics.observer import Observer, module_observation, trace_point
from ml314.diagnostics.rules import RULES, Rule, Thresholds, diagnose, rule

__all__ = [
    "RULES",
    "Evidence",
    "Finding",
    "InverterLinkObservation",
    "ModuleObservation",
    "Observation",
    "Observer",
    "ProtectionLedger",
    "Rule",
    "Thresholds",
    "TracePoint",
    "diagnose",
    "module_observation",
    "rule",
    "trace_point",
]
