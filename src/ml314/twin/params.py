"""Cell and module parameters of the twin, loaded from a data file that names its sources."""

from __future__ import annotations

import csv
import tomllib
from dataclasses import dataclass
from importlib import resources

import numpy as np
import numpy.typing as npt

from ml314.domain.spec import ML314
from ml314.domain.tree import Section
from ml314.errors import ConfigError

FloatArray = npt.NDArray[np.float64]

#: Number of points of the uniform SOC grid the kernel looks tables up on (0, 0.01, ..., 1).
SOC_GRID_POINTS = 101


@dataclass(frozen=True)
class OcvTables:
    """OCV tables on a uniform SOC grid of ``SOC_GRID_POINTS`` points.

    ``ocv_v`` is the mean of the charge and discharge pseudo-OCV at 25 degC; the charge branch is
    ``ocv_v + hysteresis_v`` and the discharge branch ``ocv_v - hysteresis_v``. ``dudt_v_per_k`` is the entropic
    coefficient, so OCV(SOC, T) = ocv_v + dudt_v_per_k * (T - 25 degC).
    """

    ocv_v: FloatArray
    hysteresis_v: FloatArray
    dudt_v_per_k: FloatArray

    def ocv_at(self, soc: float | FloatArray) -> FloatArray:
        """Mean OCV at 25 degC by linear interpolation (no hysteresis)."""
        grid = np.linspace(0.0, 1.0, SOC_GRID_POINTS)
        return np.asarray(np.interp(soc, grid, self.ocv_v), dtype=np.float64)


@dataclass(frozen=True)
class CellParameters:
    """Parameters of the LFP cell model and the module around it (see ``data/lfp_314ah.toml``)."""

    nominal_capacity_ah: float
    mean_capacity_ah: float
    coulombic_efficiency: float
    heat_capacity_j_per_k: float
    hysteresis_scale: float
    hysteresis_gamma: float
    ocv_cell_offset_sigma_v: float
    ocv_cell_slope_sigma_v: float
    r0_ohm: float
    r1_ohm: float
    tau1_s: float
    r2_ohm: float
    tau2_s: float
    activation_energy_j_per_mol: float
    reference_temperature_c: float
    r_soc_points: tuple[float, ...]
    r_soc_factor: tuple[float, ...]
    self_discharge_per_month: float
    self_discharge_sigma: float
    self_discharge_doubling_k: float
    capacity_sigma: float
    resistance_sigma: float
    cell_to_enclosure_w_per_k: float
    enclosure_heat_capacity_j_per_k: float
    enclosure_to_ambient_w_per_k: float
    mosfet_heat_capacity_j_per_k: float
    mosfet_to_board_w_per_k: float
    board_heat_capacity_j_per_k: float
    board_to_enclosure_w_per_k: float
    mosfet_resistance_ohm: float
    cable_resistance_ohm: float
    cable_resistance_sigma: float
    balancing_resistance_ohm: float
    calendar_fade_per_sqrt_day: float
    cycle_fade_per_efc: float
    ageing_activation_energy_j_per_mol: float
    soc_stress_at_full: float
    resistance_growth_per_fade: float
    tables: OcvTables

    def r_soc_factor_grid(self) -> FloatArray:
        """The R(SOC) multiplier on the uniform SOC grid."""
        grid = np.linspace(0.0, 1.0, SOC_GRID_POINTS)
        return np.asarray(np.interp(grid, self.r_soc_points, self.r_soc_factor), dtype=np.float64)


def _read_csv_columns(name: str) -> dict[str, FloatArray]:
    text = resources.files("ml314.twin").joinpath("data").joinpath(name).read_text(encoding="utf-8")
    rows = list(csv.reader(text.splitlines()))
    header, body = rows[0], [r for r in rows[1:] if r]
    return {h: np.array([float(r[i]) for r in body]) for i, h in enumerate(header)}


def _on_grid(soc: FloatArray, values: FloatArray) -> FloatArray:
    grid = np.linspace(0.0, 1.0, SOC_GRID_POINTS)
    return np.asarray(np.interp(grid, soc, values), dtype=np.float64)


def load_cell_parameters(name: str = "lfp_314ah.toml") -> CellParameters:
    """Load a parameter set shipped in ``ml314/twin/data``."""
    text = resources.files("ml314.twin").joinpath("data").joinpath(name).read_text(encoding="utf-8")
    return parse_cell_parameters(text, name)


def parse_cell_parameters(text: str, name: str) -> CellParameters:
    """A cell parameter set from TOML ``text`` (named ``name`` in messages), through the project's tree validator:
    a missing or mistyped key, or one nobody reads, is refused naming it and the nearest valid one. Its OCV and
    entropy tables are files shipped in ``ml314/twin/data``."""
    try:
        tree = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{name}: not valid TOML ({exc})") from None
    root = Section(tree, "", f"{name}: ")
    sections = {key: root.section(key) for key in _SECTIONS}
    ocv_section = sections["ocv"]
    ocv = _read_csv_columns(ocv_section.text("table"))
    entropy = _read_csv_columns(ocv_section.text("entropy_table"))
    tables = OcvTables(
        ocv_v=_on_grid(ocv["SOC"], ocv["OCV"]),
        hysteresis_v=_on_grid(ocv["SOC"], ocv["HystV"]) * ocv_section.number("hysteresis_scale"),
        dudt_v_per_k=_on_grid(entropy["SOC"], entropy["S"]),
    )

    def g(section: str, key: str) -> float:
        return sections[section].number(key)

    params = CellParameters(
        nominal_capacity_ah=g("cell", "nominal_capacity_ah"),
        mean_capacity_ah=g("cell", "mean_capacity_ah"),
        coulombic_efficiency=g("cell", "coulombic_efficiency"),
        heat_capacity_j_per_k=g("cell", "mass_kg") * g("cell", "specific_heat_j_per_kg_k"),
        hysteresis_scale=g("ocv", "hysteresis_scale"),
        hysteresis_gamma=g("ocv", "hysteresis_gamma"),
        ocv_cell_offset_sigma_v=g("ocv", "cell_offset_sigma_v"),
        ocv_cell_slope_sigma_v=g("ocv", "cell_slope_sigma_v"),
        r0_ohm=g("resistance", "r0_ohm"),
        r1_ohm=g("resistance", "r1_ohm"),
        tau1_s=g("resistance", "tau1_s"),
        r2_ohm=g("resistance", "r2_ohm"),
        tau2_s=g("resistance", "tau2_s"),
        activation_energy_j_per_mol=g("resistance", "activation_energy_j_per_mol"),
        reference_temperature_c=g("resistance", "reference_temperature_c"),
        r_soc_points=sections["resistance"].numbers("soc_points"),
        r_soc_factor=sections["resistance"].numbers("soc_factor"),
        self_discharge_per_month=g("self_discharge", "rate_per_month"),
        self_discharge_sigma=g("self_discharge", "lognormal_sigma"),
        self_discharge_doubling_k=g("self_discharge", "doubling_per_k"),
        capacity_sigma=g("spread", "capacity_sigma"),
        resistance_sigma=g("spread", "resistance_sigma"),
        cell_to_enclosure_w_per_k=g("thermal", "cell_to_enclosure_w_per_k"),
        enclosure_heat_capacity_j_per_k=g("thermal", "enclosure_heat_capacity_j_per_k"),
        enclosure_to_ambient_w_per_k=g("thermal", "enclosure_to_ambient_w_per_k"),
        mosfet_heat_capacity_j_per_k=g("thermal", "mosfet_heat_capacity_j_per_k"),
        mosfet_to_board_w_per_k=g("thermal", "mosfet_to_board_w_per_k"),
        board_heat_capacity_j_per_k=g("thermal", "board_heat_capacity_j_per_k"),
        board_to_enclosure_w_per_k=g("thermal", "board_to_enclosure_w_per_k"),
        mosfet_resistance_ohm=g("module", "mosfet_resistance_ohm"),
        cable_resistance_ohm=g("module", "cable_resistance_ohm"),
        cable_resistance_sigma=g("module", "cable_resistance_sigma"),
        balancing_resistance_ohm=g("module", "balancing_resistance_ohm"),
        calendar_fade_per_sqrt_day=g("ageing", "calendar_fade_per_sqrt_day"),
        cycle_fade_per_efc=g("ageing", "cycle_fade_per_efc"),
        ageing_activation_energy_j_per_mol=g("ageing", "activation_energy_j_per_mol"),
        soc_stress_at_full=g("ageing", "soc_stress_at_full"),
        resistance_growth_per_fade=g("ageing", "resistance_growth_per_fade"),
        tables=tables,
    )
    nominal = g("cell", "nominal_voltage_v")  # documents the cell; it must agree with the product's specification
    if abs(nominal - ML314.nominal_cell_voltage_v) > 1e-9:
        raise ConfigError(
            f"{name}: cell.nominal_voltage_v {nominal:g} is not the product's {ML314.nominal_cell_voltage_v:g} V"
        )
    for section in sections.values():
        section.done()
    root.done()
    return params


#: the tables of a cell parameter file
_SECTIONS = ("cell", "ocv", "resistance", "self_discharge", "spread", "thermal", "module", "ageing")
