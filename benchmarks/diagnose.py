"""Chapter 12's diagnostics: every injected fault detected on the right module, and no false alarm in a clean month.

Rows, one per injected fault (``runtime/fault_scenarios.py``, the same table the scenario tests run, plus the
four faults of the inverter link on real buses: a silent inverter, a Growatt inverter on a battery set to Pylon,
an inverter polling an ID the bank lacks, an RS485 device that goes away): ``detected``, ``module_ok`` (the
finding names the module the fault was put in; yes for a bank-wide fault), ``delay_s`` from the injection to the
first finding (simulated seconds on the engine, wall-clock seconds on the live links: the keep-alive watch alarms
after 5 s). The engine scenarios are deterministic (one run each); the link rows are the median of ``--repeats``
runs, with their spread.

The last row simulates a clean month afresh (``ml314 simulate``, home scenario, ``--modules`` modules, ``--days``
days; 16 and 30 by default, about 80 s of CPU) and replays the rules over every minute of it
(``runtime/diagnosis_replay.py``): ``false_alarms_per_month`` counts the distinct findings, scaled to 30 days.
``--record PATH`` also writes that month's recording (the one ``tests/scenarios/data/clean_30d_16m.npz`` holds).

    python benchmarks/diagnose.py [--quick] [--json PATH] [--record PATH] [--days N] [--modules N]
"""

from __future__ import annotations

import itertools
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from _common import finish, parser
from ml314.adapters.can_link import CanSpec, open_bus
from ml314.adapters.serial_link import parse_rs485_spec
from ml314.bms.parameters import load_default_parameters
from ml314.protocols import pylon_ascii
from ml314.protocols.base import CanCodec, Rs485Codec
from ml314.protocols.pylon_rs485_blocks import MASTER_ADR
from ml314.protocols.registry import create, resolve
from ml314.runtime.can_links import CanInverterPeer
from ml314.runtime.diagnosis import DiagnosisJob
from ml314.runtime.diagnosis_replay import Recording, replay
from ml314.runtime.fault_scenarios import FAULTS, run_scenario
from ml314.runtime.run import RunConfig, Runner
from ml314.runtime.scenarios import SCENARIOS
from ml314.runtime.simulation import SimulationRequest, simulate

NAME = "diagnose"
COLUMNS = ("fault", "detected", "module_ok", "delay_s", "delay_spread_s", "false_alarms_per_month", "wall_s")
_CHANNELS = itertools.count()


def engine_rows() -> list[dict[str, Any]]:
    rows = []
    for s in FAULTS:
        t0 = time.perf_counter()
        out = run_scenario(s)
        f = out.finding
        rows.append({
            "fault": s.name,
            "detected": f is not None,
            "module_ok": f is not None and (s.module is None or f.module_id == s.module),
            "delay_s": out.delay_s,
            "delay_spread_s": 0.0 if f is not None else None,
            "false_alarms_per_month": None,
            "wall_s": time.perf_counter() - t0,
        })  # fmt: skip
    return rows


def _runner(**kw: Any) -> Runner:
    runner = Runner(RunConfig(params=load_default_parameters(), http="off", db="off", **kw), echo=lambda _: None)
    runner.start()
    return runner


def _until(code: str, runner: Runner, limit_s: float = 60.0) -> float | None:
    """Wall seconds until the job finds ``code`` (None: not within ``limit_s``, a guard)."""
    job = DiagnosisJob(runner)
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit_s:
        if any(f.code == code for f in job.run_once()):
            return time.monotonic() - t0
        time.sleep(0.05)
    return None


def _silent() -> float | None:
    spec = CanSpec("virtual", f"bench-diagnose-{next(_CHANNELS)}")
    runner = _runner(can_protocol=resolve("pylon-can"), can=spec, peer=False)
    try:
        return _until("no_keepalive", runner)
    finally:
        runner.close()


def _growatt() -> float | None:
    spec = CanSpec("virtual", f"bench-diagnose-{next(_CHANNELS)}")
    runner = _runner(can_protocol=resolve("pylon-can"), can=spec, peer=False)
    codec = create(resolve("growatt-can"))
    assert isinstance(codec, CanCodec)
    peer = CanInverterPeer(codec, open_bus(spec, codec.info.bitrate))
    peer.start()
    try:
        return _until("wrong_protocol", runner)
    finally:
        peer.close()
        runner.close()


def _other_id() -> float | None:
    runner = _runner(rs485_protocol=resolve("pylon-rs485"), rs485=parse_rs485_spec("tcp://127.0.0.1:0"), peer=False)
    codec = create(resolve("pylon-rs485"))
    assert isinstance(codec, Rs485Codec) and runner.listener is not None
    request = pylon_ascii.parse(codec.inverter_requests()[0])
    other = pylon_ascii.build(replace(request, adr=MASTER_ADR + 4, info=bytes([MASTER_ADR + 4])))  # ID 5
    stop = threading.Event()

    def poll() -> None:
        with socket.create_connection(runner.listener.address, timeout=30.0) as inverter:  # type: ignore[union-attr]
            while not stop.wait(1.0):
                inverter.sendall(other)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        return _until("inverter_address", runner)
    finally:
        stop.set()
        poller.join()
        runner.close()


def _gone() -> float | None:
    gateway = socket.create_server(("127.0.0.1", 0))
    host, port = gateway.getsockname()[:2]
    runner = _runner(
        rs485_protocol=resolve("pylon-rs485"), rs485=parse_rs485_spec(f"socket://{host}:{port}"), peer=False
    )
    try:
        first, _ = gateway.accept()
        t0 = time.monotonic()
        first.close()
        gateway.close()
        found = _until("port_lost", runner)
        return None if found is None else time.monotonic() - t0
    finally:
        runner.close()


def link_rows(repeats: int) -> list[dict[str, Any]]:
    cases: tuple[tuple[str, Callable[[], float | None]], ...] = (
        ("inverter silent (no keep-alive)", _silent),
        ("Growatt inverter on a Pylon-set battery", _growatt),
        ("inverter polling an ID the bank lacks", _other_id),
        ("RS485 device gone", _gone),
    )
    rows = []
    for name, case in cases:
        t0 = time.perf_counter()
        delays = [case() for _ in range(repeats)]
        found = [d for d in delays if d is not None]
        rows.append({
            "fault": name,
            "detected": len(found) == repeats,
            "module_ok": len(found) == repeats,  # a port, not a module: named by its port and protocol
            "delay_s": statistics.median(found) if found else None,
            "delay_spread_s": (max(found) - min(found)) if found else None,
            "false_alarms_per_month": None,
            "wall_s": time.perf_counter() - t0,
        })  # fmt: skip
    return rows


def clean_row(modules: int, days: float, record: Path | None) -> dict[str, Any]:
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ml314-diagnose-") as tmp:
        out = Path(tmp)
        simulate(SimulationRequest(modules=modules, days=days), out, SCENARIOS, report=False)
        rec = Recording.from_simulation(out)
    if record is not None:
        rec.save(record)
    result = replay(rec)
    found = result.findings()
    for t, f in found:
        print(f"false alarm at {t:.0f} s: {f.text()}")
    return {
        "fault": f"none: clean {days:g} days, {modules} modules",
        "detected": bool(found),
        "module_ok": None,
        "delay_s": None,
        "delay_spread_s": None,
        "false_alarms_per_month": len(found) * 30.0 / max(result.days, 1e-9),
        "wall_s": time.perf_counter() - t0,
    }


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--record", type=Path, default=None, help="write the clean month's recording here (.npz)")
    p.add_argument("--days", type=float, default=None, help="days of the clean run (30; 2 with --quick)")
    p.add_argument("--modules", type=int, default=16, help="modules of the clean run")
    p.add_argument("--repeats", type=int, default=None, help="runs of each link fault (3; 1 with --quick)")
    args = p.parse_args()
    days = args.days if args.days is not None else (2.0 if args.quick else 30.0)
    repeats = args.repeats if args.repeats is not None else (1 if args.quick else 3)
    rows = engine_rows() + link_rows(repeats) + [clean_row(args.modules, days, args.record)]
    finish(NAME, rows, COLUMNS, args.json)


if __name__ == "__main__":
    main()
