"""The BMS parameter set: one TOML file, validated on load, installed only with the device's technician PIN.

Validation refuses what a BMS must never run with and names the keys involved: a release level on the wrong side
of its trip level, levels of one quantity out of order, derating tables that are not monotonic in x or leave the
0..1 range, a charge target the CCL table forbids (the pack could never reach float), and any value outside the
product's safety envelope (``envelope.py``). The PIN is not a parameter: it is the device's own, kept hashed in
its data dir (``storage/identity.py``), so no parameter file can carry or replace it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from enum import IntEnum
from importlib import resources
from itertools import pairwise
from typing import Literal

from ml314.bms.envelope import check_envelope
from ml314.domain.tree import Section
from ml314.errors import ConfigError


class Level(IntEnum):
    """Severity of a protection row (foxBMS: MOL, RSL, MSL)."""

    WARNING = 1
    ALARM = 2
    PROTECTION = 3


QUANTITIES: tuple[str, ...] = (
    "cell_voltage_max_v",
    "cell_voltage_min_v",
    "pack_voltage_v",
    "charge_current_a",
    "discharge_current_a",
    "cell_temperature_max_c",
    "cell_temperature_min_c",
    "mosfet_temperature_c",
    "board_temperature_c",
    "cell_spread_v",
    "temperature_spread_c",
    "pack_vs_cells_v",
    "current_with_path_open_a",
)
ACTIONS: tuple[str, ...] = ("warn", "derate", "open_charge", "open_discharge", "sleep")
CONDITIONS: tuple[str, ...] = ("always", "charging", "discharging")
Direction = Literal["above", "below"]


@dataclass(frozen=True, slots=True)
class ProtectionRow:
    """One level of one monitored quantity."""

    name: str
    level: Level
    quantity: str
    direction: Direction
    condition: str
    trip: float
    release: float
    debounce: int
    delay_s: float
    retry_s: float
    lockout_after: int
    lockout_window_s: float
    latch: bool
    actions: tuple[str, ...]

    @property
    def key(self) -> str:
        """``name.level``, e.g. ``cell_overvoltage.protection``."""
        return f"{self.name}.{self.level.name.lower()}"


@dataclass(frozen=True, slots=True)
class LimitParams:
    """CVL/CCL/DCL computation."""

    cell_voltage_target_v: float
    cell_voltage_float_v: float
    cell_voltage_discharge_v: float
    max_charge_current_a: float
    max_discharge_current_a: float
    ccl_cell_voltage: tuple[tuple[float, ...], tuple[float, ...]]
    dcl_cell_voltage: tuple[tuple[float, ...], tuple[float, ...]]
    ccl_temperature: tuple[tuple[float, ...], tuple[float, ...]]
    dcl_temperature: tuple[tuple[float, ...], tuple[float, ...]]
    mosfet_temperature: tuple[tuple[float, ...], tuple[float, ...]]
    float_after_s: float
    float_spread_v: float
    float_restart_spread_v: float
    bulk_spread_v: float
    bulk_soc: float
    cvl_ramp_v_per_s: float
    cvl_controller_gain: float
    cvl_controller_margin_v: float
    limit_hold_s: float
    limit_ramp_a_per_s: float
    limit_recovery_fraction: float
    full_charge_interval_days: float
    full_charge_soc: float
    force_charge_soc: float


@dataclass(frozen=True, slots=True)
class BalancingParams:
    """Passive balancing."""

    current_a: float
    start_cell_voltage_v: float
    start_delta_v: float
    stop_delta_v: float
    rest_s: float
    min_cell_voltage_v: float
    max_cell_temperature_c: float
    max_board_temperature_c: float


@dataclass(frozen=True, slots=True)
class CellModelParams:
    """The cell model the BMS's estimators use (the cell maker's data, not the twin's)."""

    hysteresis_scale: float
    hysteresis_gamma: float
    r0_ohm: float
    r1_ohm: float
    tau1_s: float
    r2_ohm: float
    tau2_s: float
    activation_energy_j_per_mol: float
    reference_temperature_c: float
    r_soc: tuple[tuple[float, ...], tuple[float, ...]]


@dataclass(frozen=True, slots=True)
class SocParams:
    """SOC estimation."""

    estimator: str
    capacity_ah: float
    coulombic_efficiency: float
    full_sync_cell_voltage_v: float
    full_sync_current_a: float
    full_sync_hold_s: float
    empty_sync_cell_voltage_v: float
    empty_sync_hold_s: float
    ocv_rest_current_a: float
    ocv_dvdt_v_per_s: float
    ocv_rest_after_charge_s: float
    ocv_rest_after_discharge_s: float
    ocv_plateau_low_v: float
    ocv_plateau_high_v: float
    low_warning: float
    low_alarm: float
    ocv_table_error_v: float
    ocv_anchor_max_error: float
    full_charge_request_bound: float
    cell_model: CellModelParams


@dataclass(frozen=True, slots=True)
class SohParams:
    """State of health."""

    end_of_life: float
    warning: float
    capacity_learn_min_delta_soc: float
    capacity_learn_temperature_c: tuple[float, float]


@dataclass(frozen=True, slots=True)
class StateParams:
    """State machine timing."""

    sleep_after_low_voltage_s: float
    idle_sleep_s: float
    wake_charge_current_a: float
    deep_discharge_restart_v: float
    long_press_s: float
    oscillation_guard_s: float


@dataclass(frozen=True, slots=True)
class BmsParameters:
    """The whole parameter set."""

    name: str
    version: int
    rest_current_a: float
    relax_s: float
    protection: tuple[ProtectionRow, ...]
    limits: LimitParams
    balancing: BalancingParams
    soc: SocParams
    soh: SohParams
    states: StateParams

    def row(self, key: str) -> ProtectionRow:
        """The protection row ``name.level``."""
        for r in self.protection:
            if r.key == key:
                return r
        raise KeyError(key)


_LEVEL_KEYS = {"warning": Level.WARNING, "alarm": Level.ALARM, "protection": Level.PROTECTION}


def _protection_rows(entry: Section) -> list[ProtectionRow]:
    name = entry.text("name")
    quantity = entry.text("quantity", choices=QUANTITIES)
    direction: Direction = "above" if entry.text("direction", choices=("above", "below")) == "above" else "below"
    condition = entry.text("condition", default="always", choices=CONDITIONS)
    levels = entry.section("levels")
    rows = []
    for key in levels.names():
        if key not in _LEVEL_KEYS:
            levels.section(key)  # mark taken, then report
            raise ConfigError(f"{levels.where(key)}: unknown level (warning, alarm or protection)")
        lv = levels.section(key)
        row = ProtectionRow(
            name=name,
            level=_LEVEL_KEYS[key],
            quantity=quantity,
            direction=direction,
            condition=condition,
            trip=lv.number("trip"),
            release=lv.number("release"),
            debounce=lv.integer("debounce", default=1),
            delay_s=lv.number("delay_s", default=0.0),
            retry_s=lv.number("retry_s", default=0.0),
            lockout_after=lv.integer("lockout_after", default=0),
            lockout_window_s=lv.number("lockout_window_s", default=3600.0),
            latch=lv.boolean("latch", default=False),
            actions=lv.texts("action", ACTIONS),
        )
        lv.done()
        _check_row(row, lv)
        rows.append(row)
    levels.done()
    entry.done()
    _check_level_order(rows, levels)
    return rows


def _check_row(row: ProtectionRow, where: Section) -> None:
    if row.direction == "above" and not row.release < row.trip:
        raise ConfigError(
            f"{where.where('release')}: release {row.release:g} must be below trip {row.trip:g} "
            f"({where.where('trip')}) for a high limit"
        )
    if row.direction == "below" and not row.release > row.trip:
        raise ConfigError(
            f"{where.where('release')}: release {row.release:g} must be above trip {row.trip:g} "
            f"({where.where('trip')}) for a low limit"
        )
    if row.debounce < 1:
        raise ConfigError(f"{where.where('debounce')}: must be at least 1 sample")
    for key, value in (("delay_s", row.delay_s), ("retry_s", row.retry_s), ("lockout_window_s", row.lockout_window_s)):
        if value < 0.0:
            raise ConfigError(f"{where.where(key)}: cannot be negative")
    if row.lockout_after < 0:
        raise ConfigError(f"{where.where('lockout_after')}: cannot be negative")


def _check_level_order(rows: list[ProtectionRow], where: Section) -> None:
    ordered = sorted(rows, key=lambda r: r.level)
    for lower, higher in pairwise(ordered):
        wrong = lower.trip >= higher.trip if lower.direction == "above" else lower.trip <= higher.trip
        if wrong:
            raise ConfigError(
                f"{where.path}: {lower.level.name.lower()} trip {lower.trip:g} must come before "
                f"{higher.level.name.lower()} trip {higher.trip:g}"
            )


def _derating(sec: Section, x_key: str, f_key: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    x = sec.numbers(x_key)
    f = sec.numbers(f_key)
    if len(x) != len(f) or len(x) < 2:
        raise ConfigError(f"{sec.where(x_key)} and {sec.where(f_key)}: need the same number (>= 2) of points")
    if any(b <= a for a, b in pairwise(x)):
        raise ConfigError(f"{sec.where(x_key)}: points must increase")
    if any(not 0.0 <= v <= 1.0 for v in f):
        raise ConfigError(f"{sec.where(f_key)}: fractions must be within 0..1")
    return x, f


def _limits(sec: Section) -> LimitParams:
    p = LimitParams(
        cell_voltage_target_v=sec.number("cell_voltage_target_v"),
        cell_voltage_float_v=sec.number("cell_voltage_float_v"),
        cell_voltage_discharge_v=sec.number("cell_voltage_discharge_v"),
        max_charge_current_a=sec.number("max_charge_current_a"),
        max_discharge_current_a=sec.number("max_discharge_current_a"),
        ccl_cell_voltage=_derating(sec, "ccl_cell_voltage_v", "ccl_cell_voltage_fraction"),
        dcl_cell_voltage=_derating(sec, "dcl_cell_voltage_v", "dcl_cell_voltage_fraction"),
        ccl_temperature=_derating(sec, "ccl_temperature_c", "ccl_temperature_fraction"),
        dcl_temperature=_derating(sec, "dcl_temperature_c", "dcl_temperature_fraction"),
        mosfet_temperature=_derating(sec, "mosfet_temperature_c", "mosfet_temperature_fraction"),
        float_after_s=sec.number("float_after_s"),
        float_spread_v=sec.number("float_spread_v"),
        float_restart_spread_v=sec.number("float_restart_spread_v"),
        bulk_spread_v=sec.number("bulk_spread_v"),
        bulk_soc=sec.number("bulk_soc"),
        cvl_ramp_v_per_s=sec.number("cvl_ramp_v_per_s"),
        cvl_controller_gain=sec.number("cvl_controller_gain"),
        cvl_controller_margin_v=sec.number("cvl_controller_margin_v"),
        limit_hold_s=sec.number("limit_hold_s"),
        limit_ramp_a_per_s=sec.number("limit_ramp_a_per_s"),
        limit_recovery_fraction=sec.number("limit_recovery_fraction"),
        full_charge_interval_days=sec.number("full_charge_interval_days"),
        full_charge_soc=sec.number("full_charge_soc"),
        force_charge_soc=sec.number("force_charge_soc"),
    )
    sec.done()
    if not p.cell_voltage_discharge_v < p.cell_voltage_float_v <= p.cell_voltage_target_v:
        raise ConfigError(
            f"{sec.where('cell_voltage_float_v')}: need discharge {p.cell_voltage_discharge_v:g} < "
            f"float {p.cell_voltage_float_v:g} <= target {p.cell_voltage_target_v:g}"
        )
    x, f = p.ccl_cell_voltage
    if _interp(p.cell_voltage_target_v, x, f) <= 0.0:
        raise ConfigError(
            f"{sec.where('ccl_cell_voltage_fraction')}: CCL is 0 at the charge target "
            f"{sec.where('cell_voltage_target_v')} = {p.cell_voltage_target_v:g} V, so the pack could never reach float"
        )
    return p


def _interp(x0: float, xs: tuple[float, ...], fs: tuple[float, ...]) -> float:
    if x0 <= xs[0]:
        return fs[0]
    for a, b, fa, fb in zip(xs, xs[1:], fs, fs[1:], strict=False):
        if x0 <= b:
            return fa + (fb - fa) * (x0 - a) / (b - a)
    return fs[-1]


def parse_parameters(text: str, source: str = "") -> BmsParameters:
    """Parse and validate a parameter set from TOML text; ``source`` prefixes messages (e.g. a file name)."""
    from ml314.bms.soc import SOC_ESTIMATORS  # noqa: PLC0415 - the registry imports this module

    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source.rstrip(': ')}: not valid TOML ({exc})") from exc
    prefix = f"{source}: " if source else ""
    root = Section(doc, "", prefix)
    meta = root.section("meta")
    rest = root.section("rest")
    rows: list[ProtectionRow] = []
    for entry in root.sections("protection"):
        rows.extend(_protection_rows(entry))
    keys = [r.key for r in rows]
    dup = {k for k in keys if keys.count(k) > 1}
    if dup:
        raise ConfigError(f"{prefix}protection: {sorted(dup)[0]} defined twice")
    bal = root.section("balancing")
    soc = root.section("soc")
    soh = root.section("soh")
    st = root.section("states")
    if root.has("security"):
        raise ConfigError(
            f"{prefix}[security]: a parameter file carries no PIN; each device has its own technician PIN in its "
            "data dir (remove the [security] section)"
        )
    params = BmsParameters(
        name=meta.text("name"),
        version=meta.integer("version"),
        rest_current_a=rest.number("current_a"),
        relax_s=rest.number("relax_s"),
        protection=tuple(rows),
        limits=_limits(root.section("limits")),
        balancing=BalancingParams(
            current_a=bal.number("current_a"),
            start_cell_voltage_v=bal.number("start_cell_voltage_v"),
            start_delta_v=bal.number("start_delta_v"),
            stop_delta_v=bal.number("stop_delta_v"),
            rest_s=bal.number("rest_s"),
            min_cell_voltage_v=bal.number("min_cell_voltage_v"),
            max_cell_temperature_c=bal.number("max_cell_temperature_c"),
            max_board_temperature_c=bal.number("max_board_temperature_c"),
        ),
        soc=SocParams(
            estimator=soc.text("estimator", choices=tuple(SOC_ESTIMATORS)),
            capacity_ah=soc.number("capacity_ah"),
            coulombic_efficiency=soc.number("coulombic_efficiency"),
            full_sync_cell_voltage_v=soc.number("full_sync_cell_voltage_v"),
            full_sync_current_a=soc.number("full_sync_current_a"),
            full_sync_hold_s=soc.number("full_sync_hold_s"),
            empty_sync_cell_voltage_v=soc.number("empty_sync_cell_voltage_v"),
            empty_sync_hold_s=soc.number("empty_sync_hold_s"),
            ocv_rest_current_a=soc.number("ocv_rest_current_a"),
            ocv_dvdt_v_per_s=soc.number("ocv_dvdt_v_per_s"),
            ocv_rest_after_charge_s=soc.number("ocv_rest_after_charge_s"),
            ocv_rest_after_discharge_s=soc.number("ocv_rest_after_discharge_s"),
            ocv_plateau_low_v=soc.number("ocv_plateau_low_v"),
            ocv_plateau_high_v=soc.number("ocv_plateau_high_v"),
            low_warning=soc.number("low_warning"),
            low_alarm=soc.number("low_alarm"),
            ocv_table_error_v=soc.number("ocv_table_error_v"),
            ocv_anchor_max_error=soc.number("ocv_anchor_max_error"),
            full_charge_request_bound=soc.number("full_charge_request_bound"),
            cell_model=_cell_model(soc.section("cell_model")),
        ),
        soh=SohParams(
            end_of_life=soh.number("end_of_life"),
            warning=soh.number("warning"),
            capacity_learn_min_delta_soc=soh.number("capacity_learn_min_delta_soc"),
            capacity_learn_temperature_c=_pair(soh, "capacity_learn_temperature_c"),
        ),
        states=StateParams(
            sleep_after_low_voltage_s=st.number("sleep_after_low_voltage_s"),
            idle_sleep_s=st.number("idle_sleep_s"),
            wake_charge_current_a=st.number("wake_charge_current_a"),
            deep_discharge_restart_v=st.number("deep_discharge_restart_v"),
            long_press_s=st.number("long_press_s"),
            oscillation_guard_s=st.number("oscillation_guard_s"),
        ),
    )
    for s in (meta, rest, bal, soc, soh, st, root):
        s.done()
    if params.balancing.stop_delta_v >= params.balancing.start_delta_v:
        raise ConfigError(f"{bal.where('stop_delta_v')}: must be below {bal.where('start_delta_v')}")
    if params.balancing.start_delta_v > params.limits.float_spread_v:
        raise ConfigError(
            f"{bal.where('start_delta_v')} {params.balancing.start_delta_v:g} V is above limits.float_spread_v "
            f"{params.limits.float_spread_v:g} V: the balancer would stop short of the spread float needs, so the pack "
            "could never switch to float"
        )
    if not params.soh.end_of_life < params.soh.warning < 1.0:
        raise ConfigError(f"{soh.where('end_of_life')}: need end_of_life < warning < 1")
    check_envelope(params, source)
    return params


def _cell_model(sec: Section) -> CellModelParams:
    x = sec.numbers("r_soc_points")
    f = sec.numbers("r_soc_factor")
    if len(x) != len(f) or len(x) < 2 or any(b <= a for a, b in pairwise(x)):
        raise ConfigError(f"{sec.where('r_soc_points')}: increasing points, as many as {sec.where('r_soc_factor')}")
    if any(v <= 0.0 for v in f):
        raise ConfigError(f"{sec.where('r_soc_factor')}: factors must be positive")
    model = CellModelParams(
        hysteresis_scale=sec.number("hysteresis_scale"),
        hysteresis_gamma=sec.number("hysteresis_gamma"),
        r0_ohm=sec.number("r0_ohm"),
        r1_ohm=sec.number("r1_ohm"),
        tau1_s=sec.number("tau1_s"),
        r2_ohm=sec.number("r2_ohm"),
        tau2_s=sec.number("tau2_s"),
        activation_energy_j_per_mol=sec.number("activation_energy_j_per_mol"),
        reference_temperature_c=sec.number("reference_temperature_c"),
        r_soc=(x, f),
    )
    sec.done()
    for key in ("r0_ohm", "r1_ohm", "tau1_s", "r2_ohm", "tau2_s", "hysteresis_gamma"):
        if not getattr(model, key) > 0.0:
            raise ConfigError(f"{sec.where(key)}: must be positive")
    if not model.tau1_s < model.tau2_s:
        raise ConfigError(f"{sec.where('tau1_s')}: the first RC pair must be the faster (tau1_s < tau2_s)")
    return model


def _pair(sec: Section, key: str) -> tuple[float, float]:
    values = sec.numbers(key)
    if len(values) != 2 or values[0] >= values[1]:
        raise ConfigError(f"{sec.where(key)}: expected [low, high] with low < high")
    return values[0], values[1]


def default_parameters_text() -> str:
    """The shipped parameter file."""
    return resources.files("ml314.bms").joinpath("data").joinpath("default.toml").read_text(encoding="utf-8")


def load_default_parameters() -> BmsParameters:
    """The shipped, validated parameter set."""
    return parse_parameters(default_parameters_text(), source="bms/data/default.toml")
