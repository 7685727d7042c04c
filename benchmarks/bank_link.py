"""How long the master takes to refresh a 16-module bank over the bank link, against the wire-time bound.

The real runtime pieces of ``ml314 run``: a 16-module twin with its BMSs, the master on one end of a pty null
modem and the 15 other modules on the other (pyserial on both ends), every byte paced at the baud rate (8N1,
10 bits a character). The master polls continuously (no 1 s pause between rounds). The master reads its own data
locally, so a round's data are 15 REPORT transactions.

What is timed, on the host's monotonic clock, by a probe around the master's transport (``MasterLoop.transact``):

* ``refresh``: one round's data refresh, from the first byte of its first REPORT request to the last byte of its
  last REPORT answer. Everything in between is inside: the master's own work (building requests, decoding
  answers, its bookkeeping), the gaps between transactions, the COMMAND refreshes the master interleaves, retries,
  and the wait of every transaction that timed out.
* ``timeouts``: member transactions left without an answer (each try of a retried one counts once).
* ``cycle``: the whole round, from the first byte of its first transaction (the one IDENTIFY at an unused ID the
  master sends each round to find modules plugged in later, which waits out its timeout) to the end of its last.

Every round is kept, slow ones and those with a timeout included, from the first round in which all 15 modules
are online and have their COMMAND (the discovery scan and the joining rounds before it are start-up, not
polling). The table gives the median over the runs' medians, the spread of those medians (max - min), and the
p99 and maximum over every round of every run.

Wire bound: the bits the transactions inside a refresh put on the pair (request + answer characters x 10 bits)
/ baud, per round (15 REPORTs, plus a COMMAND when one falls inside). Target: the refresh within 1.5x the bound.

    python benchmarks/bank_link.py [--quick] [--json PATH]
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass
from typing import Any

from _common import finish, parse_args
from ml314.adapters.serial_link import PtyNullModem, open_serial
from ml314.bms.parameters import load_default_parameters
from ml314.runtime.bank_link_runtime import MasterLoop, ModulesSide, PacedStream
from ml314.system import bank_link as link
from ml314.system.bank_bus import frame_adr
from ml314.system.bank_master import BankMaster, MasterParams, Membership
from ml314.system.compiled_system import CompiledBankSystem
from ml314.system.linked_bank import LinkedBank, LinkOptions, default_wiring
from ml314.system.status import StatusBuilder
from ml314.twin.bank import Bank
from ml314.twin.params import load_cell_parameters

NAME = "bank_link"
N = 16
TARGET_RATIO = 1.5
COLUMNS = (
    "baud",
    "runs",
    "rounds",
    "refresh_s",
    "refresh_spread_s",
    "refresh_p99_s",
    "refresh_max_s",
    "wire_bound_s",
    "ratio",
    "ratio_p99",
    "cycle_s",
    "rounds_with_timeout",
    "timeouts",
)


@dataclass(frozen=True)
class Transaction:
    """One call of the master's transport: its round, command, start and end on the host clock, answered or not."""

    cycle: int
    cmd: link.Cid2
    start_s: float
    end_s: float
    answered: bool
    member: bool  # sent to a member (silence at an unused ID is the discovery scan's answer, not a timeout)


class Probe:
    """Wraps a :class:`MasterLoop`'s transport and records every transaction, from the first round in which the
    bank is steady (every member online and holding its COMMAND)."""

    def __init__(self, loop: MasterLoop) -> None:
        self.master: BankMaster = loop.master
        self.inner = loop.transact
        self.records: list[Transaction] = []
        self.steady_from: int | None = None
        self.lock = threading.Lock()
        loop.transact = self.transact  # type: ignore[method-assign]

    def _steady(self) -> bool:
        members = list(self.master.members.values())
        return len(members) == N - 1 and all(
            m.state is Membership.ONLINE and m.command_sent == m.command for m in members
        )

    def transact(self, request: bytes, cmd: link.Cid2) -> tuple[bytes | None, float]:
        cycle = self.master.cycles  # the round this transaction belongs to (planned before the transport is called)
        if self.steady_from is None and self._steady():
            self.steady_from = cycle + 1  # this round started before the check: count from the next one
        start = time.monotonic()
        answer, took_s = self.inner(request, cmd)
        end = time.monotonic()
        if self.steady_from is not None and cycle >= self.steady_from:
            with self.lock:
                member = frame_adr(request) in self.master.members
                self.records.append(Transaction(cycle, cmd, start, end, answer is not None, member))
        return answer, took_s

    def rounds(self) -> list[list[Transaction]]:
        """The recorded whole rounds (the last, cut off by the stop, left out), in order."""
        with self.lock:
            records = list(self.records)
        by_cycle: dict[int, list[Transaction]] = {}
        for t in records:
            by_cycle.setdefault(t.cycle, []).append(t)
        return [by_cycle[c] for c in sorted(by_cycle)[:-1]]


@dataclass(frozen=True)
class Round:
    """What one round measured."""

    refresh_s: float
    bound_s: float
    cycle_s: float
    reports: int
    timeouts: int


def measure_round(transactions: list[Transaction], baud: int) -> Round | None:
    """The refresh (first REPORT request byte to last REPORT answer byte) and the whole cycle of one round."""
    reports = [i for i, t in enumerate(transactions) if t.cmd == link.Cid2.REPORT]
    if not reports:
        return None
    inside = transactions[reports[0] : reports[-1] + 1]
    bits = sum(link.transaction_wire_bytes(t.cmd) for t in inside) * link.CHAR_BITS
    return Round(
        refresh_s=inside[-1].end_s - inside[0].start_s,
        bound_s=bits / baud,
        cycle_s=transactions[-1].end_s - transactions[0].start_s,
        reports=len(reports),
        timeouts=sum(1 for t in transactions if t.member and not t.answered),
    )


def run_once(baud: int, rounds: int) -> list[Round]:
    """One bank on a fresh pty pair, polled until ``rounds`` steady rounds are recorded."""
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
    probe = Probe(loop)
    side.start()
    loop.start()
    try:
        while len(probe.rounds()) < rounds:
            time.sleep(0.05)
    finally:
        loop.close()
        side.close()
        modem.close()
    measured = [measure_round(r, baud) for r in probe.rounds()[:rounds]]
    return [m for m in measured if m is not None]


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def measure(baud: int, rounds: int, runs: int) -> dict[str, Any]:
    """``runs`` fresh banks at ``baud``, ``rounds`` steady rounds each."""
    per_run = [run_once(baud, rounds) for _ in range(runs)]
    every = [r for run in per_run for r in run]
    medians = [statistics.median(r.refresh_s for r in run) for run in per_run]
    refresh = [r.refresh_s for r in every]
    ratios = [r.refresh_s / r.bound_s for r in every]
    return {
        "baud": baud,
        "runs": runs,
        "rounds": len(every),
        "refresh_s": statistics.median(medians),
        "refresh_spread_s": max(medians) - min(medians),
        "refresh_p99_s": _p99(refresh),
        "refresh_max_s": max(refresh),
        "wire_bound_s": statistics.median(r.bound_s for r in every),
        "ratio": statistics.median(ratios),
        "ratio_p99": _p99(ratios),
        "cycle_s": statistics.median(r.cycle_s for r in every),
        "rounds_with_timeout": sum(1 for r in every if r.timeouts),
        "timeouts": sum(r.timeouts for r in every),
        "reports_per_round": min(r.reports for r in every),
    }


def main() -> None:
    args = parse_args(__doc__)
    runs = 2 if args.quick else 5
    rows = [measure(9600, 3 if args.quick else 8, runs), measure(115_200, 10 if args.quick else 50, runs)]
    finish(NAME, rows, COLUMNS, args.json)
    worst = max(r["ratio"] for r in rows)
    print(f"\nworst median refresh / wire bound: {worst:.3f} (target <= {TARGET_RATIO})")


if __name__ == "__main__":
    main()
