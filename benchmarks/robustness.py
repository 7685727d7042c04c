"""Does the live system hold up under disturbance? Modules online and the bank's limits, with and without it.

The real ``ml314 run`` runtime (:class:`Runner`) in this process: a bank of 4 or 16 modules on the pty bank link,
Pylon CAN on python-can's ``serial`` interface over ``socket://`` to a second process playing the inverter
(``tests/peers/serial_can_inverter.py``, keep-alive every second), Pylon RS485 on a TCP listener, no built-in peer
(the home inverter obeys the limits the bank presents). After the bank has assembled, each case disturbs it for a
window while a sampler reads the bank status the links encode every 50 ms:

* ``rs485_clients``: 50 concurrent Pylon RS485 clients in another process, 200 valid requests each
* ``cpu_hog``: one busy process per core for the whole window
* ``can_flood``: 10,000 valid CAN frames sent as fast as the socket takes them
* ``malformed``: CAN frames python-can cannot parse (DLC 15, bad delimiters, stray bytes) and RS485 junk
* ``can_drop``: the inverter closes the CAN socket (three times); the battery must reconnect

Row: ``online_min`` = fewest modules in the bank status during the window; ``limit_change_pct`` = the largest
difference of CVL, DVL, CCL or DCL in any sample of the window from the same run without the disturbance (the
median of the 5 s just before it), in percent; ``vs_baseline_runs_pct`` the same against the median of separate
undisturbed runs (same seed: what differs there is where the real-time start left the BMSs' learned resistances,
which set the bank's model current share); ``errors`` = errors the links counted (and survived) during the window;
``duration_s`` = the window. Each case runs ``--repeats`` times (default 3, quick 1): ``online_min`` is the fewest
over the repeats, ``limit_change_pct`` and ``errors`` the median with ``limit_change_pct_max`` the largest, and
``duration_s`` the median. Target: ``online_min == modules`` and ``limit_change_pct == 0`` in every case.
Loopback only; bounded in count (the clients' requests, the flood) and in time (the window).

    python benchmarks/robustness.py [--quick] [--json PATH]
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from _common import finish, parser

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the inverter process of tests/peers
from tests.peers.process import InverterProcess

from ml314.adapters.can_link import CanSpec
from ml314.adapters.serial_link import Rs485Spec
from ml314.bms.parameters import load_default_parameters
from ml314.domain.limits import ChargeLimits
from ml314.protocols.registry import resolve
from ml314.runtime.run import RunConfig, Runner

NAME = "robustness"
COLUMNS = (
    "case",
    "modules",
    "online_min",
    "limit_change_pct",
    "limit_change_pct_max",
    "vs_baseline_runs_pct",
    "errors",
    "duration_s",
)
ROOT = Path(__file__).resolve().parent.parent
CLIENTS = ROOT / "tests" / "peers" / "rs485_clients.py"
LIMIT_FIELDS = ("cvl_v", "dvl_v", "ccl_a", "dcl_a")
PRE_WINDOW_S = 5.0


class Sampler:
    """Reads the runner's bank status every 50 ms: modules in the bank and the limits."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.samples: list[tuple[int, tuple[float, ...]]] = []
        self.stop = threading.Event()
        self.on = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(0.05):
            live = self.runner.live
            if self.on and live is not None:
                s = live.status
                self.samples.append((s.module_count, tuple(getattr(s.limits, f) for f in LIMIT_FIELDS)))

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


def _errors(runner: Runner) -> int:
    return sum(h.error_count for h in runner.link_health())


def _hog(window_s: float) -> list[subprocess.Popen[bytes]]:
    code = f"import time\nend = time.monotonic() + {window_s}\nwhile time.monotonic() < end:\n    pass\n"
    return [subprocess.Popen([sys.executable, "-c", code]) for _ in range(os.cpu_count() or 2)]


def disturb(case: str, runner: Runner, peer: InverterProcess, window_s: float) -> None:
    """Run the case's disturbance; returns when it is over (at most ``window_s``)."""
    end = time.monotonic() + window_s
    if case == "rs485_clients":
        assert runner.listener is not None
        port = runner.listener.address[1]
        args = ["--port", str(port), "--clients", "50", "--requests", "200", "--limit-s", str(window_s)]
        out = subprocess.run([sys.executable, str(CLIENTS), *args], capture_output=True, text=True, check=True)
        print(f"  clients: {out.stdout.strip()}", file=sys.stderr)
    elif case == "cpu_hog":
        for p in _hog(window_s):
            p.wait()
    elif case == "can_flood":
        peer.cmd("flood 10000")
    elif case == "malformed":
        peer.cmd("garbage 100")
        assert runner.listener is not None
        with socket.create_connection(runner.listener.address, timeout=2.0) as sock:
            sock.sendall(b"\x00\xff~junk\r~20024642E00202FD34\r" * 50)  # noise and frames with a bad checksum
            time.sleep(0.2)
        peer.cmd("garbage 100")
    elif case == "can_drop":
        for i in range(3):
            peer.cmd("drop")
            peer.cmd(f"wait-connected {i + 2}")
    rest = end - time.monotonic()
    if rest > 0:
        time.sleep(rest)


def settle(runner: Runner, modules: int, steady_s: float = 3.0, limit_s: float = 600.0) -> None:
    """Wait until the master has assembled the bank (every module online) and its limits have held ``steady_s``
    (the limits ramp up after the start)."""
    live, loop = runner.live, runner.master_loop
    assert live is not None and loop is not None
    end = time.monotonic() + limit_s
    since, last = time.monotonic(), None
    while time.monotonic() < end:
        s = live.status
        now = (s.module_count, s.limits)
        ready = loop.master.assembled and s.module_count == modules and s.limits.ccl_a > 0
        if not ready or last is None or not _near(now, last):
            since, last = time.monotonic(), now
        elif time.monotonic() - since >= steady_s:
            return
        time.sleep(0.05)
    raise RuntimeError(f"the {modules}-module bank did not settle")


def _near(a: tuple[int, ChargeLimits], b: tuple[int, ChargeLimits]) -> bool:
    """The same module count and the same limits: the start-up ramp is over (the published limits settle and then
    hold against the sensors' noise: system/limit_hold.py)."""
    return a == b


def run_case(case: str | None, modules: int, window_s: float) -> dict[str, Any]:
    """One run: start, wait until the bank has assembled, disturb (or not) for the window, sample."""
    peer = InverterProcess()
    config = RunConfig(
        params=load_default_parameters(),
        modules=modules,
        can_protocol=resolve("pylon-can"),
        rs485_protocol=resolve("pylon-rs485"),
        can=CanSpec("serial", f"socket://127.0.0.1:{peer.port}"),
        rs485=Rs485Spec("tcp://127.0.0.1:0", ("127.0.0.1", 0)),
        peer=False,
        seed=1,
    )
    runner = Runner(config, echo=lambda line: print(line, file=sys.stderr))
    runner.start()
    sampler = Sampler(runner)
    worker = threading.Thread(target=runner.run, daemon=True)
    worker.start()
    try:
        assert peer.cmd("wait-connected 1") == "ok wait-connected"
        live = runner.live
        assert live is not None
        settle(runner, modules)
        sampler.on = True
        time.sleep(PRE_WINDOW_S)  # the same run without the disturbance: the reference of limit_change_pct
        sampler.on = False
        before = list(sampler.samples)
        sampler.samples.clear()
        errors0 = _errors(runner)
        t0 = time.monotonic()
        sampler.on = True
        if case is None:
            time.sleep(window_s)
        else:
            disturb(case, runner, peer, window_s)
        sampler.on = False
        duration = time.monotonic() - t0
        errors = _errors(runner) - errors0
    finally:
        runner.stop()
        worker.join()
        runner.close()
        sampler.close()
        peer.close()
    return {"before": before, "samples": sampler.samples, "errors": errors, "duration_s": duration}


def _median(samples: list[tuple[int, tuple[float, ...]]]) -> tuple[float, ...]:
    return tuple(statistics.median(lim[i] for _, lim in samples) for i in range(len(LIMIT_FIELDS)))


def change_pct(samples: list[tuple[int, tuple[float, ...]]], ref: tuple[float, ...]) -> float:
    worst = 0.0
    for _, lim in samples:
        for x, r in zip(lim, ref, strict=True):
            worst = max(worst, abs(x - r) / abs(r) * 100.0 if r else abs(x) * 100.0)
    return worst


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--window-s", type=float, default=None, help="disturbance window per case (default 20, quick 10)")
    p.add_argument("--repeats", type=int, default=None, help="runs of each case (default 3, quick 1)")
    args = p.parse_args()
    window = args.window_s or (10.0 if args.quick else 20.0)
    repeats = args.repeats or (1 if args.quick else 3)
    sizes = (4,) if args.quick else (4, 16)
    cases = ("rs485_clients", "cpu_hog", "can_flood", "malformed", "can_drop")
    rows: list[dict[str, Any]] = []
    for modules in sizes:
        bases = [run_case(None, modules, window) for _ in range(repeats)]
        ref = _median([s for base in bases for s in base["samples"]])
        print(f"baseline {modules} modules: limits {dict(zip(LIMIT_FIELDS, ref, strict=True))}", file=sys.stderr)
        rows.append(_row("baseline", modules, bases, ref))
        for case in cases:
            got = [run_case(case, modules, window) for _ in range(repeats)]
            rows.append(_row(case, modules, got, ref))
            print(json.dumps(rows[-1]), file=sys.stderr)
    finish(NAME, rows, COLUMNS, args.json)


def _row(case: str, modules: int, runs: list[dict[str, Any]], ref: tuple[float, ...]) -> dict[str, Any]:
    changes = [change_pct(r["samples"], _median(r["before"])) for r in runs]
    cross = [change_pct(r["samples"], ref) for r in runs]
    return {
        "case": case,
        "modules": modules,
        "online_min": min(min((n for n, _ in r["samples"]), default=0) for r in runs),
        "limit_change_pct": round(statistics.median(changes), 3),
        "limit_change_pct_max": round(max(changes), 3),
        "vs_baseline_runs_pct": round(statistics.median(cross), 3),
        "errors": statistics.median(r["errors"] for r in runs),
        "duration_s": round(statistics.median(r["duration_s"] for r in runs), 2),
        "repeats": len(runs),
        "samples": sum(len(r["samples"]) for r in runs),
    }


if __name__ == "__main__":
    main()
