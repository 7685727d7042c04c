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
CVL and DVL are exact values of the modules and pass unchanged. The rule itself is the array kernel
:func:`ml314.system.limit_kernel.hold_apply` (this class holds its state for the Python presenters).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ml314.domain.battery_status import BankStatus, ModuleStatus
from ml314.domain.limits import ChargeLimits
from ml314.system.bank_aggregate import limit_table
from ml314.system.limit_kernel import DEADBAND, JUMP, SETTLE_S, SHARE_TRUST, TAU_S, WORK_ROWS, hold_apply, new_hold

__all__ = ["DEADBAND", "JUMP", "SETTLE_S", "SHARE_TRUST", "TAU_S", "LimitHold"]


@dataclass
class LimitHold:
    """Holds a bank's CCL and DCL steady (module docstring); one per bank presenter, fed every status it builds.

    The state lives in the arrays of :func:`ml314.system.limit_kernel.hold_apply`, which the compiled bank link
    shares (``arrays``)."""

    arrays: tuple[np.ndarray, np.ndarray, np.ndarray] = field(default_factory=new_hold)

    def apply(self, status: BankStatus, modules: Sequence[ModuleStatus] | None = None) -> BankStatus:
        """``status`` with its current limits held; ``modules`` are those it was aggregated from (default its own)."""
        mods = status.modules if modules is None else modules
        lim = status.limits
        out = np.array([lim.cvl_v, lim.dvl_v, lim.ccl_a, lim.dcl_a])
        state, keys, shares = self.arrays
        n = len(mods)
        hold_apply(state, keys, shares, limit_table(mods), n, out, float(status.t_s), np.empty((WORK_ROWS, n)))
        ccl, dcl = float(out[2]), float(out[3])
        if ccl == lim.ccl_a and dcl == lim.dcl_a:
            return status
        return replace(status, limits=ChargeLimits(cvl_v=lim.cvl_v, dvl_v=lim.dvl_v, ccl_a=ccl, dcl_a=dcl))
