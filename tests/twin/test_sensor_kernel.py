"""The compiled sensor kernel against SensorBank: same readings, same faults, same statistics, same seeds."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from ml314.twin.sensor_kernel import (
    F_COLS,
    F_HELD,
    N_NOISE,
    N_NTC_STATE,
    CompiledSensors,
    calibrate,
    fault_row,
    read_sensors,
)
from ml314.twin.sensors import N_CELLS, SensorArrays, SensorBank, SensorFault, SensorSpec

FloatArray = NDArray[np.float64]
FIELDS = (
    "cell_voltage_v",
    "pack_voltage_v",
    "current_a",
    "cell_temperature_c",
    "mosfet_temperature_c",
    "board_temperature_c",
)
NOISE_FREE = dataclasses.replace(
    SensorSpec(), cell_voltage_noise_v=0.0, pack_voltage_noise_v=0.0, current_noise_a=0.0, ntc_noise_c=0.0
)


def random_truth(rng: np.random.Generator, n: int) -> dict[str, FloatArray]:
    return {
        "cell_voltage_v": rng.uniform(2.8, 3.6, (n, N_CELLS)),
        "terminal_voltage_v": rng.uniform(45.0, 57.0, n),
        "current_a": rng.uniform(-150.0, 150.0, n),
        "cell_temperature_c": rng.uniform(0.0, 50.0, (n, N_CELLS)),
        "mosfet_temperature_c": rng.uniform(0.0, 80.0, n),
        "board_temperature_c": rng.uniform(0.0, 80.0, n),
    }


def constant_truth(n: int, current_a: float = 20.0) -> dict[str, FloatArray]:
    return {
        "cell_voltage_v": np.full((n, N_CELLS), 3.3),
        "terminal_voltage_v": np.full(n, 52.8),
        "current_a": np.full(n, current_a),
        "cell_temperature_c": np.full((n, N_CELLS), 25.0),
        "mosfet_temperature_c": np.full(n, 30.0),
        "board_temperature_c": np.full(n, 28.0),
    }


def assert_same(a: SensorArrays, b: SensorArrays) -> None:
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def run_both(
    spec: SensorSpec,
    n: int,
    seed: int,
    steps: int,
    faults: dict[int, list[SensorFault]],
    *,
    chunk_steps: int = 7,
    dt_s: float = 1.0,
) -> list[tuple[SensorArrays, SensorArrays]]:
    bank = SensorBank(spec, n, seed)
    compiled = CompiledSensors(spec, n, seed, chunk_steps=chunk_steps)
    rng = np.random.default_rng(seed + 1000)
    pairs = []
    for k in range(steps):
        now_s = k * dt_s
        for f in faults.get(k, []):
            bank.inject(f, now_s)
            compiled.inject(f, now_s)
        truth = random_truth(rng, n)
        pairs.append((bank.read_arrays(now_s, dt_s, **truth), compiled.read(now_s, dt_s, **truth)))
    return pairs


# --- agreement with SensorBank ---


def test_noise_free_models_agree_exactly() -> None:
    for a, b in run_both(NOISE_FREE, 4, seed=3, steps=30, faults={}):
        assert_same(a, b)


@pytest.mark.parametrize("chunk_steps", [1, 7, 1024])
def test_noisy_models_agree_bit_for_bit_with_the_same_seed(chunk_steps: int) -> None:
    for a, b in run_both(SensorSpec(), 16, seed=11, steps=40, faults={}, chunk_steps=chunk_steps):
        assert_same(a, b)


@settings(deadline=None, max_examples=25)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 16),
    dt_s=st.sampled_from([0.1, 1.0, 30.0]),
)
def test_any_seed_and_size_agree(seed: int, n: int, dt_s: float) -> None:
    for a, b in run_both(SensorSpec(), n, seed, steps=5, faults={}, dt_s=dt_s):
        assert_same(a, b)


def test_noise_statistics_agree_with_independent_noise() -> None:
    """Same calibration, independent noise streams: per-channel mean and std agree within sampling error."""
    n, reads = 2, 4000
    spec = SensorSpec()
    bank = SensorBank(spec, n, seed=5)
    compiled = CompiledSensors(spec, n, seed=5)
    compiled.calibration.rng = np.random.default_rng(999)
    truth = constant_truth(n)
    a = [bank.read_arrays(float(k), 1.0, **truth) for k in range(reads)]
    b = [compiled.read(float(k), 1.0, **truth) for k in range(reads)]
    for name, sigma in (("cell_voltage_v", 1e-3), ("pack_voltage_v", 20e-3), ("current_a", 0.1)):
        xa = np.stack([getattr(r, name) for r in a])
        xb = np.stack([getattr(r, name) for r in b])
        assert np.all(np.abs(xa.mean(axis=0) - xb.mean(axis=0)) < 6.0 * sigma / np.sqrt(reads)), name
        assert np.allclose(xa.std(axis=0), xb.std(axis=0), rtol=0.1), name
        assert np.allclose(xb.std(axis=0), sigma, rtol=0.15), name


def test_same_seed_same_readings_and_different_seed_differs() -> None:
    truth = constant_truth(3)
    r1 = [CompiledSensors(SensorSpec(), 3, seed=4).read(0.0, 1.0, **truth) for _ in range(2)]
    assert_same(r1[0], r1[1])
    other = CompiledSensors(SensorSpec(), 3, seed=5).read(0.0, 1.0, **truth)
    assert not np.array_equal(r1[0].cell_voltage_v, other.cell_voltage_v)


# --- faults ---

FAULTS = [
    SensorFault(module_index=1, channel="cell_voltage", index=4, kind="open_wire"),
    SensorFault(module_index=1, channel="cell_voltage", index=15, kind="open_wire"),
    SensorFault(module_index=0, channel="cell_voltage", index=7, kind="open_wire", value=0.4),
    SensorFault(module_index=0, channel="pack_voltage", kind="open_wire"),
    SensorFault(module_index=2, channel="current", kind="open_wire"),
    SensorFault(module_index=2, channel="temperature", index=2, kind="open_wire"),
    SensorFault(module_index=2, channel="mosfet_temperature", kind="open_wire"),
    SensorFault(module_index=2, channel="board_temperature", kind="open_wire"),
    SensorFault(module_index=0, channel="cell_voltage", index=0, kind="stuck"),
    SensorFault(module_index=0, channel="temperature", index=1, kind="stuck", value=80.0),
    SensorFault(module_index=1, channel="current", kind="drift", value=0.05),
    SensorFault(module_index=1, channel="cell_voltage", index=9, kind="drift", value=1e-3),
    SensorFault(module_index=2, channel="pack_voltage", kind="offset", value=1.5),
    SensorFault(module_index=0, channel="board_temperature", kind="offset", value=-3.0),
]


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f"{f.kind}-{f.channel}-{f.index}")
@pytest.mark.parametrize("spec", [SensorSpec(), SensorSpec.ideal()], ids=["noisy", "ideal"])
def test_each_fault_behaves_as_in_sensorbank(fault: SensorFault, spec: SensorSpec) -> None:
    for a, b in run_both(spec, 3, seed=8, steps=12, faults={4: [fault]}):
        assert_same(a, b)


def test_faults_combined_and_cleared_as_in_sensorbank() -> None:
    bank = SensorBank(SensorSpec(), 3, seed=2)
    compiled = CompiledSensors(SensorSpec(), 3, seed=2)
    rng = np.random.default_rng(0)
    for k in range(30):
        if k == 3:
            for f in FAULTS:
                bank.inject(f, float(k))
                compiled.inject(f, float(k))
        if k == 20:
            bank.clear(1)
            compiled.clear(1)
        if k == 25:
            bank.clear()
            compiled.clear()
        assert compiled.active_faults == bank.active_faults
        truth = random_truth(rng, 3)
        assert_same(bank.read_arrays(float(k), 1.0, **truth), compiled.read(float(k), 1.0, **truth))


def test_open_wire_cell_reads_zero_and_neighbour_the_sum() -> None:
    sensors = CompiledSensors(SensorSpec.ideal(), 1, seed=0)
    sensors.inject(SensorFault(module_index=0, channel="cell_voltage", index=5, kind="open_wire"), 0.0)
    truth = constant_truth(1)
    truth["cell_voltage_v"][0, 5:7] = (3.301, 3.305)
    r = sensors.read(0.0, 1.0, **truth)
    assert r.cell_voltage_v[0, 5] == 0.0
    assert r.cell_voltage_v[0, 6] == pytest.approx(6.606)


def test_open_ntc_reads_minimum_without_noise() -> None:
    sensors = CompiledSensors(SensorSpec(), 1, seed=0)
    sensors.inject(SensorFault(module_index=0, channel="temperature", index=3, kind="open_wire"), 0.0)
    r = sensors.read(0.0, 1.0, **constant_truth(1))
    assert r.cell_temperature_c[0, 3] == -40.0


def test_scheduled_fault_rows_act_from_their_injection_time() -> None:
    """A table row injected ahead acts only from its time; a stuck row holds the last read before it."""
    n = 1
    spec = SensorSpec.ideal()
    cal = calibrate(spec, n, seed=0)
    faults = np.stack(
        [
            fault_row(SensorFault(module_index=0, channel="current", kind="offset", value=2.0), 5.0, n),
            fault_row(SensorFault(module_index=0, channel="cell_voltage", index=2, kind="stuck"), 5.0, n),
        ]
    )
    assert faults.shape == (2, F_COLS)
    noise = np.zeros((1, n, N_NOISE))
    state = np.full((n, N_NTC_STATE), np.nan)
    out = [np.empty((n, N_CELLS)), np.empty(n), np.empty(n), np.empty((n, 4)), np.empty(n), np.empty(n)]
    truth = constant_truth(n, current_a=10.0)
    seen = []
    for k in range(10):
        truth["cell_voltage_v"][0, 2] = 3.300 + 0.001 * k
        read_sensors(
            cal.gain_factor,
            cal.offset,
            cal.channel_par,
            cal.ntc_tau_s,
            cal.ntc_min_c,
            faults,
            noise,
            0,
            float(k),
            1.0,
            truth["cell_voltage_v"],
            truth["terminal_voltage_v"],
            truth["current_a"],
            truth["cell_temperature_c"],
            truth["mosfet_temperature_c"],
            truth["board_temperature_c"],
            state,
            *out,
        )
        seen.append((float(out[2][0]), float(out[0][0, 2])))
    assert [c for c, _ in seen] == [10.0] * 5 + [12.0] * 5
    assert [v for _, v in seen[:5]] == pytest.approx([3.300, 3.301, 3.302, 3.303, 3.304])
    assert [v for _, v in seen[5:]] == pytest.approx([3.304] * 5)
    assert faults[1, F_HELD] == pytest.approx(3.304)


def test_ntc_lag_state_nan_row_starts_at_equilibrium() -> None:
    sensors = CompiledSensors(SensorSpec.ideal(), 2, seed=0)
    truth = constant_truth(2)
    sensors.read(0.0, 1.0, **truth)
    np.testing.assert_allclose(sensors.ntc_state[:, :4], 25.0)
    truth["cell_temperature_c"][:] = 35.0
    r = sensors.read(30.0, 30.0, **truth)  # one time constant: 1 - 1/e of the step
    np.testing.assert_allclose(r.cell_temperature_c, 25.0 + 10.0 * (1.0 - np.exp(-1.0)), atol=0.05)


@pytest.mark.parametrize(
    "fault",
    [
        SensorFault(module_index=3, channel="current", kind="offset"),
        SensorFault(module_index=0, channel="cell_voltage", index=16, kind="offset"),
        SensorFault(module_index=0, channel="temperature", index=4, kind="stuck"),
        SensorFault(module_index=0, channel="current", index=1, kind="stuck"),
    ],
)
def test_invalid_fault_rejected(fault: SensorFault) -> None:
    with pytest.raises(ValueError):
        CompiledSensors(SensorSpec(), 3, seed=0).inject(fault, 0.0)


def test_wrong_shapes_and_sizes_rejected() -> None:
    with pytest.raises(ValueError):
        CompiledSensors(SensorSpec(), 0, seed=0)
    truth = constant_truth(2)
    with pytest.raises(ValueError):
        CompiledSensors(SensorSpec(), 3, seed=0).read(0.0, 1.0, **truth)
