"""``network.json``: the network settings round-trip, the file is private (it holds the Wi-Fi passphrase), a missing
file is the default mode, a damaged one is one clear error."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ml314.domain.network import NetworkMode, WifiCredentials
from ml314.errors import InputError
from ml314.storage.network_store import MAX_PAIRINGS, NETWORK_FILE, NetworkState, Pairing, load_network, save_network


def test_round_trip_private_and_bounded(tmp_path: Path) -> None:
    assert load_network(tmp_path, NetworkMode.AP) == NetworkState(NetworkMode.AP)  # never configured
    pairings = tuple(Pairing(f"p{i}", f"phone {i}", "ab" * 32, float(i)) for i in range(MAX_PAIRINGS + 2))
    state = NetworkState(NetworkMode.STA, WifiCredentials("HomeNet", "correct horse"), pairings, 3, 12.5)
    saved = save_network(tmp_path, state)
    assert saved.configured and saved.pairings == pairings[-MAX_PAIRINGS:]  # the oldest went
    assert load_network(tmp_path, NetworkMode.HOST) == saved
    assert stat.S_IMODE(os.stat(tmp_path / NETWORK_FILE).st_mode) == 0o600


@pytest.mark.parametrize(
    "text", ["{", '{"format": "other", "version": 1}', '{"format": "ml314.network", "version": 1, "mode": "x"}']
)
def test_a_damaged_file_is_one_clear_error(tmp_path: Path, text: str) -> None:
    (tmp_path / NETWORK_FILE).write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=NETWORK_FILE):
        load_network(tmp_path, NetworkMode.HOST)
