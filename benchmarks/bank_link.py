"""How long the master takes to refresh a 16-module bank over the bank link, against the wire-time bound.

The real runtime pieces of ``ml314 run``: a 16-module twin with its BMSs, the master on one end of a pty null
modem and the 15 other modules on the other (pyserial on both ends), every byte paced at the baud rate (8N1,
10 bits a character). The master polls continuously (no 1 s pause between rounds); the refresh time is the time
its REPORT transactions of one round take, from the first request byte to the last answer byte, median over the
rounds. The master reads its own data locally, so a round is 15 REPORT transactions.

Wire bound: the bits those 15 transactions put on the pair (request + answer characters x 10 bits) / baud. Target:
the refresh within 1.5x the bound.

    python benchmarks/bank_link.py [--quick] [--json PATH]
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from _common import finish, parse_args
from ml314.adapters.serial_link import PtyNullModem, open_serial
from ml314.bms.parameters import load_default_parameters
from ml314.runtime.bank_link_runtime import MasterLoop, ModulesSide, PacedStream
from ml314.system import bank_link as link
from ml314.system.bank_master import MasterParams
from ml314.system.compiled_system import CompiledBankSystem
from ml314.system.linked_bank import LinkedBank, LinkOptions, default_wiring
from ml314.system.status import StatusBuilder
from ml314.twin.bank import Bank
from ml314.twin.params import load_cell_parameters

NAME = "bank_link"
N = 16
COLUMNS = ("baud", "refresh_s", "wire_bound_s", "ratio", "rounds", "refresh_p90_s", "timeouts")


def measure(baud: int, rounds: int) -> dict[str, Any]:
    system = CompiledBankSystem(Bank(N, load_cell_parameters(), seed=1, initial_soc=0.5), load_default_parameters())
    builder = StatusBuilder(system)
    snapshot = builder.modules()
    params = MasterParams(baud=baud, cycle_period_s=0.0)
    linked = LinkedBank(
        system,
        builder,
        default_wiring(N),
        LinkOptions(baud=baud, master=params),
        status_of=lambda i: snapshot[i],
        isolate=lambda i, on: None,
    )
    assert linked.master is not None
    modem = PtyNullModem()
    t0 = time.monotonic()

    def clock() -> float:
        return time.monotonic() - t0

    side = ModulesSide(linked.endpoints, PacedStream(open_serial(modem.paths[1], baud), baud), clock)
    loop = MasterLoop(linked.master, PacedStream(open_serial(modem.paths[0], baud), baud), clock)
    master = linked.master
    samples: list[float] = []
    side.start()
    loop.start()
    try:
        seen = master.cycles
        while len(samples) < rounds:
            time.sleep(0.01)
            if master.cycles != seen:
                seen = master.cycles
                complete = master.last_refresh_reports == N - 1 and len(master.online()) == N - 1
                if master.last_refresh_s is not None and complete:
                    samples.append(master.last_refresh_s)
    finally:
        loop.close()
        side.close()
        modem.close()
    bits = (N - 1) * link.transaction_wire_bytes(link.Cid2.REPORT) * link.CHAR_BITS
    bound = bits / baud
    refresh = statistics.median(samples)
    return {
        "baud": baud,
        "refresh_s": refresh,
        "wire_bound_s": bound,
        "ratio": refresh / bound,
        "rounds": len(samples),
        "refresh_p90_s": sorted(samples)[int(0.9 * (len(samples) - 1))],
        "timeouts": loop.timeouts,
    }


def main() -> None:
    args = parse_args(__doc__)
    rows = [measure(9600, 3 if args.quick else 8), measure(115_200, 10 if args.quick else 50)]
    finish(NAME, rows, COLUMNS, args.json)
    worst = max(r["ratio"] for r in rows)
    print(f"\nworst refresh / wire bound: {worst:.3f} (target <= 1.5)")


if __name__ == "__main__":
    main()
