"""The parameter set: validation names the keys involved; no PIN in it; nothing outside the safety envelope."""

from __future__ import annotations

import pytest

from ml314.bms.envelope import ENVELOPE, Rule, check_envelope
from ml314.bms.parameters import default_parameters_text, load_default_parameters, parse_parameters
from ml314.errors import ConfigError

TEXT = default_parameters_text()


def test_default_set_loads() -> None:
    p = load_default_parameters()
    assert p.row("cell_overvoltage.protection").trip == 3.65
    assert p.limits.cell_voltage_target_v * 16 == pytest.approx(55.2)


def test_release_on_the_wrong_side_names_both_levels() -> None:
    bad = TEXT.replace(
        "levels.protection = { trip = 3.65, release = 3.40,", "levels.protection = { trip = 3.65, release = 3.70,"
    )
    with pytest.raises(ConfigError) as err:
        parse_parameters(bad, source="x.toml")
    msg = str(err.value)
    assert "release 3.7" in msg and "trip 3.65" in msg and "protection[0].levels.protection" in msg
    assert "\n" not in msg


def test_levels_out_of_order_are_refused() -> None:
    bad = TEXT.replace("levels.alarm = { trip = 3.60, release = 3.45,", "levels.alarm = { trip = 3.70, release = 3.45,")
    with pytest.raises(ConfigError, match=r"alarm trip 3\.7 must come before protection trip 3\.65"):
        parse_parameters(bad)


def test_unknown_key_suggests_the_nearest() -> None:
    bad = TEXT.replace("float_after_s = 900.0", "float_afterr_s = 900.0")
    with pytest.raises(ConfigError, match=r"limits.float_afterr_s: unknown key \(did you mean 'float_after_s'\?\)"):
        parse_parameters(bad)


def test_unknown_quantity_and_action_are_refused() -> None:
    with pytest.raises(ConfigError, match="did you mean 'cell_voltage_max_v'"):
        parse_parameters(TEXT.replace('quantity = "cell_voltage_max_v"', 'quantity = "cell_voltage_maxx_v"', 1))
    with pytest.raises(ConfigError, match="'open_charging' is not one of"):
        parse_parameters(TEXT.replace('action = ["open_charge"] }  # #7', 'action = ["open_charging"] }', 1))


def test_ccl_table_that_forbids_the_charge_target_is_refused() -> None:
    bad = TEXT.replace(
        "ccl_cell_voltage_fraction = [1.0, 0.25, 0.05, 0.005, 0.0]",
        "ccl_cell_voltage_fraction = [1.0, 0.25, 0.0, 0.0, 0.0]",
    )
    with pytest.raises(ConfigError, match="could never reach float"):
        parse_parameters(bad)


def test_derating_tables_must_be_monotonic_in_x() -> None:
    bad = TEXT.replace("mosfet_temperature_c = [70.0, 80.0, 90.0]", "mosfet_temperature_c = [70.0, 90.0, 80.0]")
    with pytest.raises(ConfigError, match="points must increase"):
        parse_parameters(bad)


def test_bad_toml_is_one_clear_line() -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_parameters("[meta\nname = 1", source="broken.toml")


def test_a_parameter_file_carries_no_pin() -> None:
    assert "technician_pin" not in TEXT and "[security]" not in TEXT
    digest = "8d969eef6ecad3c29a3a629280e686cf0c3f5d5a86aff3ca12020c923adc6c92"  # sha256("123456")
    bad = TEXT + f'\n[security]\ntechnician_pin_sha256 = "{digest}"\n'
    with pytest.raises(ConfigError, match=r"\[security\]: a parameter file carries no PIN"):
        parse_parameters(bad, source="evil.toml")


# One case per envelope rule: (rule, the change to the shipped text, what the one-line refusal names)
ENVELOPE_CASES = [
    ("cell_overvoltage_trips", ("levels.protection = { trip = 3.65,", "levels.protection = { trip = 30,"),
     "protection.cell_overvoltage.protection.trip = 30 is above 3.8"),
    ("cell_overvoltage_trips", ("levels.protection = { trip = 3.65,", "levels.protection = { trip = 3.85,"),
     "protection.cell_overvoltage.protection.trip = 3.85 is above 3.8"),
    ("cell_undervoltage_trips", ("levels.protection = { trip = 2.50,", "levels.protection = { trip = 1.9,"),
     "protection.deep_discharge.protection.trip = 1.9 is below 2"),
    ("pack_overvoltage_trips", ("trip = 57.6, release = 54.0", "trip = 61.0, release = 54.0"),
     "protection.pack_overvoltage.protection.trip = 61 is above 60.8"),
    ("pack_undervoltage_trips", ("trip = 43.2, release = 48.0", "trip = 31.0, release = 48.0"),
     "protection.pack_undervoltage.protection.trip = 31 is below 32"),
    ("cell_voltage_setpoints", ("cell_voltage_discharge_v = 2.90", "cell_voltage_discharge_v = 2.4"),
     "limits.cell_voltage_discharge_v = 2.4 is below 2.5"),
    ("sync_and_balancing_voltages", ("empty_sync_cell_voltage_v = 2.90", "empty_sync_cell_voltage_v = 2.2"),
     "soc.empty_sync_cell_voltage_v = 2.2 is below 2.5"),
    ("charge_current_limit", ("max_charge_current_a = 157.0", "max_charge_current_a = 1e9"),
     "limits.max_charge_current_a = 1e+09 is above 157"),
    ("charge_current_limit", ("max_charge_current_a = 157.0", "max_charge_current_a = -5.0"),
     "limits.max_charge_current_a = -5 is below 0"),
    ("discharge_current_limit", ("max_discharge_current_a = 160.0", "max_discharge_current_a = 161.0"),
     "limits.max_discharge_current_a = 161 is above 160"),
    ("wake_current", ("wake_charge_current_a = 1.0", "wake_charge_current_a = 500.0"),
     "states.wake_charge_current_a = 500 is above 157"),
    ("overcurrent_trips", ("trip = 800.0, release = 1.0", "trip = 5000.0, release = 1.0"),
     "protection.short_circuit.protection.trip = 5000 is above 800"),
    ("charge_temperature_trips", ("trip = 55.0, release = 50.0", "trip = 70.0, release = 50.0"),
     "protection.charge_overtemperature.protection.trip = 70 is above 55"),
    ("charge_temperature_trips", ("trip = 0.0, release = 5.0", "trip = -10.0, release = 5.0"),
     "protection.charge_undertemperature.protection.trip = -10 is below 0"),
    ("discharge_temperature_trips", ("trip = -20.0, release = -10.0", "trip = -30.0, release = -10.0"),
     "protection.discharge_undertemperature.protection.trip = -30 is below -20"),
    ("electronics_temperature_trips", ("trip = 85.0, release = 75.0", "trip = 120.0, release = 75.0"),
     "protection.board_overtemperature.protection.trip = 120 is above 90"),
    ("balancing_temperatures", ("max_board_temperature_c = 70.0", "max_board_temperature_c = 95.0"),
     "balancing.max_board_temperature_c = 95 is above 90"),
    ("no_charge_when_cold", ("ccl_temperature_fraction = [0.0,", "ccl_temperature_fraction = [0.2,"),
     "limits.ccl_temperature_fraction at 0 degC = 0.2 is above 0"),
    ("no_discharge_when_hot", ("dcl_temperature_fraction = [0.0, 0.25, 0.5, 1.0, 1.0, 0.5, 0.25, 0.0]",
                                "dcl_temperature_fraction = [0.0, 0.25, 0.5, 1.0, 1.0, 0.5, 0.25, 0.1]"),
     "limits.dcl_temperature_fraction at 60 degC = 0.1 is above 0"),
    ("finite", ("float_after_s = 900.0", "float_after_s = inf"), "limits.float_after_s = inf: every parameter"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "change", "message"), ENVELOPE_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(ENVELOPE_CASES)]
)
def test_a_set_outside_the_envelope_is_refused_with_one_line(rule: str, change: tuple[str, str], message: str) -> None:
    assert change[0] in TEXT
    with pytest.raises(ConfigError) as err:
        parse_parameters(TEXT.replace(*change, 1), source="tuned.toml")
    text = str(err.value)
    assert text.startswith("tuned.toml: ") and message in text and "\n" not in text
    assert rule == "finite" or f"(envelope rule {rule})" in text


def test_every_envelope_rule_has_a_case_and_the_shipped_set_is_inside() -> None:
    assert {r.name for r in ENVELOPE} <= {c[0] for c in ENVELOPE_CASES} | {
        "no_charge_when_hot", "no_discharge_when_cold", "no_charge_when_full", "no_discharge_when_empty",
    }  # fmt: skip
    check_envelope(load_default_parameters())
    # a rule is only data: a stricter envelope refuses the shipped set
    strict = (Rule("strict", lambda p: iter([("limits.max_charge_current_a", p.limits.max_charge_current_a)]),
                   None, 100.0, "a smaller module"),)  # fmt: skip
    with pytest.raises(ConfigError, match=r"limits\.max_charge_current_a = 157 is above 100, a smaller module"):
        check_envelope(load_default_parameters(), rules=strict)


def test_a_balancer_that_cannot_reach_the_float_spread_is_refused() -> None:
    bad = TEXT.replace("start_delta_v = 0.010", "start_delta_v = 0.015")
    with pytest.raises(ConfigError, match="could never switch to float"):
        parse_parameters(bad)


def test_the_estimators_cell_model_is_data_and_is_checked() -> None:
    cm = load_default_parameters().soc.cell_model
    assert cm.r0_ohm == 0.25e-3 and cm.tau1_s < cm.tau2_s and cm.r_soc[1][0] == 2.0
    with pytest.raises(ConfigError, match=r"soc\.cell_model\.tau1_s"):
        parse_parameters(TEXT.replace("tau1_s = 30.0", "tau1_s = 900.0"))
