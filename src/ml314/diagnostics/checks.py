"""The record of one commissioning check or caution, and the installation facts the checks read (pure).

A :class:`Check` is the outcome of one rule at one moment: pass, warn, fail, or skip (could not be checked, and the
evidence says why), with the evidence (values, IDs, frames) and the manual's instruction. It is the commissioning
procedure's own record, not a chapter-12 finding: a check also says what is right (pass), which a finding never does.

:class:`Installation` holds what the checks read, gathered by the caller from a running system (its API) or a data
dir: every module's facts, the protocols selected, what the detective heard, the system's own faults.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from ml314.diagnostics.detective import Identification
from ml314.protocols.registry import Entry

__all__ = ["Check", "Installation", "ModuleFacts", "Result", "worst"]


class Result(enum.Enum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"  # not checked: the evidence says what was missing


_RANK = {Result.SKIP: 0, Result.PASS: 1, Result.WARN: 2, Result.FAIL: 3}


@dataclass(frozen=True, slots=True)
class Check:
    """One check: ``key`` (stable, for machines), ``title``, ``result``, ``evidence`` (one line each),
    ``instruction`` (what to do, in the manual's words where it has them), ``manual_ref`` (section), and the
    module IDs it concerns (empty: the bank)."""

    key: str
    title: str
    result: Result
    evidence: tuple[str, ...]
    instruction: str
    manual_ref: str
    module_ids: tuple[int, ...] = ()


def worst(checks: Iterable[Check]) -> Result:
    """The most serious result (FAIL over WARN over PASS over SKIP); SKIP for no checks."""
    return max((c.result for c in checks), key=_RANK.__getitem__, default=Result.SKIP)


@dataclass(frozen=True, slots=True)
class ModuleFacts:
    """One module as the checks see it. ``position`` is its place in the daisy chain (1 = first); ``module_id`` the
    DIP ID its BMS read; identity fields are None where the source does not carry them."""

    position: int
    module_id: int
    termination_on: bool
    powered: bool
    online: bool
    serial: str
    soc_pct: float
    soh_pct: float
    current_a: float
    cell_voltages_v: tuple[float, ...]
    temperatures_c: tuple[float, ...]  # board, cells 1-4 .. 13-16, MOSFET (Pylon order, as ModuleStatus)
    state: str = ""
    alarms: tuple[str, ...] = ()
    protections: tuple[str, ...] = ()
    firmware: str | None = None
    model: str | None = None

    @property
    def cell_spread_v(self) -> float | None:
        cells = self.cell_voltages_v
        return max(cells) - min(cells) if cells else None

    @property
    def cell_temperatures_c(self) -> tuple[float, ...]:
        return self.temperatures_c[1:-1] if len(self.temperatures_c) > 2 else self.temperatures_c


@dataclass(frozen=True, slots=True)
class Installation:
    """What the commissioning checks and the cautions read (see the module docstring).

    ``can_heard``/``rs485_heard`` are None when nobody listened on that transport; ``system_faults`` are the
    running system's faults by kind (``bank_mix``, ``wiring``, ...) with the module they name; ``max_soc_pct`` is
    the highest SOC the history holds since the start (None: no history); ``wiring_known`` says whether IDs and
    switch 8 are the modules' own (a live system) rather than unknown (a data dir without a run).
    """

    modules: tuple[ModuleFacts, ...]
    can_protocol: Entry | None = None
    rs485_protocol: Entry | None = None
    can_heard: Identification | None = None
    rs485_heard: Identification | None = None
    system_faults: tuple[tuple[str, str, int | None], ...] = ()  # (kind value, details, module ID or None)
    max_soc_pct: float | None = None
    wiring_known: bool = True
    firmware: str | None = None  # the master's firmware (the bank's)
    model: str | None = None

    def faults_of(self, kind: str) -> tuple[str, ...]:
        """The details of the system's faults of ``kind`` (a SystemFaultKind value such as ``bank_mix``)."""
        return tuple(text for k, text, _ in self.system_faults if k == kind)

    def fault_modules(self, kind: str) -> tuple[int, ...]:
        """The module IDs the faults of ``kind`` name."""
        return tuple(sorted({m for k, _, m in self.system_faults if k == kind and m is not None}))
