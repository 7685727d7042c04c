"""The whole bank across a restart: each module's BMS memory and the battery itself, in one store file.

What is kept (``bms_store.py`` gives the file its crash guarantees: temp file, fsync, atomic replace, a verified
backup, a checksum):

* the BMS's non-volatile memory, through :meth:`Bms.export_state` as whole arrays, so columns the estimator or
  the limiter add later are carried without a change here: the SOC estimator's state (SOC, learned capacity,
  resistance, offsets), the protection rows' lockouts and latches, the limiter's full-charge bookkeeping, the
  balancer's plan; beside it the event log and the lifetime counters;
* the battery's physical state (the twin is the battery, and a battery keeps its charge when its BMS restarts):
  every cell's state (SOC, hysteresis, RC voltages, temperature, throughput), the module temperatures, the
  cells' ageing, and the simulated clock, so time-stamped memory (last full charge, lockout windows) stays right.

What is not kept: what a restart rebuilds (MOSFETs, the state machines start as after power-on, with latched
faults taking them back to FAULT at the first step), the links, and the cells' spread, which the seed redraws.
The bank's shape (modules, seed, module capacities) is stored, and a store for another shape is refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ml314.bms.bms import Bms
from ml314.bms.events import Event
from ml314.errors import ConfigError, InputError
from ml314.storage.bms_store import StoredBms, load_bms_state, save_bms_state
from ml314.twin.ageing import AgeingState
from ml314.twin.bank import Bank

__all__ = ["BankShape", "capture", "clock_text", "load_bank_state", "restore", "save_bank_state"]

FORMAT = "ml314.bank_state"
VERSION = 1


@dataclass(frozen=True, slots=True)
class BankShape:
    """What makes a saved bank the same bank: modules, the seed of the cells' spread, each module's capacity."""

    modules: int
    seed: int
    capacity_ah: tuple[float, ...] | None = None

    def record(self) -> dict[str, Any]:
        return {"modules": self.modules, "seed": self.seed, "capacity_ah": self.capacity_ah}

    def check(self, saved: Any, where: Path) -> None:
        """Raise :class:`ConfigError` unless ``saved`` (a stored record) is this shape."""
        if not isinstance(saved, dict):
            raise ConfigError(f"{where}: the bank's shape is missing")
        cap = saved.get("capacity_ah")
        other = BankShape(int(saved.get("modules", 0)), int(saved.get("seed", 0)), None if cap is None else tuple(cap))
        if other != self:
            raise ConfigError(
                f"{where}: saved for {_describe(other)}, not {_describe(self)}; give the same options, or start over "
                "(--fresh for ml314 run)"
            )


def _describe(s: BankShape) -> str:
    cap = "" if s.capacity_ah is None else " of " + ",".join(f"{c:g}" for c in s.capacity_ah) + " Ah"
    return f"{s.modules} module(s){cap} with seed {s.seed}"


def clock_text(t_s: float) -> str:
    """Simulated time as ``[Nd ]HH:MM:SS``."""
    t = int(t_s)
    days = f"{t // 86400}d " if t >= 86400 else ""
    return f"{days}{t // 3600 % 24:02d}:{t // 60 % 60:02d}:{t % 60:02d}"


def capture(bank: Bank, bms: Bms | None, shape: BankShape) -> dict[str, Any]:
    """The state dict to store: the bank's shape, its clock, the BMS memory (if a BMS runs) and the twin."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "shape": shape.record(),
        "step_index": bank.step_index,
        "dt_s": bank.dt_s,
        "bms": None if bms is None else bms.export_state(),
        "twin": {
            "cell_state": bank.cell_state,
            "mod_state": bank.mod_state,
            "calendar_fade": bank.ageing.calendar_fade,
            "cycle_fade": bank.ageing.cycle_fade,
            "counted_abs_charge_as": bank.ageing.counted_abs_charge_as,
        },
    }


def save_bank_state(path: Path, bank: Bank, bms: Bms | None, shape: BankShape) -> None:
    """Store the bank in ``path`` (atomically, with a verified backup of the previous store)."""
    t_s = bank.step_index * bank.dt_s
    if bms is None:
        from ml314.bms.events import Counters, EventLog  # noqa: PLC0415 - only for a bank without a BMS

        save_bms_state(path, EventLog(), Counters(bank.n_modules), capture(bank, None, shape), t_s)
    else:
        save_bms_state(path, bms.events, bms.counters, capture(bank, bms, shape), t_s)


def load_bank_state(path: Path, shape: BankShape, *, on_error: str = "empty") -> StoredBms:
    """The stored bank in ``path`` (else its backup; see :func:`load_bms_state`), its shape checked; ``source`` is
    ``"empty"`` when nothing usable was saved (or :class:`InputError` with ``on_error="raise"``)."""
    stored = load_bms_state(path, shape.modules, on_error="raise" if on_error == "raise" else "empty")
    if stored.source != "empty":
        state = stored.state
        if state.get("format") != FORMAT:
            raise InputError(f"{path}: holds no bank state (an older ml314 saved only the SOC); start over")
        shape.check(state.get("shape"), path)
    return stored


def restore(bank: Bank, bms: Bms | None, stored: StoredBms) -> None:
    """Put a stored bank (from :func:`load_bank_state`) back into ``bank`` and ``bms``, built with the same shape;
    the BMS gets the stored log and counters and an event saying it was restored."""
    state = stored.state
    twin = state["twin"]
    _assign(bank.cell_state, twin["cell_state"], "twin.cell_state")
    _assign(bank.mod_state, twin["mod_state"], "twin.mod_state")
    shape = bank.cell_state.shape[1:]
    parts = [np.asarray(twin[k], dtype=float) for k in ("calendar_fade", "cycle_fade", "counted_abs_charge_as")]
    if any(p.shape != shape for p in parts):
        raise ConfigError(f"saved bank state: ageing has shape {parts[0].shape}, expected {shape}")
    bank.ageing = AgeingState(*parts)
    if float(bank.ageing.fade.max()) > 0.0:
        bank.age(0.0)  # apply the stored fade to the cells' capacity and resistance (no time passes)
    bank.step_index = int(state["step_index"])
    if bms is not None:
        if state.get("bms") is None:
            raise ConfigError("saved bank state was written without a BMS; run with the BMS or start over")
        bms.import_state(state["bms"], stored.events, stored.counters)
        t_s = bank.step_index * bank.dt_s
        saved = "" if math.isnan(stored.saved_t_s) else f" saved at t {clock_text(stored.saved_t_s)}"
        bms.events.append(
            Event(t_s, 0, "info", "store.restored", action="restored",
                  message=f"BMS memory and battery state restored from the {stored.source} store{saved}.")
        )  # fmt: skip


def _assign(target: np.ndarray, value: Any, name: str) -> None:
    array = np.asarray(value, dtype=float)
    if array.shape != target.shape:
        raise ConfigError(f"saved bank state: {name} has shape {array.shape}, expected {target.shape}")
    target[...] = array
