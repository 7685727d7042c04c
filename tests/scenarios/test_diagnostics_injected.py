"""Chapter 12's diagnostics on injected faults: each fault is put into the twin (a cell, a sensor, the breaker, the
temperature), the inverter side (a current it forces, a charge voltage set too low) or the bank link (duplicate
IDs), the compiled engine of ``ml314 run`` runs, and the rules must name the fault, the module and the manual's
advice. The links' own faults (no keep-alive, another protocol) run on real buses in
``tests/runtime/test_diagnosis.py``."""

from __future__ import annotations

import numpy as np
import pytest

from ml314.bms.parameters import load_default_parameters
from ml314.bms.soc.common import S_CAPACITY_AH
from ml314.diagnostics import Finding, Observer, diagnose, trace_point
from ml314.runtime.diagnosis import bank_modules
from ml314.runtime.live_bank import LiveBank
from ml314.runtime.simulation import SimulationRequest
from ml314.twin import kernel as k
from ml314.twin.home import InverterSpec
from ml314.twin.sensors import SensorFault
from tests.diagnostics.harness import NO_LIMITS, Harness, codes


def _only(findings: tuple[Finding, ...], code: str, module: int | None) -> None:
    """Exactly the expected finding among the ones of its table row."""
    assert (code, module) in codes(findings), [f.text() for f in findings]


def test_an_open_breaker_is_no_dc_output_on_that_module() -> None:
    h = Harness(modules=2, soc=0.6)
    h.bank.set_breaker(1, closed=False)
    h.run(60, -40.0)
    found = h.findings()
    _only(found, "breaker_open", 2)
    f = next(f for f in found if f.code == "breaker_open")
    assert f.manual.solution == "Close breaker or charge the battery"
    assert ("breaker_open", 1) not in codes(found)


def test_a_shorted_power_line_is_alm_always_on() -> None:
    h = Harness(soc=0.6)
    h.run(3, -1200.0, limits=NO_LIMITS, chunk_s=1)  # a short: the line draws far beyond any limit
    found = h.findings()
    _only(found, "short_circuit", 1)
    f = next(f for f in found if f.code == "short_circuit")
    assert f.manual.ref == "Table 12-2 #5" and "check all cables" in f.manual.solution


@pytest.mark.parametrize(
    ("current_a", "code", "disposal"),
    [
        (185.0, "charge_overcurrent", "Stop charge, check the settings and limitation"),
        (-185.0, "discharge_overcurrent", "Stop discharge, check if there is an overload"),
    ],
)
def test_an_inverter_forcing_too_much_current_is_a_table_12_1_alarm(current_a: float, code: str, disposal: str) -> None:
    h = Harness(soc=0.5)
    h.run(15, current_a, limits=NO_LIMITS, chunk_s=1)
    found = h.findings()
    _only(found, code, 1)
    assert next(f for f in found if f.code == code).manual.solution == disposal


@pytest.mark.parametrize(
    ("temperature_c", "current_a", "code"),
    [(57.0, 20.0, "charge_temperature"), (62.0, -20.0, "discharge_temperature"), (-3.0, 20.0, "charge_temperature")],
)
def test_a_battery_out_of_its_temperature_range_is_a_table_12_1_alarm(
    temperature_c: float, current_a: float, code: str
) -> None:
    h = Harness(soc=0.5)
    h.bank.cell_state[k.CS_TEMP_C] = temperature_c
    h.bank.mod_state[[k.MS_ENCLOSURE_C, k.MS_BOARD_C, k.MS_MOSFET_C]] = temperature_c
    h.run(300, current_a, limits=NO_LIMITS, ambient_c=temperature_c, chunk_s=5)  # ignoring the derating; NTCs lag
    found = h.findings()
    _only(found, code, 1)
    assert "wait for the temp recovery" in next(f for f in found if f.code == code).manual.solution


def test_a_weak_cell_is_cell_voltage_unbalance_naming_the_cell() -> None:
    h = Harness(modules=2, soc=0.5)
    soc = np.array(h.bank.cell_state[k.CS_SOC])
    soc[1, 6] = 0.012  # module 2, cell 7: far below its neighbours
    h.bank.set_cell_soc(soc)
    h.run(40, 0.0, chunk_s=1)
    found = h.findings()
    _only(found, "cell_unbalance", 2)
    f = next(f for f in found if f.code == "cell_unbalance")
    assert any("cell 7" in e.what for e in f.evidence), f.report()
    assert f.manual.solution == "Examine/balance the cell"


def test_an_open_temperature_sensor_is_temperature_unbalance() -> None:
    h = Harness(modules=2, soc=0.5)
    h.system.inject(SensorFault(module_index=0, channel="temperature", index=2, kind="open_wire"))
    h.run(40, 0.0, chunk_s=1)
    found = h.findings()
    _only(found, "temperature_unbalance", 1)
    assert ("temperature_unbalance", 2) not in codes(found)


def test_an_implausible_pack_voltage_sensor_is_bms_damaged() -> None:
    h = Harness(soc=0.5)
    h.system.inject(SensorFault(module_index=0, channel="pack_voltage", index=0, kind="open_wire"))
    h.run(30, 0.0, chunk_s=1)
    found = h.findings()
    _only(found, "bms_damaged", 1)
    assert next(f for f in found if f.code == "bms_damaged").manual.solution == "Replace BMS"


def test_an_empty_module_loses_its_output_then_sleeps_then_is_too_deep_to_start() -> None:
    h = Harness(soc=0.03)
    # a DC load that ignores the battery's derating: discharged until the under-voltage protection opens the path
    h.run(1800, -60.0, limits=NO_LIMITS, chunk_s=10)
    # within the 300 s before it sleeps: no DC output, low voltage (12.2 #2)
    found = h.findings()
    assert ("low_voltage", 1) in codes(found) or ("sleep", 1) in codes(found), [f.text() for f in found]
    h.run(600, 0.0)
    found = h.findings()
    _only(found, "sleep", 1)
    f = next(f for f in found if f.code == "sleep")
    assert f.manual.ref == "Table 12-2 #9" and len(f.manual.steps) == 4
    assert "Charge the battery immediately" in f.manual.steps[0]
    # left asleep until the voltage is too low to keep the BMS powered (12.2 #10)
    soc = np.array(h.bank.cell_state[k.CS_SOC])
    h.bank.set_cell_soc(np.minimum(soc, 0.0005))
    h.run(120, 0.0)
    h.system.press([0], power=True)  # the installer tries to start it
    h.run(5, 0.0, chunk_s=1)
    found = h.findings()
    _only(found, "deep_discharge", 1)
    f = next(f for f in found if f.code == "deep_discharge")
    assert "charge it up to 40V" in f.manual.solution
    assert ("sleep", 1) not in codes(found)


def test_a_charger_set_below_the_cvl_is_battery_cant_be_charged_fully() -> None:
    request = SimulationRequest(
        modules=1, initial_soc=0.55, link=False, inverter=InverterSpec(mode="backup", charge_voltage_v=53.2)
    )
    live = LiveBank(request, load_default_parameters())
    observer = Observer()
    found: tuple[Finding, ...] = ()
    try:
        for _ in range(6 * 60):  # up to 6 h, judged every minute
            live.tick(60)
            observer.add_trace(trace_point(live.status))
            found = diagnose(observer.observe(live.t_s, bank_modules(live.system, live.snapshot)))
            if found:
                break
    finally:
        live.close()
    assert [f.code for f in found] == ["charge_voltage_low"], [f.text() for f in found]
    f = found[0]
    held = next(e for e in f.evidence if e.what == "charger voltage held")
    assert abs(float(held.value) - 53.2) < 0.05
    assert f.manual.ref == "Table 12-2 #4"


def test_a_worn_module_is_supply_time_too_short() -> None:
    # module 2 has 70 % of its capacity left; its BMS learns that over many cycles (bms/soc, filtered), so here its
    # memory is set to what it has learned by then, and the bank runs on
    h = Harness(modules=2, soc=0.6, capacity_scale=(1.0, 0.7))
    h.system.bms.estimator.state[1, S_CAPACITY_AH] = 0.7 * 314.0  # type: ignore[attr-defined]
    h.run(120, -30.0)
    found = h.findings()
    assert codes(found) == {("capacity_low", 2)}, [f.text() for f in found]
    f = found[0]
    assert float(f.evidence[0].value) < 80.0
    assert (f.manual.analysis, f.manual.solution) == (
        "Battery capacity lack or not full power",
        "Maintenance or replacement",
    )


def test_duplicate_ids_on_the_bank_link_are_an_id_setting_error() -> None:
    live = LiveBank(SimulationRequest(modules=2, module_ids=(3, 3)), load_default_parameters())
    try:
        assert live.linked is not None
        faults = tuple(live.linked.report.records())
    finally:
        live.close()
    h = Harness(modules=2)
    found = h.findings(faults)
    assert "id_error" in {f.code for f in found}, [f.text() for f in found]
    f = next(f for f in found if f.code == "id_error")
    assert f.manual.analysis == "Communication port connect error or battery ID setting error"
