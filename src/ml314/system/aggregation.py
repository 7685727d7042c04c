"""One bank's limits from its modules' limits.

Conservative rule until the parallel-bank work refines it with the real current share: the bank's CVL is the
lowest CVL of the modules that conduct, its DVL the highest DVL, and its current limits are the weakest module's
limit times the number of modules carrying current (a module at zero stops the bank in that direction).
"""

from __future__ import annotations

import numpy as np

from ml314.domain.limits import ChargeLimits


def bank_limits(
    cvl_v: np.ndarray,
    dvl_v: np.ndarray,
    ccl_a: np.ndarray,
    dcl_a: np.ndarray,
    online: np.ndarray,
) -> ChargeLimits:
    """Combine the per-module limits of the ``online`` modules; no module online gives zero currents."""
    on = np.asarray(online, dtype=bool)
    if not on.any():
        return ChargeLimits(cvl_v=float(np.min(cvl_v)), dvl_v=float(np.max(dvl_v)) - 1e-3, ccl_a=0.0, dcl_a=0.0)
    n = int(on.sum())
    cvl = float(np.min(cvl_v[on]))
    dvl = min(float(np.max(dvl_v[on])), cvl - 1e-3)
    return ChargeLimits(
        cvl_v=cvl,
        dvl_v=dvl,
        ccl_a=max(0.0, float(np.min(ccl_a[on]))) * n,
        dcl_a=max(0.0, float(np.min(dcl_a[on]))) * n,
    )
