"""One bank's limits from its modules' limit arrays, where no master measures the current share.

The rule is the one of every presenter, :func:`ml314.system.limit_kernel.bank_limits`; without reports of the
modules' currents and resistances its shares are equal, so the current limits are the weakest conducting module's
limit times the number conducting (a conducting module at zero stops the bank in that direction).
"""

from __future__ import annotations

import numpy as np

from ml314.domain.limits import ChargeLimits
from ml314.system.limit_kernel import WORK_ROWS, module_table
from ml314.system.limit_kernel import bank_limits as limits_kernel


def bank_limits(
    cvl_v: np.ndarray,
    dvl_v: np.ndarray,
    ccl_a: np.ndarray,
    dcl_a: np.ndarray,
    online: np.ndarray,
) -> ChargeLimits:
    """Combine the per-module limits, the ``online`` (conducting) ones sharing the current equally."""
    out = np.empty(4)
    n = len(cvl_v)
    zeros = np.zeros(n)
    table = module_table(cvl_v, dvl_v, ccl_a, dcl_a, zeros, zeros, np.asarray(online, dtype=float))
    limits_kernel(table, n, out, np.empty((WORK_ROWS, n)))
    return ChargeLimits(cvl_v=float(out[0]), dvl_v=float(out[1]), ccl_a=float(out[2]), dcl_a=float(out[3]))
