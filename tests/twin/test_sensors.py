"""SensorBank: quantisation, reproducibility, error statistics, NTC lag, fault models."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from numpy.typing import NDArray

from ml314.twin.sensors import N_CELLS, SensorArrays, SensorBank, SensorFault, SensorSpec

FloatArray = NDArray[np.float64]


@dataclasses.dataclass
class Truth:
    cell_v: FloatArray
    terminal_v: FloatArray
    current_a: FloatArray
    cell_t: FloatArray
    mosfet_t: FloatArray
    board_t: FloatArray

    @classmethod
    def uniform(cls, n: int, cell_v: float = 3.3, current_a: float = 0.0, temp_c: float = 25.0) -> Truth:
        return cls(
            cell_v=np.full((n, N_CELLS), cell_v),
            terminal_v=np.full(n, cell_v * N_CELLS),
            current_a=np.full(n, current_a),
            cell_t=np.full((n, N_CELLS), temp_c),
            mosfet_t=np.full(n, temp_c),
            board_t=np.full(n, temp_c),
        )

    def kwargs(self) -> dict[str, FloatArray]:
        return {
            "cell_voltage_v": self.cell_v,
            "terminal_voltage_v": self.terminal_v,
            "current_a": self.current_a,
            "cell_temperature_c": self.cell_t,
            "mosfet_temperature_c": self.mosfet_t,
            "board_temperature_c": self.board_t,
        }


def read(bank: SensorBank, truth: Truth, now_s: float = 0.0, dt_s: float = 1.0) -> SensorArrays:
    return bank.read_arrays(now_s, dt_s, **truth.kwargs())


def ideal_bank(n: int = 2, **overrides: float) -> SensorBank:
    return SensorBank(dataclasses.replace(SensorSpec.ideal(), **overrides), n, seed=1)


def _on_grid(values: FloatArray, resolution: float) -> bool:
    steps = values / resolution
    return bool(np.all(np.abs(steps - np.rint(steps)) < 1e-6))


# --- quantisation and reproducibility ---


def test_every_channel_is_quantised_to_its_resolution() -> None:
    rng = np.random.default_rng(0)
    bank = SensorBank(SensorSpec(), 3, seed=7)
    truth = Truth.uniform(3)
    truth.cell_v = rng.uniform(2.8, 3.6, (3, N_CELLS))
    truth.current_a = rng.uniform(-150, 150, 3)
    truth.cell_t = rng.uniform(10, 40, (3, N_CELLS))
    r = read(bank, truth)
    assert _on_grid(r.cell_voltage_v, 1e-3)
    assert _on_grid(r.pack_voltage_v, 1e-2)
    assert _on_grid(r.current_a, 1e-2)
    for temps in (r.cell_temperature_c, r.mosfet_temperature_c, r.board_temperature_c):
        assert _on_grid(temps, 0.1)


def test_cell_voltage_steps_are_one_millivolt() -> None:
    bank = ideal_bank(1)
    seen = []
    for true_v in np.arange(3.2, 3.21, 0.0001):
        truth = Truth.uniform(1, cell_v=float(true_v))
        seen.append(read(bank, truth).cell_voltage_v[0, 0])
    steps = np.unique(np.round(np.diff(np.unique(seen)), 9))
    assert steps.tolist() == [0.001]
    assert seen[0] == 3.2  # exact decimal, not 3.2000000000000002


def test_same_seed_same_readings_and_different_seed_differs() -> None:
    truth = Truth.uniform(4, cell_v=3.31, current_a=42.0)
    a, b, c = (SensorBank(SensorSpec(), 4, seed=s) for s in (11, 11, 12))
    for step in range(5):
        ra, rb, rc = (read(x, truth, now_s=float(step)) for x in (a, b, c))
        np.testing.assert_array_equal(ra.cell_voltage_v, rb.cell_voltage_v)
        np.testing.assert_array_equal(ra.current_a, rb.current_a)
        np.testing.assert_array_equal(ra.cell_temperature_c, rb.cell_temperature_c)
    assert not np.array_equal(ra.current_a, rc.current_a)


def test_read_builds_readings_matching_read_arrays() -> None:
    truth = Truth.uniform(3, cell_v=3.29, current_a=-80.0, temp_c=30.0)
    arrays = read(SensorBank(SensorSpec(), 3, seed=5), truth, now_s=4.0)
    readings = SensorBank(SensorSpec(), 3, seed=5).read(4.0, 1.0, **truth.kwargs(), module_ids=[7, 8, 9])
    assert [r.module_id for r in readings] == [7, 8, 9]
    for m, r in enumerate(readings):
        assert r.t_s == 4.0
        assert r.cell_voltages_v == tuple(arrays.cell_voltage_v[m])
        assert len(r.cell_voltages_v) == 16 and len(r.cell_temperatures_c) == 4
        assert r.current_a == arrays.current_a[m]
        assert r.pack_voltage_v == arrays.pack_voltage_v[m]
        assert r.mosfet_temperature_c == arrays.mosfet_temperature_c[m]


def test_wrong_shapes_and_id_count_rejected() -> None:
    bank = ideal_bank(2)
    truth = Truth.uniform(3)
    with pytest.raises(ValueError):
        read(bank, truth)
    truth = Truth.uniform(2)
    with pytest.raises(ValueError):
        bank.read(0.0, 1.0, **truth.kwargs(), module_ids=[1])


# --- error statistics ---


def test_noise_free_spec_reads_truth() -> None:
    truth = Truth.uniform(2, cell_v=3.2874, current_a=-12.345, temp_c=21.04)
    r = read(ideal_bank(2), truth)
    assert np.all(r.cell_voltage_v == 3.287)
    assert np.all(r.current_a == -12.35) or np.all(r.current_a == -12.34)
    assert np.all(r.cell_temperature_c == 21.0)
    assert np.all(r.pack_voltage_v == 52.6)


def test_current_offset_is_the_mean_error() -> None:
    n = 6
    bank = SensorBank(SensorSpec(), n, seed=2024)
    offset = bank.current_offset_a
    gain = bank.current_gain_error
    assert np.all(np.abs(offset) <= 0.2)
    assert len(set(offset.tolist())) == n  # drawn per unit
    assert np.all(np.abs(gain) < 0.05)  # 0.5 % sigma, 10 sigma bound
    for true_a in (0.0, 100.0, -150.0):
        truth = Truth.uniform(n, current_a=true_a)
        reads = np.array([read(bank, truth, now_s=float(k)).current_a for k in range(4000)])
        mean_error = reads.mean(axis=0) - true_a
        # noise 0.1 A over 4000 reads: standard error 1.6 mA; 10 mA is > 6 sigma
        np.testing.assert_allclose(mean_error, offset + gain * true_a, atol=0.01)
        assert reads.std(axis=0) == pytest.approx(np.full(n, 0.1), rel=0.1)


def test_cell_voltage_noise_and_gain() -> None:
    bank = SensorBank(SensorSpec(), 1, seed=3)
    truth = Truth.uniform(1, cell_v=3.3)
    reads = np.array([read(bank, truth).cell_voltage_v[0] for _ in range(3000)])
    expected = 3.3 * (1.0 + bank.cell_voltage_gain_error[0])
    np.testing.assert_allclose(reads.mean(axis=0), expected, atol=1e-4)
    # 1 mV noise plus uniform 1 mV quantisation: sqrt(1 + 1/12) mV
    np.testing.assert_allclose(reads.std(axis=0), math.sqrt(1 + 1 / 12) * 1e-3, rtol=0.1)


# --- NTC lag ---


@pytest.mark.parametrize("dt_s", [0.5, 1.0, 7.3])
def test_ntc_lag_is_exact_first_order_step_response(dt_s: float) -> None:
    tau = 30.0
    bank = ideal_bank(1, ntc_resolution_c=1e-9)
    read(bank, Truth.uniform(1, temp_c=20.0), now_s=0.0)  # equilibrium at 20 degC
    hot = Truth.uniform(1, temp_c=50.0)
    t = 0.0
    while t < 120.0:
        t += dt_s
        r = read(bank, hot, now_s=t, dt_s=dt_s)
        expected = 50.0 - 30.0 * math.exp(-t / tau)
        assert r.cell_temperature_c[0, 0] == pytest.approx(expected, abs=1e-6)
        assert r.mosfet_temperature_c[0] == pytest.approx(expected, abs=1e-6)
        assert r.board_temperature_c[0] == pytest.approx(expected, abs=1e-6)


def test_each_ntc_reads_the_mean_of_its_four_cells() -> None:
    bank = ideal_bank(1, ntc_resolution_c=1e-9)
    truth = Truth.uniform(1)
    truth.cell_t = np.arange(16, dtype=float).reshape(1, 16)
    r = read(bank, truth)
    np.testing.assert_allclose(r.cell_temperature_c[0], [1.5, 5.5, 9.5, 13.5])


def test_ntc_offsets_drawn_and_applied() -> None:
    bank = SensorBank(dataclasses.replace(SensorSpec(), ntc_noise_c=0.0, ntc_resolution_c=1e-9), 2, seed=9)
    r = read(bank, Truth.uniform(2, temp_c=25.0))
    offsets = bank.ntc_offset_c
    np.testing.assert_allclose(r.cell_temperature_c, 25.0 + offsets[:, :4])
    np.testing.assert_allclose(r.mosfet_temperature_c, 25.0 + offsets[:, 4])
    assert np.all(np.abs(offsets) < 3.0) and np.any(offsets != 0.0)


# --- faults ---


def test_offset_fault_adds_value() -> None:
    bank = ideal_bank(2)
    bank.inject(SensorFault(module_index=1, channel="current", kind="offset", value=1.5), now_s=0.0)
    r = read(bank, Truth.uniform(2, current_a=10.0))
    assert r.current_a.tolist() == [10.0, 11.5]


def test_drift_fault_adds_value_per_second_since_injection() -> None:
    bank = ideal_bank(1)
    truth = Truth.uniform(1, cell_v=3.3)
    bank.inject(SensorFault(module_index=0, channel="cell_voltage", index=3, kind="drift", value=1e-3), 100.0)
    for t, expected in ((100.0, 3.3), (110.0, 3.31), (150.0, 3.35)):
        r = read(bank, truth, now_s=t)
        assert r.cell_voltage_v[0, 3] == pytest.approx(expected, abs=1e-9)
        assert r.cell_voltage_v[0, 2] == 3.3


def test_stuck_holds_value_read_at_injection() -> None:
    bank = ideal_bank(1)
    read(bank, Truth.uniform(1, cell_v=3.3, temp_c=25.0), now_s=0.0)
    bank.inject(SensorFault(module_index=0, channel="cell_voltage", index=0, kind="stuck"), now_s=1.0)
    bank.inject(SensorFault(module_index=0, channel="pack_voltage", kind="stuck", value=48.0), now_s=1.0)
    r = read(bank, Truth.uniform(1, cell_v=3.5), now_s=2.0)
    assert r.cell_voltage_v[0, 0] == 3.3
    assert r.cell_voltage_v[0, 1] == 3.5
    assert r.pack_voltage_v[0] == 48.0


def test_stuck_before_any_read_holds_first_read() -> None:
    bank = ideal_bank(1)
    bank.inject(SensorFault(module_index=0, channel="temperature", index=2, kind="stuck"), now_s=0.0)
    read(bank, Truth.uniform(1, temp_c=25.0), now_s=0.0)
    r = read(bank, Truth.uniform(1, temp_c=60.0), now_s=1000.0, dt_s=1000.0)
    assert r.cell_temperature_c[0].tolist() == [60.0, 60.0, 25.0, 60.0]


@pytest.mark.parametrize("cell", [0, 7, 14])
def test_open_wire_cell_reads_zero_and_neighbour_reads_the_sum(cell: int) -> None:
    bank = ideal_bank(1)
    truth = Truth.uniform(1)
    truth.cell_v = np.linspace(3.2, 3.35, 16).reshape(1, 16)
    bank.inject(SensorFault(module_index=0, channel="cell_voltage", index=cell, kind="open_wire"), 0.0)
    r = read(bank, truth).cell_voltage_v[0]
    v = truth.cell_v[0]
    assert r[cell] == 0.0
    assert r[cell + 1] == pytest.approx(v[cell] + v[cell + 1], abs=1e-3)
    others = [i for i in range(16) if i not in (cell, cell + 1)]
    np.testing.assert_allclose(r[others], v[others], atol=6e-4)
    assert r.sum() == pytest.approx(v.sum(), abs=2e-3)


def test_open_wire_with_residual_and_on_top_cell() -> None:
    bank = ideal_bank(1)
    bank.inject(SensorFault(module_index=0, channel="cell_voltage", index=4, kind="open_wire", value=0.4), 0.0)
    bank.inject(SensorFault(module_index=0, channel="cell_voltage", index=15, kind="open_wire"), 0.0)
    r = read(bank, Truth.uniform(1, cell_v=3.3)).cell_voltage_v[0]
    assert r[4] == 0.4
    assert r[5] == pytest.approx(6.2)
    assert r[15] == 0.0
    assert r[14] == 3.3


@pytest.mark.parametrize(
    ("channel", "index"),
    [("temperature", 0), ("temperature", 3), ("mosfet_temperature", 0), ("board_temperature", 0)],
)
def test_open_ntc_reads_minus_forty(channel: str, index: int) -> None:
    bank = SensorBank(SensorSpec(), 1, seed=4)  # noisy spec: the open input still reads the rail exactly
    bank.inject(SensorFault(module_index=0, channel=channel, index=index, kind="open_wire"), 0.0)  # type: ignore[arg-type]
    r = read(bank, Truth.uniform(1, temp_c=30.0))
    readings = {
        "temperature": r.cell_temperature_c[0, index],
        "mosfet_temperature": r.mosfet_temperature_c[0],
        "board_temperature": r.board_temperature_c[0],
    }
    assert readings[channel] == -40.0
    assert all(abs(v - 30.0) < 3.0 for k, v in readings.items() if k != channel)


def test_open_current_sense_reads_only_its_offset() -> None:
    bank = SensorBank(dataclasses.replace(SensorSpec(), current_noise_a=0.0, current_resolution_a=1e-6), 1, seed=8)
    bank.inject(SensorFault(module_index=0, channel="current", kind="open_wire"), 0.0)
    r = read(bank, Truth.uniform(1, current_a=120.0))
    assert r.current_a[0] == pytest.approx(bank.current_offset_a[0], abs=1e-6)


def test_clear_and_active_faults() -> None:
    bank = ideal_bank(3)
    f0 = SensorFault(module_index=0, channel="current", kind="offset", value=1.0)
    f2 = SensorFault(module_index=2, channel="current", kind="offset", value=2.0)
    bank.inject(f0, 0.0)
    bank.inject(f2, 0.0)
    faults: tuple[SensorFault, ...] = bank.active_faults
    assert faults == (f0, f2)
    bank.clear(module_index=0)
    faults = bank.active_faults
    assert faults == (f2,)
    assert read(bank, Truth.uniform(3)).current_a.tolist() == [0.0, 0.0, 2.0]
    bank.clear()
    faults = bank.active_faults
    assert faults == ()
    assert read(bank, Truth.uniform(3)).current_a.tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    "fault",
    [
        SensorFault(module_index=2, channel="current", kind="offset"),
        SensorFault(module_index=0, channel="cell_voltage", index=16, kind="offset"),
        SensorFault(module_index=0, channel="temperature", index=4, kind="stuck"),
        SensorFault(module_index=0, channel="current", index=1, kind="stuck"),
    ],
)
def test_invalid_fault_rejected(fault: SensorFault) -> None:
    with pytest.raises(ValueError):
        ideal_bank(2).inject(fault, 0.0)


def test_spec_rejects_zero_resolution_or_tau() -> None:
    with pytest.raises(ValueError):
        SensorSpec(cell_voltage_resolution_v=0.0)
    with pytest.raises(ValueError):
        SensorSpec(ntc_tau_s=0.0)
