"""Chapter 12's diagnostics on injected faults (``runtime/fault_scenarios.py``, one row per fault): each fault goes
into the twin, the inverter side, the BMS's memory or the bank link, the compiled engine of ``ml314 run`` runs, and
the rules must name the fault, the module and the manual's advice. The links' own faults (no keep-alive, another
protocol) run on real buses in ``tests/runtime/test_diagnosis.py``."""

from __future__ import annotations

import pytest

from ml314.diagnostics import RULES
from ml314.runtime.fault_scenarios import FAULTS, FaultScenario, Outcome, fault, run_scenario

_LINK_RULES = {"no_keepalive", "wrong_protocol", "inverter_address", "port_lost"}  # tests/runtime/test_diagnosis.py
_RUN: dict[str, Outcome] = {}


def _outcome(s: FaultScenario) -> Outcome:
    """Each scenario runs once per session (the evidence tests below read the same run)."""
    if s.name not in _RUN:
        _RUN[s.name] = run_scenario(s)
    return _RUN[s.name]


def test_every_rule_has_an_injected_fault() -> None:
    assert {r.code for r in RULES} - _LINK_RULES == {s.code for s in FAULTS}


@pytest.mark.parametrize("scenario", FAULTS, ids=[s.name for s in FAULTS])
def test_an_injected_fault_is_found_on_its_module_with_the_manuals_advice(scenario: FaultScenario) -> None:
    outcome = _outcome(scenario)
    f = outcome.finding
    assert f is not None, [x.text() for x in outcome.others]
    assert scenario.module is None or f.module_id == scenario.module
    assert scenario.advice in f.manual.solution + " ".join(f.manual.steps), f.report()
    assert f.evidence, f.report()


def test_the_weak_cell_is_named_in_the_evidence() -> None:
    f = _outcome(fault("weak cell")).finding
    assert f is not None and any("cell 7" in e.what for e in f.evidence), f and f.report()


def test_the_sleeping_module_gets_the_reboot_procedure_of_12_2_9() -> None:
    f = _outcome(fault("low-voltage sleep")).finding
    assert f is not None and f.manual.ref == "Table 12-2 #9"
    assert len(f.manual.steps) == 4 and f.manual.steps[0] == "Charge the battery immediately and it will reboot itself."


def test_the_low_charger_is_caught_at_its_own_voltage() -> None:
    f = _outcome(fault("charger voltage below CVL")).finding
    assert f is not None
    held = next(e for e in f.evidence if e.what == "charger voltage held")
    assert abs(float(held.value) - 53.2) < 0.05
    cvl = next(e for e in f.evidence if e.what.startswith("charge voltage the battery asks"))
    assert float(cvl.value) > 55.0


def test_a_misspelt_scenario_names_the_nearest() -> None:
    with pytest.raises(KeyError, match="did you mean 'weak cell'"):
        fault("weak cel")


def test_the_open_ntc_is_named_for_its_cable() -> None:
    f = _outcome(fault("open NTC")).finding
    assert f is not None
    sensor = next(e for e in f.evidence if e.what == "sensor")
    assert str(sensor.value).startswith("NTC 3 (cells 9-12)"), f.report()
