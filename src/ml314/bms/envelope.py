"""The product's safety envelope: bounds no BMS parameter set may leave, one row per rule.

:func:`parse_parameters` checks a set for consistency (levels in order, a release on the safe side of its trip,
monotonic tables); this table checks it against the product: the LFP cell's limits and the module's ratings in
:data:`ml314.domain.spec.ML314`. A set that leaves the envelope is refused with one line naming the parameter,
its value and the bound, e.g. ``protection.cell_overvoltage.protection.trip = 30 is above 3.8, the cell's
secondary hardware over-voltage level``.

Each :class:`Rule` picks the values it bounds from the set (``pick``) and gives the inclusive range and why.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ml314.domain.spec import ML314, ProductSpec
from ml314.errors import ConfigError

if TYPE_CHECKING:
    from ml314.bms.parameters import BmsParameters, ProtectionRow

__all__ = ["ENVELOPE", "Rule", "check_envelope", "envelope_rules"]

Picked = Iterator[tuple[str, float]]


@dataclass(frozen=True, slots=True)
class Rule:
    """One bound: the values it applies to, the inclusive range ``low..high`` (None: open) and its reason."""

    name: str
    pick: Callable[[BmsParameters], Picked]
    low: float | None
    high: float | None
    why: str


def _rows(p: BmsParameters, test: Callable[[ProtectionRow], bool], fields: tuple[str, ...] = ("trip",)) -> Picked:
    for row in p.protection:
        if test(row):
            for f in fields:
                yield f"protection.{row.name}.{row.level.name.lower()}.{f}", float(getattr(row, f))


def _fields(section: str, *names: str) -> Callable[[BmsParameters], Picked]:
    def pick(p: BmsParameters) -> Picked:
        obj = getattr(p, section)
        for n in names:
            yield f"{section}.{n}", float(getattr(obj, n))

    return pick


def _table_at(key: str, table: str, x0: float, unit: str) -> Callable[[BmsParameters], Picked]:
    """The derating fraction of ``limits.<table>`` at ``x0`` (linear, held at the ends)."""

    def pick(p: BmsParameters) -> Picked:
        xs, fs = getattr(p.limits, table)
        yield f"limits.{key}_fraction at {x0:g} {unit}", float(np.interp(x0, xs, fs))

    return pick


def _all_numbers(p: BmsParameters) -> Picked:
    """Every number of the set, by its dotted name (for the finiteness rule)."""

    def walk(obj: object, path: str) -> Picked:
        if isinstance(obj, bool | str):
            return
        if isinstance(obj, int | float):
            yield path, float(obj)
        elif isinstance(obj, tuple):
            for i, item in enumerate(obj):
                name = f"{path}.{item.name}.{item.level.name.lower()}" if hasattr(item, "level") else f"{path}[{i}]"
                yield from walk(item, name)
        elif dataclasses.is_dataclass(obj):
            for f in dataclasses.fields(obj):
                yield from walk(getattr(obj, f.name), f"{path}.{f.name}" if path else f.name)

    yield from walk(p, "")


def _nonfinite(p: BmsParameters) -> Picked:
    for name, value in _all_numbers(p):
        if not math.isfinite(value):
            yield name, value


def envelope_rules(s: ProductSpec = ML314) -> tuple[Rule, ...]:
    """The envelope of product ``s``, one row per rule."""
    n = s.cells_in_series
    cell_setpoints = _fields(
        "limits", "cell_voltage_target_v", "cell_voltage_float_v", "cell_voltage_discharge_v"
    )  # fmt: skip
    return (
        Rule("finite", _nonfinite, None, None, "every parameter must be a finite number"),
        Rule("cell_overvoltage_trips",
             lambda p: _rows(p, lambda r: r.quantity == "cell_voltage_max_v", ("trip", "release")),
             None, s.cell_voltage_hardware_max_v, "the cell's secondary hardware over-voltage level"),
        Rule("cell_undervoltage_trips",
             lambda p: _rows(p, lambda r: r.quantity == "cell_voltage_min_v", ("trip", "release")),
             s.cell_voltage_floor_v, None, "the voltage below which an LFP cell is damaged for good"),
        Rule("pack_overvoltage_trips",
             lambda p: _rows(p, lambda r: r.quantity == "pack_voltage_v" and r.direction == "above"),
             None, n * s.cell_voltage_hardware_max_v, f"{n} cells at the secondary hardware over-voltage level"),
        Rule("pack_undervoltage_trips",
             lambda p: _rows(p, lambda r: r.quantity == "pack_voltage_v" and r.direction == "below"),
             n * s.cell_voltage_floor_v, None, f"{n} cells at the damage floor"),
        Rule("cell_voltage_setpoints", cell_setpoints, s.cell_voltage_min_v, s.cell_voltage_max_v,
             "the cell's operating window"),
        Rule("sync_and_balancing_voltages",
             lambda p: _chain(_fields("soc", "full_sync_cell_voltage_v", "empty_sync_cell_voltage_v")(p),
                              _fields("balancing", "start_cell_voltage_v", "min_cell_voltage_v")(p)),
             s.cell_voltage_min_v, s.cell_voltage_max_v, "the cell's operating window"),
        Rule("charge_current_limit", _fields("limits", "max_charge_current_a"), 0.0, s.max_charge_current_a,
             "the module's rated continuous charge current"),
        Rule("discharge_current_limit", _fields("limits", "max_discharge_current_a"), 0.0,
             s.max_discharge_current_a, "the module's rated continuous discharge current"),
        Rule("wake_current", lambda p: iter([("states.wake_charge_current_a", p.states.wake_charge_current_a)]),
             0.0, s.max_charge_current_a, "the module's rated continuous charge current"),
        Rule("overcurrent_trips",
             lambda p: _rows(p, lambda r: r.quantity in ("charge_current_a", "discharge_current_a")),
             0.0, s.short_circuit_current_a, "the hardware short-circuit level"),
        Rule("charge_temperature_trips",
             lambda p: _rows(p, lambda r: r.condition == "charging" and r.quantity.startswith("cell_temperature")),
             s.charge_temperature_min_c, s.charge_temperature_max_c, "the cell's charge temperature range"),
        Rule("discharge_temperature_trips",
             lambda p: _rows(p, lambda r: r.condition == "discharging" and r.quantity.startswith("cell_temp")),
             s.discharge_temperature_min_c, s.discharge_temperature_max_c, "the cell's discharge temperature range"),
        Rule("electronics_temperature_trips",
             lambda p: _rows(p, lambda r: r.quantity in ("mosfet_temperature_c", "board_temperature_c")),
             None, s.electronics_temperature_max_c, "the MOSFETs' and board's temperature limit"),
        Rule("balancing_temperatures",
             lambda p: _chain(_fields("balancing", "max_cell_temperature_c")(p),
                              iter([("balancing.max_board_temperature_c", p.balancing.max_board_temperature_c)])),
             None, s.electronics_temperature_max_c, "the MOSFETs' and board's temperature limit"),
        Rule("no_charge_when_cold", _table_at("ccl_temperature", "ccl_temperature", s.charge_temperature_min_c, "degC"),
             None, 0.0, "no charge current at or below the charge temperature range"),
        Rule("no_charge_when_hot", _table_at("ccl_temperature", "ccl_temperature", s.charge_temperature_max_c, "degC"),
             None, 0.0, "no charge current at or above the charge temperature range"),
        Rule("no_discharge_when_cold",
             _table_at("dcl_temperature", "dcl_temperature", s.discharge_temperature_min_c, "degC"),
             None, 0.0, "no discharge current at or below the discharge temperature range"),
        Rule("no_discharge_when_hot",
             _table_at("dcl_temperature", "dcl_temperature", s.discharge_temperature_max_c, "degC"),
             None, 0.0, "no discharge current at or above the discharge temperature range"),
        Rule("no_charge_when_full", _table_at("ccl_cell_voltage", "ccl_cell_voltage", s.cell_voltage_max_v, "V"),
             None, 0.0, "no charge current with a cell at its maximum voltage"),
        Rule("no_discharge_when_empty",
             _table_at("dcl_cell_voltage", "dcl_cell_voltage", s.cell_voltage_min_v, "V"),
             None, 0.0, "no discharge current with a cell at its minimum voltage"),
    )  # fmt: skip


def _chain(*parts: Picked) -> Picked:
    for part in parts:
        yield from part


ENVELOPE: tuple[Rule, ...] = envelope_rules()


def check_envelope(params: BmsParameters, source: str = "", rules: tuple[Rule, ...] = ENVELOPE) -> None:
    """Raise :class:`ConfigError` naming the first parameter outside ``rules``, its value and the bound."""
    prefix = f"{source.rstrip(': ')}: " if source else ""
    for rule in rules:
        for name, value in rule.pick(params):
            if rule.name == "finite":
                raise ConfigError(f"{prefix}{name} = {value:g}: {rule.why}")
            if rule.high is not None and value > rule.high:
                raise ConfigError(
                    f"{prefix}{name} = {value:g} is above {rule.high:g}, {rule.why} (envelope rule {rule.name})"
                )
            if rule.low is not None and value < rule.low:
                raise ConfigError(
                    f"{prefix}{name} = {value:g} is below {rule.low:g}, {rule.why} (envelope rule {rule.name})"
                )
