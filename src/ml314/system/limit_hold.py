"""The bank's published current limits, held steady against the current sensors' noise.

:func:`~ml314.system.bank_aggregate.aggregate` follows the *measured* current share, and each module's current
reading carries sensor noise, so the instantaneous bank CCL/DCL wander by a few tenths of a percent every second
while the bank carries current (up to about 1 % with 16 modules). An inverter gains nothing from that wander, and a
status that moves by itself hides the changes that matter. The master therefore publishes a held value:

* each module's share starts from the *model* share (conductance from the learned resistances, else equal shares),
  which no noise reaches, and follows the measured share through a low-pass filter (time constant :data:`TAU_S`,
  updated only while some module carries at least :data:`SHARE_TRUST` of its own limit that way: where the limit
  is near. At low current the modules' OCV differences, not their resistances, set the split, and a low current
  endangers no module). Filtering the shares, not the limit, keeps the
  rule unbiased: the largest of n noisy shares sits above the largest true one, and more so when a busy host makes
  the reports of one round older or younger;
* for :data:`SETTLE_S` after a start the published limit follows the filtered shares, then it holds and moves
  only when the limit of the filtered shares differs from it by more than :data:`DEADBAND` (relative), so noise
  never moves it and a slow drift moves it in a few clear steps;
* a real event passes at once (and starts again): a limit that drops to or rises from zero, a change larger than
  :data:`JUMP` (a protection, a derating step, a module lost), a change of the modules that conduct, or a measured
  share that would lower the limit by more than :data:`JUMP` (a module carrying far more than its filtered share).

So the published limit is at most :data:`DEADBAND` (2 %) above the share-exact one for as long as the filter takes
to follow a slow drift; each module's own BMS still protects the module (its protections trip well above its CCL).
CVL and DVL are exact values of the modules and pass unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ml314.domain.battery_status import BankStatus, ModuleStatus
from ml314.domain.limits import ChargeLimits
from ml314.system.bank_aggregate import MEASURED_SHARE_MIN_A, current_shares, share_limits

__all__ = ["DEADBAND", "JUMP", "SETTLE_S", "SHARE_TRUST", "TAU_S", "LimitHold"]

TAU_S = 5.0  #: time constant of the filter on the measured limit, seconds
SETTLE_S = 5.0 * TAU_S  #: after a start the published limit follows the filter this long, then holds
DEADBAND = 0.02  #: the held limit moves when the filtered one is this far from it (relative)
JUMP = 0.10  #: a change at least this large (relative) is an event and passes at once
SHARE_TRUST = 0.3  #: the measured share counts while some module carries this fraction of its own limit


@dataclass
class _Channel:
    """One current limit (CCL or DCL) in one direction: the modules' filtered shares and the published limit."""

    direction: int
    shares: np.ndarray | None = None
    held_a: float = math.nan
    settle_until_s: float = -math.inf

    def update(self, conducting: Sequence[ModuleStatus], limits_a: np.ndarray, alpha: float, t_s: float) -> float:
        currents = np.array([m.current_a for m in conducting])
        res = np.array([m.resistance_mohm for m in conducting])
        idle = np.zeros(len(conducting))
        if self.shares is None:
            self.shares = current_shares(idle, res, self.direction)  # the model share
        measured = current_shares(currents, res, self.direction)
        # the share matters where the limit is near: at low current the modules' OCV differences, not their
        # resistances, set the split, and a low current endangers no module
        near = float(np.max(self.direction * currents / np.maximum(limits_a, 1e-9))) >= SHARE_TRUST
        if near and self.direction * currents.sum() > MEASURED_SHARE_MIN_A * len(conducting):
            if share_limits(limits_a, measured) < (1.0 - JUMP) * share_limits(limits_a, self.shares):
                self.shares = measured  # a module carries far more than its filtered share: safety first
            else:
                self.shares = self.shares + alpha * (measured - self.shares)
                self.shares = self.shares / self.shares.sum()
        value = share_limits(limits_a, self.shares)
        stopped = value == 0.0 or math.isnan(self.held_a) or self.held_a == 0.0
        if stopped or abs(value - self.held_a) > JUMP * self.held_a:  # a start, or an event (protection, derating)
            self._start(value, t_s)
        elif t_s < self.settle_until_s or abs(value - self.held_a) > DEADBAND * self.held_a:
            self.held_a = value
        return self.held_a

    def _start(self, value_a: float, t_s: float) -> None:
        self.held_a = value_a
        self.settle_until_s = t_s + SETTLE_S


@dataclass
class LimitHold:
    """Holds a bank's CCL and DCL steady (module docstring); one per bank presenter, fed every status it builds."""

    ccl: _Channel = field(default_factory=lambda: _Channel(+1))
    dcl: _Channel = field(default_factory=lambda: _Channel(-1))
    _members: tuple[tuple[int, bool, bool], ...] | None = None
    _t_s: float | None = None

    def apply(self, status: BankStatus, modules: Sequence[ModuleStatus] | None = None) -> BankStatus:
        """``status`` with its current limits held; ``modules`` are those it was aggregated from (default its own)."""
        mods = status.modules if modules is None else modules
        conducting = [m for m in mods if m.charge_mosfet_on or m.discharge_mosfet_on]
        members = tuple((m.address, m.charge_mosfet_on, m.discharge_mosfet_on) for m in conducting)
        if members != self._members:
            self.ccl, self.dcl = _Channel(+1), _Channel(-1)
            self._members = members
        dt = 0.0 if self._t_s is None else max(0.0, status.t_s - self._t_s)
        self._t_s = status.t_s
        lim = status.limits
        if not conducting or (lim.ccl_a == 0.0 and lim.dcl_a == 0.0):
            return status  # nothing conducts, or the bank is stopped (not yet assembled): nothing to hold
        alpha = 1.0 - math.exp(-dt / TAU_S)
        ccl = self.ccl.update(conducting, np.array([m.limits.ccl_a for m in conducting]), alpha, status.t_s)
        dcl = self.dcl.update(conducting, np.array([m.limits.dcl_a for m in conducting]), alpha, status.t_s)
        ccl, dcl = (ccl if lim.ccl_a > 0.0 else 0.0), (dcl if lim.dcl_a > 0.0 else 0.0)
        if ccl == lim.ccl_a and dcl == lim.dcl_a:
            return status
        return replace(status, limits=ChargeLimits(cvl_v=lim.cvl_v, dvl_v=lim.dvl_v, ccl_a=ccl, dcl_a=dcl))
