"""``simulate --protocol``: the home inverter obeys what it decoded from encoded frames, for every protocol."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml314.errors import InputError
from ml314.protocols.registry import PROTOCOLS
from ml314.runtime.scenarios import SCENARIOS
from ml314.runtime.simulation import SimulationRequest, simulate


@pytest.mark.parametrize(
    ("protocol", "link"),
    [
        ("CAN:P14", False),
        ("CAN:P01", False),
        ("RS485:P01", False),
        ("RS485:P04", False),
        ("pylon-rs485", True),
        ("sma-can", False),
    ],
)
def test_the_home_system_runs_through_the_codec(tmp_path: Path, protocol: str, link: bool) -> None:
    """Two modules: one protocol also with the bank link between them (the master presents the bank to the
    codec), the others without it (the codec path is the same, and the byte-level link is the slow part)."""
    req = SimulationRequest(modules=2, days=0.125, sample_s=600.0, protocol=protocol, series_format="csv", link=link)
    out = simulate(req, tmp_path, SCENARIOS, report=False)
    p = out.summary["protocol"]
    assert p["periods"] == round(req.days * 86400) - 1  # every second but the BMS's power-on second
    assert p["battery_frames"] >= p["periods"]
    assert p["decoded_limits_end"] is not None
    energy = out.summary["energy"]
    assert energy["battery_charged_kwh"] + energy["battery_discharged_kwh"] > 0.2, "the battery was used"


def test_a_bank_the_inverter_cannot_hear_is_not_used(tmp_path: Path) -> None:
    """Sanity of the path: with the protocol's limits the peer obeys, the same run matches one without a codec
    to within what the wire's resolution changes."""
    base = SimulationRequest(modules=1, days=0.25, sample_s=600.0, series_format="csv")
    plain = simulate(base, tmp_path / "plain", SCENARIOS, report=False).summary["energy"]
    coded = simulate(
        SimulationRequest(**{**base.__dict__, "protocol": "CAN:P14"}), tmp_path / "coded", SCENARIOS, report=False
    ).summary["energy"]
    assert abs(plain["battery_discharged_kwh"] - coded["battery_discharged_kwh"]) < 0.25 + 0.05 * max(
        plain["battery_discharged_kwh"], 0.1
    )


def test_every_protocol_is_accepted_and_bad_ones_refused() -> None:
    for e in PROTOCOLS:
        SimulationRequest(protocol=e.name).validate()
    with pytest.raises(InputError, match="unknown protocol"):
        SimulationRequest(protocol="CAN:P99").validate()
    with pytest.raises(InputError, match="home scenario"):
        SimulationRequest(scenario="lab", bms=False, experiment="rest 1 h", protocol="CAN:P14").validate()
