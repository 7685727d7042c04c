"""A 16-module bank with seeded spread, end to end over the framed bank link: a full charge and a full discharge
at whatever the master allows. The weakest module reaches its limits first, the bank's limits protect it, and no
module ever trips a protection of its own."""

from __future__ import annotations

import numpy as np
import pytest

from ml314.bms.parameters import load_default_parameters
from ml314.domain.battery_status import BankStatus
from ml314.system.compiled_system import CompiledBankSystem
from ml314.system.linked_bank import LinkedBank, default_wiring
from ml314.system.status import StatusBuilder
from ml314.twin import kernel as k
from ml314.twin.bank import Bank
from ml314.twin.params import load_cell_parameters

N = 16
WEAK = 5  # index of the weakest module: the least capacity, and one aged cell (less capacity, more resistance)
HOURS = 6


@pytest.mark.long
def test_sixteen_modules_charge_and_discharge_fully_without_a_protection_trip() -> None:
    rng = np.random.default_rng(11)
    scale = rng.uniform(0.92, 1.0, N)
    scale[WEAK] = 0.8
    bank = Bank(N, load_cell_parameters(), seed=11, initial_soc=0.3, capacity_scale=tuple(scale))
    bank._fresh_capacity_as[WEAK, 7] *= 0.9
    bank._fresh_r[:, WEAK, 7] *= 1.5
    bank._apply_health()
    system = CompiledBankSystem(bank, load_default_parameters(), seed=12)
    linked = LinkedBank(system, StatusBuilder(system), default_wiring(N))
    inputs = np.zeros((k.IN_ROWS, 1))
    inputs[k.IN_AMBIENT_C, 0] = 25.0

    first_derated: dict[int, float] = {}
    peak_module_a = np.zeros(N)
    cell_max = cell_min = 3.3
    phases = {}
    for phase, request in (("charge", 10_000.0), ("discharge", -10_000.0)):
        inputs[k.IN_REQUEST, 0] = request
        moved_ah = 0.0
        quiet = 0
        for _ in range(HOURS * 3600):
            status: BankStatus | None = linked.step(system.t_s)
            assert status is not None
            system.impose_limits(status.limits)
            system.advance(1, k.MODE_CURRENT, inputs)
            currents = system.readings[2]
            peak_module_a = np.maximum(peak_module_a, np.abs(currents))
            cells = system.readings[0]
            cell_max, cell_min = max(cell_max, float(cells.max())), min(cell_min, float(cells.min()))
            moved_ah += abs(float(currents.sum())) / 3600.0
            if phase == "charge" and status.module_count == N:
                for m in status.modules:
                    if m.limits.ccl_a < 0.5 * 157.0 and m.address not in first_derated and system.t_s > 120:
                        first_derated[m.address] = system.t_s
            quiet = quiet + 1 if abs(float(currents.sum())) < 0.01 * 314 * N else 0
            if moved_ah > 100.0 and quiet > 600:  # ten minutes without current worth the name: done
                break
        phases[phase] = moved_ah

    # the bank was really filled and emptied (5024 Ah installed; spread and limits keep it short of that)
    assert phases["charge"] > 0.55 * 314 * N
    assert phases["discharge"] > 0.8 * 314 * N
    # the weakest module was the first to limit its charge current (its aged cell rises first)
    assert first_derated, "no module ever reached its charge limit"
    first = min(first_derated, key=lambda a: first_derated[a])
    assert first == WEAK + 1, first_derated
    # and nobody crossed a protection level: no protection trip in any module's event log
    trips = [e for e in system.bms.events if e.kind in ("trip", "lockout", "latch") and e.level == "protection"]
    assert trips == [], [e.key for e in trips]
    assert cell_max < 3.65 and cell_min > 2.5
    assert peak_module_a.max() < 176.0, peak_module_a  # under the alarm level of the over-current rows
    assert linked.faults() == []
