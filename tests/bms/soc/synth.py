"""A synthetic module for the SOC tests: 16 equal cells on the BMS's own OCV table, R0 + one RC, hysteresis."""

from __future__ import annotations

import math

import numpy as np

from ml314.bms.parameters import BmsParameters, load_default_parameters
from ml314.bms.soc.common import compile_soc_params, hysteresis_v, ocv_v

CAPACITY_AH = 314.0
R0_OHM = 0.25e-3
R1_OHM = 0.4e-3
TAU1_S = 100.0
GAMMA = 30.0


class SynthModule:
    """True state of one module and the readings the BMS gets (optionally with noise and a current offset)."""

    def __init__(
        self,
        soc: float,
        *,
        hyst: float = 0.0,
        offset_a: float = 0.0,
        noise_v: float = 0.0,
        temperature_c: float = 25.0,
        seed: int = 0,
        params: BmsParameters | None = None,
    ) -> None:
        self.p = compile_soc_params(params or load_default_parameters())
        self.soc = soc
        self.hyst = hyst
        self.v1 = 0.0
        self.offset_a = offset_a
        self.noise_v = noise_v
        self.temperature_c = temperature_c
        self.rng = np.random.default_rng(seed)
        self.current_a = 0.0

    def advance(self, current_a: float, dt_s: float = 1.0) -> None:
        """Flow ``current_a`` (positive charging) for ``dt_s``."""
        self.current_a = current_a
        self.soc = min(max(self.soc + current_a * dt_s / 3600.0 / CAPACITY_AH, 0.0), 1.0)
        e = math.exp(-abs(current_a) * GAMMA * dt_s / (CAPACITY_AH * 3600.0))
        self.hyst = e * self.hyst + (1.0 - e) * float(np.sign(current_a))
        a = math.exp(-dt_s / TAU1_S)
        self.v1 = a * self.v1 + R1_OHM * (1.0 - a) * current_a

    def cell_voltage_v(self) -> float:
        """True cell voltage."""
        return float(ocv_v(self.p, self.soc, self.hyst)) + self.v1 + R0_OHM * self.current_a

    def hysteresis_half_gap_v(self) -> float:
        """M at the present SOC."""
        return float(hysteresis_v(self.p, self.soc))

    def readings(
        self, cell_offsets_v: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """current (1,), cells (1, 16) rounded to 1 mV, NTCs (1, 4), path_open (1,)."""
        v = np.full(16, self.cell_voltage_v())
        if cell_offsets_v is not None:
            v = v + cell_offsets_v
        if self.noise_v > 0.0:
            v = v + self.rng.normal(0.0, self.noise_v, 16)
        cells = np.round(v * 1000.0) / 1000.0
        return (
            np.array([self.current_a + self.offset_a]),
            cells[None, :],
            np.full((1, 4), self.temperature_c),
            np.zeros(1),
        )
