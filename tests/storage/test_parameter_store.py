"""Saving a changed BMS parameter set needs the device's technician PIN and a valid set."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml314.bms.parameters import default_parameters_text
from ml314.errors import AccessDeniedError, ConfigError, InputError
from ml314.storage.identity import DeviceIdentity
from ml314.storage.parameter_store import load_parameters, save_parameters

NOW = 1_800_000_000.0


def test_a_change_is_saved_with_the_pin_and_refused_without(tmp_path: Path) -> None:
    path = tmp_path / "bms.toml"
    path.write_text(default_parameters_text(), encoding="utf-8")
    device, label = DeviceIdentity.create(tmp_path / "data")
    changed = default_parameters_text().replace("float_after_s = 900.0", "float_after_s = 1200.0")
    with pytest.raises(AccessDeniedError):
        save_parameters(path, changed, device.check_pin("00000000", NOW))
    assert load_parameters(path).limits.float_after_s == 900.0  # nothing written
    new = save_parameters(path, changed, device.check_pin(label.pin, NOW))
    assert new.limits.float_after_s == 1200.0 and load_parameters(path).limits.float_after_s == 1200.0
    assert (tmp_path / "bms.toml.bak").read_text(encoding="utf-8") == default_parameters_text()


def test_an_invalid_set_is_refused_before_writing(tmp_path: Path) -> None:
    path = tmp_path / "bms.toml"
    path.write_text(default_parameters_text(), encoding="utf-8")
    bad = default_parameters_text().replace("release = 3.40, debounce = 2", "release = 3.70, debounce = 2", 1)
    device, label = DeviceIdentity.create(tmp_path / "data")
    with pytest.raises(ConfigError, match=r"release 3\.7"):
        save_parameters(path, bad, device.check_pin(label.pin, NOW))
    assert path.read_text(encoding="utf-8") == default_parameters_text()


def test_missing_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such parameter file"):
        load_parameters(tmp_path / "nope.toml")
    assert load_parameters(None).name == "ML314 default"
