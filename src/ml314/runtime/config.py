"""One configuration boundary for ``ml314 run`` and ``ml314 simulate``.

Each command's configuration is one frozen dataclass (:class:`~ml314.runtime.run.RunConfig`,
:class:`~ml314.runtime.simulation.SimulationRequest`) built once, here, from the ``[run]`` or ``[simulate]`` table
of ``ml314.toml`` and the options given on the command line (which win), through the project's one tree validator
(:func:`ml314.domain.tree.read_dataclass`): unknown keys are refused with the nearest valid one, every value is
checked by its field's type and then by the configuration's ``validate()``. The engines take the result.

Adding an option is one field in the dataclass (with its default) and one command-line option of the same name:
plain types (int, float, bool, str, Path, tuples of them, ``X | None``, Literal) need nothing more; a field whose
value is built from text (a spec, a parameter file) adds a converter to the table below.

    [run]                        # ml314.toml
    modules = 4
    speed = 10.0
    module_ids = [1, 2, 3, 4]
    duration_s = "10min"

    [simulate]
    days = 7
    sample_s = "10s"
    [simulate.inverter]
    mode = "backup"
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from ml314.adapters.can_link import CanSpec, parse_can_spec
from ml314.adapters.serial_link import Rs485Spec, parse_rs485_spec
from ml314.bms.parameters import BmsParameters
from ml314.domain.tree import Converter, read_dataclass
from ml314.errors import ConfigError, InputError
from ml314.protocols.base import Transport
from ml314.protocols.registry import Entry, resolve
from ml314.runtime.run import DEFAULT_RS485, RunConfig
from ml314.runtime.simulation import SimulationRequest
from ml314.storage.parameter_store import load_parameters
from ml314.storage.settings_store import SettingsFile, read_settings

__all__ = [
    "RUN_CONVERTERS",
    "RUN_OPTION_NAMES",
    "SIMULATE_CONVERTERS",
    "SIMULATE_OPTION_NAMES",
    "run_config",
    "simulation_request",
]


def _params(raw: Any, where: str) -> BmsParameters:
    if isinstance(raw, BmsParameters):
        return raw
    return load_parameters(None if raw is None else Path(_text(raw, where)))


def _can(raw: Any, where: str) -> CanSpec:
    return raw if isinstance(raw, CanSpec) else parse_can_spec(None if raw is None else _text(raw, where))


def _rs485(raw: Any, where: str) -> Rs485Spec | None:
    if raw is None or isinstance(raw, Rs485Spec):
        return raw
    return parse_rs485_spec(_text(raw, where))


def _protocol(transport: Transport) -> Converter:
    def convert(raw: Any, where: str) -> Entry | None:
        if raw is None or isinstance(raw, Entry):
            return raw
        entry = resolve(_text(raw, where))
        if entry.transport is not transport:
            raise ConfigError(f"{where} {raw!r}: a {entry.transport.value} protocol, not {transport.value}")
        return entry

    return convert


def _existing_file(raw: Any, where: str) -> Path | None:
    if raw is None:
        return None
    path = Path(_text(raw, where)) if not isinstance(raw, Path) else raw
    if not path.is_file():
        raise InputError(f"{where} {path}: no such file")
    return path


def _text(raw: Any, where: str) -> str:
    if isinstance(raw, Path):
        return str(raw)
    if not isinstance(raw, str):
        raise ConfigError(f"{where}: {raw!r} is not a string")
    return raw


#: fields of RunConfig built from text; every other field is read by its type
RUN_CONVERTERS: dict[str, Converter] = {
    "params": _params,
    "can": _can,
    "rs485": _rs485,
    "can_protocol": _protocol(Transport.CAN),
    "rs485_protocol": _protocol(Transport.RS485),
}
#: fields whose command-line option is not ``--field-name``
RUN_OPTION_NAMES = {
    "duration_s": "--for",
    "module_ids": "--ids",
    "module_capacity_ah": "--capacity-ah",
    "can_protocol": "--protocol",
    "rs485_protocol": "--protocol",
}
SIMULATE_CONVERTERS: dict[str, Converter] = {"load_csv": _existing_file, "pv_csv": _existing_file}
SIMULATE_OPTION_NAMES = {
    "dt_s": "--dt",
    "sample_s": "--sample",
    "start_day_of_year": "--start-day",
    "pv_peak_kw": "--pv-kw",
    "annual_load_kwh": "--load-kwh",
    "outages_per_month": "--outages",
    "mean_outage_h": "--outage-hours",
    "ambient_c": "--ambient",
    "series_format": "--format",
    "module_ids": "--ids",
    "module_capacity_ah": "--capacity-ah",
}


def _settings(settings: SettingsFile | Path) -> SettingsFile:
    return settings if isinstance(settings, SettingsFile) else read_settings(settings)


def run_config(settings: SettingsFile | Path, overrides: Mapping[str, Any] | None = None) -> RunConfig:
    """The configuration of ``ml314 run``: ``[protocols]`` and ``[run]`` of the settings file, then ``overrides``
    (field name -> the command line's value). RS485 runs when a port is named or an RS485 protocol is chosen on
    the command line (then on tcp://127.0.0.1:8485 unless told where)."""
    s = _settings(settings)
    given = dict(overrides or {})
    rs485_chosen = "rs485_protocol" in given
    given.setdefault("can_protocol", s.selection.can)
    given.setdefault("rs485_protocol", s.selection.rs485)
    config = read_dataclass(RunConfig, s.run, given, convert=RUN_CONVERTERS, option_names=RUN_OPTION_NAMES)
    if config.rs485 is None and rs485_chosen:
        config = replace(config, rs485=parse_rs485_spec(DEFAULT_RS485))
    return config


def simulation_request(settings: SettingsFile | Path, overrides: Mapping[str, Any] | None = None) -> SimulationRequest:
    """The request of ``ml314 simulate``: ``[simulate]`` of the settings file, then ``overrides``."""
    return read_dataclass(
        SimulationRequest,
        _settings(settings).simulate,
        overrides,
        convert=SIMULATE_CONVERTERS,
        option_names=SIMULATE_OPTION_NAMES,
    )
