"""The parameter set: validation names the keys involved; changes need the technician PIN."""

from __future__ import annotations

import pytest

from ml314.bms.parameters import default_parameters_text, load_default_parameters, parse_parameters
from ml314.errors import AccessDeniedError, ConfigError

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


def test_technician_pin() -> None:
    p = load_default_parameters()
    p.check_pin("123456")
    with pytest.raises(AccessDeniedError):
        p.check_pin("000000")


def test_a_balancer_that_cannot_reach_the_float_spread_is_refused() -> None:
    bad = TEXT.replace("start_delta_v = 0.010", "start_delta_v = 0.015")
    with pytest.raises(ConfigError, match="could never switch to float"):
        parse_parameters(bad)


def test_the_estimators_cell_model_is_data_and_is_checked() -> None:
    cm = load_default_parameters().soc.cell_model
    assert cm.r0_ohm == 0.25e-3 and cm.tau1_s < cm.tau2_s and cm.r_soc[1][0] == 2.0
    with pytest.raises(ConfigError, match=r"soc\.cell_model\.tau1_s"):
        parse_parameters(TEXT.replace("tau1_s = 30.0", "tau1_s = 900.0"))
