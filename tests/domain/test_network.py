"""The Wi-Fi credentials the app hands the device (IEEE 802.11: SSID 1..32 octets; WPA2 passphrase 8..63 printable
ASCII characters) and the AP's name."""

from __future__ import annotations

import pytest

from ml314.domain.network import NetworkMode, WifiCredentials, ap_ssid
from ml314.errors import InputError


@pytest.mark.parametrize(
    ("ssid", "password"),
    [
        ("a", "8 chars!"),
        ("x" * 32, "p" * 63),
        ("é" * 16, "~ !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}"),
        ("Café 2.4G", "12345678"),
    ],
)
def test_valid_credentials(ssid: str, password: str) -> None:
    creds = WifiCredentials(ssid, password)
    assert password not in repr(creds)  # never printed by accident


@pytest.mark.parametrize(
    ("ssid", "password", "field"),
    [
        ("", "long enough", "ssid"),
        ("x" * 33, "long enough", "ssid"),
        ("é" * 17, "long enough", "ssid"),  # 34 bytes
        ("tab\there", "long enough", "ssid"),
        ("HomeNet", "7 chars", "password"),
        ("HomeNet", "p" * 64, "password"),
        ("HomeNet", "pässword", "password"),  # not ASCII
        ("HomeNet", "new\nline!", "password"),
    ],
)
def test_invalid_credentials_name_the_field(ssid: str, password: str, field: str) -> None:
    with pytest.raises(InputError, match=f"^{field}:"):
        WifiCredentials(ssid, password)


def test_modes_and_the_ap_name() -> None:
    assert ap_ssid("ML314-43118YWFNGGC") == "Smart Battery-NGGC"
    assert [m.cloud for m in NetworkMode] == [True, True, False]  # host, sta: the cloud link connects; ap: not
