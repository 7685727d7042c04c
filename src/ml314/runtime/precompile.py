"""Compile and cache every numba kernel once, and tell cheaply whether a start still has to compile.

The kernels are compiled with ``cache=True``: numba writes each compiled kernel next to its source
(``__pycache__/<module>.<function>-<line>.pyXY.nbi``/``.nbc``) and a later process loads it in milliseconds instead
of compiling for a minute or more. ``python -m ml314.runtime.precompile`` (the install step of ``make run`` and
``make test``) runs every engine once on a tiny problem, so every kernel is compiled with the types the engines use.

:func:`cache_is_warm` only looks at file names and times (no numba import): every source file with a cached kernel
must have a cache index at least as new as itself; otherwise the start announces that it compiles.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["COMPILING_NOTICE", "cache_is_warm", "kernel_sources", "main", "precompile"]

COMPILING_NOTICE = "compiling the battery model (first start only)..."
_PACKAGE = Path(__file__).resolve().parent.parent
_KERNEL_PACKAGES = ("twin", "bms", "system")


def kernel_sources(package: Path = _PACKAGE) -> list[Path]:
    """The source files that define cached numba kernels."""
    out = []
    for sub in _KERNEL_PACKAGES:
        for path in sorted((package / sub).rglob("*.py")):
            try:
                if "cache=True" in path.read_text(encoding="utf-8"):
                    out.append(path)
            except OSError:
                continue
    return out


def cache_is_warm(package: Path = _PACKAGE) -> bool:
    """Whether every kernel source has a cache index no older than itself (a cold or stale cache compiles)."""
    if os.environ.get("NUMBA_CACHE_DIR") or os.environ.get("NUMBA_DISABLE_JIT"):
        return True  # elsewhere, or no compilation at all: nothing we can tell cheaply
    tag = f"py{sys.version_info.major}{sys.version_info.minor}"
    for source in kernel_sources(package):
        try:
            mtime = source.stat().st_mtime
            indexes = list((source.parent / "__pycache__").glob(f"{source.stem}.*.{tag}.nbi"))
            if not indexes or min(p.stat().st_mtime for p in indexes) < mtime:
                return False
        except OSError:
            return False
    return True


def precompile(echo: bool = True) -> float:
    """Run every engine once on a tiny problem so every kernel is compiled and cached; return the seconds taken."""
    from ml314.bms.parameters import load_default_parameters  # noqa: PLC0415
    from ml314.bms.soc import SOC_ESTIMATORS  # noqa: PLC0415
    from ml314.runtime.live_bank import LiveBank  # noqa: PLC0415
    from ml314.runtime.scenarios import SCENARIOS  # noqa: PLC0415
    from ml314.runtime.simulation import SimulationRequest, simulate  # noqa: PLC0415

    t0 = time.perf_counter()
    default_estimator = load_default_parameters().soc.estimator
    requests = {
        "home, 2 modules, BMS and bank link": SimulationRequest(modules=2, days=0.01, sample_s=60.0),
        **{
            f"home, 1 module, {name} estimator": SimulationRequest(modules=1, days=0.01, sample_s=60.0, estimator=name)
            for name in SOC_ESTIMATORS
            if name != default_estimator
        },
        "home, twin alone": SimulationRequest(modules=1, days=0.01, sample_s=60.0, bms=False),
        "lab tester": SimulationRequest(
            scenario="lab", modules=1, bms=False, sample_s=10.0, experiment="discharge 0.5C for 1 min; rest 1 min"
        ),
    }
    with tempfile.TemporaryDirectory(prefix="ml314-precompile-") as tmp:
        for i, (what, request) in enumerate(requests.items()):
            if echo:
                print(f"  {what}", flush=True)
            simulate(request, Path(tmp) / str(i), SCENARIOS, report=False)
    if echo:
        print("  live bank (ml314 run)", flush=True)
    for modules in (1, 2):
        live = LiveBank(SimulationRequest(modules=modules), load_default_parameters())
        try:
            live.tick(2)
        finally:
            live.close()
    return time.perf_counter() - t0


def main() -> None:
    """``python -m ml314.runtime.precompile``."""
    print(f"ml314: {COMPILING_NOTICE}", flush=True)
    seconds = precompile()
    state = "cached" if cache_is_warm() else "compiled, but some kernel sources have no cache index"
    print(f"ml314: battery model {state} in {seconds:.0f} s", flush=True)


if __name__ == "__main__":
    main()
