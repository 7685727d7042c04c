"""The twin's cell parameters load through the project's one tree validator (domain/tree.py)."""

from __future__ import annotations

from importlib import resources

import pytest

from ml314.errors import ConfigError
from ml314.twin.params import load_cell_parameters, parse_cell_parameters

NAME = "lfp_314ah.toml"
TEXT = resources.files("ml314.twin").joinpath("data").joinpath(NAME).read_text(encoding="utf-8")


def test_the_shipped_set_loads() -> None:
    a, b = load_cell_parameters(), parse_cell_parameters(TEXT, NAME)
    assert (a.r0_ohm, a.r_soc_points, a.nominal_capacity_ah) == (b.r0_ohm, b.r_soc_points, b.nominal_capacity_ah)
    assert a.r_soc_points[0] == 0.0 and a.nominal_capacity_ah == 314.0


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("r0_ohm = ", "r0_ohmm = ", "resistance.r0_ohmm: unknown key (did you mean 'r0_ohm'?)"),
        ("mass_kg = 5.6", 'mass_kg = "heavy"', "cell.mass_kg: 'heavy' is not a number"),
        ("nominal_voltage_v = 3.2", "nominal_voltage_v = 3.7", "is not the product's 3.2 V"),
        ("[spread]", "[spreads]", "unknown key (did you mean 'spread'?)"),
    ],
)
def test_a_bad_key_or_value_is_named(old: str, new: str, message: str) -> None:
    assert old in TEXT
    with pytest.raises(ConfigError) as err:
        parse_cell_parameters(TEXT.replace(old, new, 1), NAME)
    assert message in str(err.value) and str(err.value).startswith(NAME)
