from __future__ import annotations

from pathlib import Path

import pytest

from ml314.errors import AccessDeniedError, ConfigError
from ml314.protocols.registry import resolve
from ml314.storage.identity import DeviceIdentity
from ml314.storage.settings_store import DEFAULT_SELECTION, load_selection, save_selection

NOW = 1_800_000_000.0


def test_no_file_selects_pylon_on_both_ports(tmp_path: Path) -> None:
    sel = load_selection(tmp_path / "none.toml")
    assert sel == DEFAULT_SELECTION
    assert (sel.can.name, sel.rs485.name) == ("pylon-can", "pylon-rs485")


def test_a_change_needs_the_pin_and_is_read_at_the_next_start(tmp_path: Path) -> None:
    path = tmp_path / "ml314.toml"
    device, label = DeviceIdentity.create(tmp_path / "data")
    with pytest.raises(AccessDeniedError):
        save_selection(path, resolve("CAN:P05"), device.check_pin("123456", NOW))  # the manual's PIN is not it
    assert not path.exists()
    grant = device.check_pin(label.pin, NOW)
    save_selection(path, resolve("CAN:P05"), grant)
    save_selection(path, resolve("RS485:P04"), grant)
    sel = load_selection(path)
    assert sel.can.name == "victron-can"
    assert sel.rs485.name == "voltronic-rs485"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[protocol]\ncan = "CAN:P14"\n', "did you mean 'protocols'"),
        ('[protocols]\ncann = "CAN:P14"\n', "did you mean 'can'"),
        ('[protocols]\ncan = "CAN:P13"\n', "unknown protocol"),
        ('[protocols]\ncan = "RS485:P04"\n', "is a RS485 protocol"),
        ("[protocols]\ncan = 14\n", "is not a string"),
        ("[protocols\n", "not valid TOML"),
    ],
)
def test_bad_settings_are_refused_with_one_clear_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "ml314.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        load_selection(path)
    assert "\n" not in str(err.value)
