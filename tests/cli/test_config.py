"""One configuration boundary: ml314.toml's [run] / [simulate] tables and the options given, validated once."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, fields
from pathlib import Path

import pytest

from ml314.cli.run import CLI_ONLY, RUN_RENAMES
from ml314.cli.simulate import SIMULATE_CLI_ONLY, SIMULATE_RENAMES
from ml314.errors import ConfigError, Ml314Error
from ml314.runtime.config import run_config, simulation_request
from ml314.runtime.run import RunConfig
from ml314.runtime.simulation import SimulationRequest
from ml314.storage.settings_store import read_settings
from tests.cli.test_simulate_cli import ml314, summary_of


def settings(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ml314.toml"
    path.write_text(text)
    return path


def test_no_file_gives_the_defaults(tmp_path: Path) -> None:
    config = run_config(tmp_path / "none.toml")
    assert isinstance(config, RunConfig)
    assert (config.modules, config.speed, config.rs485) == (1, 1.0, None)
    assert config.can_protocol is not None and config.can_protocol.name == "pylon-can"
    with pytest.raises(FrozenInstanceError):
        config.modules = 2  # type: ignore[misc]


def test_the_file_sets_options_and_the_command_line_wins(tmp_path: Path) -> None:
    path = settings(
        tmp_path,
        '[protocols]\ncan = "CAN:P05"\n[run]\nmodules = 4\nspeed = 10\nmodule_ids = [4, 3, 2, 1]\n'
        'duration_s = "2min"\nrs485 = "tcp://127.0.0.1:0"\n',
    )
    config = run_config(path)
    assert config.modules == 4 and config.speed == 10.0 and config.module_ids == (4, 3, 2, 1)
    assert config.duration_s == 120.0
    assert config.rs485 is not None and config.rs485.listen == ("127.0.0.1", 0)
    assert config.can_protocol is not None and config.can_protocol.name == "victron-can"
    overridden = run_config(path, {"modules": 2, "module_ids": "1,2", "duration_s": "5s"})
    assert overridden.modules == 2 and overridden.module_ids == (1, 2) and overridden.duration_s == 5.0
    assert overridden.speed == 10.0  # not given: the file's


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[run]\nmodule = 4\n", "run.module: unknown key (did you mean 'modules'?)"),
        ("[runn]\nmodules = 4\n", "unknown key (did you mean 'run'?)"),
        ('[run]\nmodules = "four"\n', "run.modules: 'four' is not a whole number"),
        ("[run]\nmodules = 40\n", "--modules 40: must be 1..16"),
        ('[run]\nduration_s = "soon"\n', "not a duration"),
        ('[run]\ncan = "nosuch"\n', "INTERFACE:CHANNEL"),
        ("[simulate]\nday = 3\n", "simulate.day: unknown key (did you mean 'days'?)"),
        ('[simulate.inverter]\nmode = "island"\n', "'island' is not one of self-consumption, backup"),
        ("[simulate.inverter]\nreserve_soc = 1.5\n", "reserve SOC 1.5 outside 0..1"),
    ],
)
def test_a_bad_file_is_one_line_naming_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = settings(tmp_path, text)
    with pytest.raises(Ml314Error) as err:
        if "simulate" in text:
            simulation_request(path)
        else:
            run_config(path)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_simulate_reads_its_table_with_nested_inverter_and_durations(tmp_path: Path) -> None:
    path = settings(
        tmp_path, '[simulate]\ndays = 2\nsample_s = "10min"\n[simulate.inverter]\nmode = "backup"\nmax_power_w = 5000\n'
    )
    request = simulation_request(path, {"inverter": {"reserve_soc": 0.3}})
    assert isinstance(request, SimulationRequest)
    assert request.days == 2.0 and request.sample_s == 600.0
    assert request.inverter.mode == "backup" and request.inverter.max_power_w == 5000.0
    assert request.inverter.reserve_soc == 0.3


def test_one_file_serves_both_commands_and_protocols_set_keeps_the_tables(tmp_path: Path) -> None:
    path = settings(tmp_path, "[run]\nmodules = 3\n\n[simulate]\ndays = 0.5\n")
    data = tmp_path / "data"
    assert ml314("label", "--data-dir", data).returncode == 0  # the device's identity and its own PIN
    pin = next(line.split()[-1] for line in (data / "label.txt").read_text().splitlines() if "PIN" in line)
    r = ml314("protocols", "set", "CAN:P05", "--pin", pin, "--config", path, "--data-dir", data)
    assert r.returncode == 0, r.stderr
    s = read_settings(path)
    assert s.selection.can.name == "victron-can"
    assert run_config(s).modules == 3
    assert simulation_request(read_settings(path)).days == 0.5


def test_every_option_of_run_and_simulate_is_a_configuration_field() -> None:
    """Adding an option is a field plus a flag: a flag with no field (and not marked CLI-only) would be lost."""
    from typer.main import get_command  # noqa: PLC0415

    from ml314.cli.main import app  # noqa: PLC0415

    group = get_command(app)
    for name, cls, renames, cli_only, nested in (
        ("run", RunConfig, RUN_RENAMES, CLI_ONLY, {"protocol"}),
        ("simulate", SimulationRequest, SIMULATE_RENAMES, SIMULATE_CLI_ONLY, {"inverter_kw", "mode", "reserve"}),
    ):
        command = group.commands[name]  # type: ignore[attr-defined]
        field_names = {f.name for f in fields(cls)}
        for param in command.params:
            if param.name in cli_only or param.name in nested:
                continue
            assert renames.get(param.name, param.name) in field_names, f"{name} --{param.name}"


def test_simulate_takes_its_table_from_the_config_option(tmp_path: Path) -> None:
    path = settings(tmp_path, '[simulate]\ndays = 0.05\nsample_s = "30min"\n')
    out = tmp_path / "out"
    r = ml314("simulate", "--config", path, "--out", out, "--no-report", "--quiet")
    assert r.returncode == 0, r.stderr
    assert summary_of(out)["run"]["sample_s"] == 1800.0
    bad = settings(tmp_path, "[simulate]\ndayz = 1\n")
    r = ml314("simulate", "--config", bad, "--out", out, "--quiet")
    assert r.returncode == 2 and "did you mean 'days'" in r.stderr


def test_run_refuses_a_typo_in_its_table(tmp_path: Path) -> None:
    path = settings(tmp_path, "[run]\nsped = 2\n")
    r = ml314("run", "--config", path, "--for", "1s")
    assert r.returncode == 2 and "run.sped: unknown key (did you mean 'speed'?)" in r.stderr


def test_config_errors_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        run_config(settings(tmp_path, "[run]\nbogus = 1\n"))
