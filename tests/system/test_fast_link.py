"""The bank link by events (compiled steady seconds) against the byte-level link (``--link-bytes``).

Two copies of one bank, same seeds, same inputs: one runs the link on bytes every second, the other through
:class:`~ml314.system.fast_link.CompiledLink`. The tolerances are those docs/bank_link.md states.
"""

from __future__ import annotations

import numpy as np
import pytest

from ml314.bms.parameters import load_default_parameters
from ml314.system.addressing import wiring_from_ids
from ml314.system.bank_master import Membership
from ml314.system.compiled_system import CompiledBankSystem
from ml314.system.fast_link import CompiledLink
from ml314.system.linked_bank import LinkedBank, LinkOptions
from ml314.system.status import StatusBuilder
from ml314.twin import kernel as k
from ml314.twin.bank import Bank
from ml314.twin.params import load_cell_parameters

C = load_cell_parameters()
P = load_default_parameters()


class Pair:
    """The same bank twice: ``byte`` steps its link on bytes, ``fast`` by events."""

    def __init__(self, ids: list[int], termination: list[bool] | None = None, **opts: object) -> None:
        self.banks: dict[str, tuple[CompiledBankSystem, LinkedBank]] = {}
        for name in ("byte", "fast"):
            system = CompiledBankSystem(Bank(len(ids), C, seed=3, initial_soc=0.6), P, seed=7)
            linked = LinkedBank(system, StatusBuilder(system), wiring_from_ids(ids, termination), LinkOptions(**opts))  # type: ignore[arg-type]
            self.banks[name] = (system, linked)
        fast_system, fast_linked = self.banks["fast"]
        self.link = CompiledLink(fast_linked)
        fast_system.link = self.link
        self.limits: dict[str, list[np.ndarray]] = {"byte": [], "fast": []}

    def run(self, seconds: int, request_a: float) -> None:
        inputs = np.zeros((k.IN_ROWS, 1))
        inputs[k.IN_AMBIENT_C, 0] = 25.0
        inputs[k.IN_REQUEST, 0] = request_a
        system, linked = self.banks["byte"]
        fast, _ = self.banks["fast"]
        for _ in range(seconds):
            status = linked.step(system.t_s)
            system.impose_limits(None if status is None else status.limits)
            system.advance(1, k.MODE_CURRENT, inputs)
            fast.advance(1, k.MODE_CURRENT, inputs)
            self.limits["byte"].append(system.bank_limits.copy())
            self.limits["fast"].append(fast.bank_limits.copy())

    def endpoints(self, index: int, *, connected: bool) -> None:
        for _, linked in self.banks.values():
            linked.endpoints[index].connected = connected

    def master(self, name: str):  # type: ignore[no-untyped-def]
        self.link.to_master()
        master = self.banks[name][1].master
        assert master is not None
        return master

    def socs(self, name: str) -> np.ndarray:
        return self.banks[name][0].bank.module_socs()


def test_a_steady_bank_runs_compiled_and_matches_the_bytes() -> None:
    pair = Pair([1, 2, 3, 4])
    pair.run(120, -150.0)
    pair.run(120, 120.0)
    assert pair.link.steady_seconds_fraction() > 0.9  # start-up and assembly ran on bytes, the rest compiled
    byte, fast = pair.master("byte"), pair.master("fast")
    assert fast.events == byte.events  # membership: the same joins at the same seconds
    assert fast.cycles == byte.cycles
    assert {m: s.state for m, s in fast.members.items()} == {m: s.state for m, s in byte.members.items()}
    bus_b, bus_f = pair.banks["byte"][1].bus, pair.banks["fast"][1].bus
    assert bus_f.bytes_on_wire == bus_b.bytes_on_wire
    np.testing.assert_array_equal(np.array(pair.limits["fast"]), np.array(pair.limits["byte"]))
    np.testing.assert_allclose(pair.socs("fast"), pair.socs("byte"), atol=1e-9)


def test_a_dropout_and_rejoin_happen_at_the_same_seconds() -> None:
    from ml314.system.bank_master import MasterParams  # noqa: PLC0415

    pair = Pair([1, 2, 3], master=MasterParams(rejoin_voltage_v=0.05))
    pair.run(80, -150.0)
    pair.endpoints(2, connected=False)  # the Battery Comm cable of module ID 3 comes out
    pair.run(20, -150.0)  # it drops out, then its own watchdog takes it off the bus
    assert pair.master("fast").members[3].state is Membership.LOST
    assert pair.banks["fast"][0].isolated[2] and pair.banks["byte"][0].isolated[2]
    pair.endpoints(2, connected=True)
    pair.run(60, 0.0)  # at rest the voltages meet: it waits, then joins
    byte, fast = pair.master("byte"), pair.master("fast")
    assert any("dropped out" in text for _, text in fast.events)
    assert fast.events == byte.events
    assert fast.members[3].state is byte.members[3].state
    np.testing.assert_array_equal(np.array(pair.limits["fast"]), np.array(pair.limits["byte"]))
    np.testing.assert_allclose(pair.socs("fast"), pair.socs("byte"), atol=1e-9)


def test_two_modules_at_one_id_collide_on_both_paths() -> None:
    pair = Pair([1, 2, 2, 3])
    pair.run(200, -100.0)
    byte, fast = pair.master("byte"), pair.master("fast")
    assert sorted(fast.members) == sorted(byte.members) == [3]
    assert fast.garbled_ids == byte.garbled_ids == {2}
    bus_b, bus_f = pair.banks["byte"][1].bus, pair.banks["fast"][1].bus
    assert bus_f.collisions == bus_b.collisions > 1  # the discovery probe keeps hitting the shared ID
    np.testing.assert_array_equal(np.array(pair.limits["fast"]), np.array(pair.limits["byte"]))


def test_a_termination_fault_corrupts_frames_at_the_same_rate() -> None:
    """The two paths draw their errors from different generators: the counts agree within their spread, and a
    corrupted report only leaves a member's data a second old, so the limits and the SOC stay close."""
    pair = Pair([1, 2, 3, 4], [True, False, False, False])  # one end unterminated: 2 % of the frames garbled
    pair.run(600, -150.0)
    byte, fast = pair.master("byte"), pair.master("fast")
    bus_b, bus_f = pair.banks["byte"][1].bus, pair.banks["fast"][1].bus
    reports = 3 * 600
    expected = bus_b.error_rate * reports
    for bus in (bus_b, bus_f):
        assert abs(bus.corrupted - expected) < 5.0 * np.sqrt(expected)
    assert all(m.state is Membership.ONLINE for m in fast.members.values())
    assert {m: s.state for m, s in fast.members.items()} == {m: s.state for m, s in byte.members.items()}
    lb, lf = np.array(pair.limits["byte"]), np.array(pair.limits["fast"])
    assert np.abs(lf[:, 2:] - lb[:, 2:]).mean() <= 0.005 * np.abs(lb[:, 2:]).mean()  # CCL, DCL
    np.testing.assert_array_equal(lf[:, :2], lb[:, :2])  # CVL, DVL
    np.testing.assert_allclose(pair.socs("fast"), pair.socs("byte"), atol=1e-4)


@pytest.mark.parametrize("baud", [9600])
def test_a_slow_link_keeps_its_membership(baud: int) -> None:
    """At 9600 baud a round takes longer than a second: the kernel takes the round's reports at its start."""
    pair = Pair([1, 2, 3, 4], baud=baud)
    pair.run(120, -150.0)
    byte, fast = pair.master("byte"), pair.master("fast")
    assert {m: s.state for m, s in fast.members.items()} == {m: s.state for m, s in byte.members.items()}
    assert abs(fast.cycles - byte.cycles) <= 1
    lb, lf = np.array(pair.limits["byte"]), np.array(pair.limits["fast"])
    assert np.abs(lf - lb).mean() <= 0.005 * np.abs(lb).mean()
    np.testing.assert_allclose(pair.socs("fast"), pair.socs("byte"), atol=1e-4)
