"""The bank link by events: the byte-level link where membership can change, the compiled kernel elsewhere.

:class:`CompiledLink` wraps a :class:`~ml314.system.linked_bank.LinkedBank` (the master, its endpoints and the bus,
unchanged) and gives the compiled closed loop the arrays of :mod:`ml314.system.link_kernel`. The loop runs the
link's steady seconds itself; on any other second (start-up and assembly, a module that stops or starts answering,
one waiting to join, a watchdog, a dropout a termination error completes, a RESET or a changed cable) it stops
before the second and :meth:`before_second` hands the state to the byte-level master, which runs that second on
bytes as ``--link-bytes`` does; :meth:`after_second` hands it back. So the master's rules live in one place
(``bank_master.py``); the kernel only repeats what a round does when nothing changes (docs/bank_link.md states what
differs and by how much).
"""

from __future__ import annotations

import math

import numpy as np

from ml314.domain.battery_status import BankStatus
from ml314.system import bank_link as link
from ml314.system import link_kernel as lk
from ml314.system.bank_master import Membership
from ml314.system.compiled_system import LinkArrays
from ml314.system.linked_bank import LinkedBank

__all__ = ["CompiledLink"]

_STATE_CODE = {
    Membership.ONLINE: lk.MEMBER_ONLINE,
    Membership.LOST: lk.MEMBER_LOST,
    Membership.WAITING: lk.MEMBER_WAITING,
}


def _transaction_s(cmd: link.Cid2, baud: int, *, answered: bool) -> float:
    """Wire time of one transaction as :class:`~ml314.system.bank_bus.SimulatedBus` counts it."""
    gap = link.interframe_gap_s(baud)
    took = link.wire_time_s(link.REQUEST_WIRE_BYTES[cmd], baud) + gap
    if not answered:
        return took + link.response_timeout_s(cmd, baud)
    took += link.first_byte_timeout_s(baud) - link.PROCESSING_ALLOWANCE_S
    return took + link.wire_time_s(link.RESPONSE_WIRE_BYTES[cmd], baud) + gap


class CompiledLink:
    """The arrays the compiled loop's link works on, kept in step with ``linked``'s byte-level master."""

    def __init__(self, linked: LinkedBank) -> None:
        self.linked = linked
        n = linked.system.n_modules
        self.ends = np.zeros((lk.E_ROWS, n))
        self.ids = np.zeros((lk.I_ROWS, lk.N_IDS))
        self.k = np.zeros(lk.K_ROWS)
        self.rng = np.array([np.uint64(linked.options.seed) * np.uint64(0x2545F4914F6CDD1D)], dtype=np.uint64)
        self.work = np.zeros((lk.W_ROWS, n + 1))
        self.at = np.zeros((2, lk.N_IDS), dtype=np.int64)
        baud = linked.options.baud
        k = self.k
        k[lk.K_T_REPORT_S] = _transaction_s(link.Cid2.REPORT, baud, answered=True)
        k[lk.K_T_REPORT_NONE_S] = _transaction_s(link.Cid2.REPORT, baud, answered=False)
        k[lk.K_T_COMMAND_S] = _transaction_s(link.Cid2.COMMAND, baud, answered=True)
        k[lk.K_T_COMMAND_NONE_S] = _transaction_s(link.Cid2.COMMAND, baud, answered=False)
        k[lk.K_T_IDENTIFY_NONE_S] = _transaction_s(link.Cid2.IDENTIFY, baud, answered=False)
        k[lk.K_T_IDENTIFY_S] = _transaction_s(link.Cid2.IDENTIFY, baud, answered=True)
        for row, cmd in ((lk.K_T_ASK_REPORT_S, link.Cid2.REPORT), (lk.K_T_ASK_COMMAND_S, link.Cid2.COMMAND)):
            k[row] = link.wire_time_s(link.REQUEST_WIRE_BYTES[cmd], baud) + link.interframe_gap_s(baud)
        k[lk.K_B_REPORT] = link.transaction_wire_bytes(link.Cid2.REPORT)
        k[lk.K_B_COMMAND] = link.transaction_wire_bytes(link.Cid2.COMMAND)
        k[lk.K_B_IDENTIFY] = link.transaction_wire_bytes(link.Cid2.IDENTIFY)
        k[lk.K_B_REQUEST] = link.REQUEST_WIRE_BYTES[link.Cid2.REPORT]
        self.total_rounds = 0  # rounds the kernel ran
        self.byte_seconds = 0  # seconds that ran on bytes
        self.last_status: BankStatus | None = None
        self.to_kernel()

    @property
    def arrays(self) -> LinkArrays:
        """The kernel's arrays, as ``closed_loop.run_closed_loop`` takes them."""
        return (self.ends, self.ids, self.k, self.rng, self.hold, self.work, self.at)

    @property
    def hold(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The master's limit hold, shared by reference with the kernel."""
        master = self.linked.master
        return master._hold.arrays if master is not None else self._no_hold

    _no_hold = (np.zeros(8), np.zeros(64), np.zeros((3, 64)))

    # ------------------------------------------------------------------ hand-over
    def to_kernel(self) -> None:
        """The byte-level master's state into the kernel's arrays (after a second on bytes)."""
        lb = self.linked
        master = lb.master
        k, ends, ids = self.k, self.ends, self.ids
        for e in lb.endpoints:
            ends[lk.E_ID, e.index] = e.module_id if link.MIN_MODULE_ID <= e.module_id <= link.MAX_MODULE_ID else 0
            ends[lk.E_CONNECTED, e.index] = float(e.connected)
            ends[lk.E_RELEASED, e.index] = float(e.released)
            ends[lk.E_LAST_POLLED, e.index] = math.nan if e.last_polled_s is None else e.last_polled_s
            ends[lk.E_MASTER, e.index] = float(e.is_master)
            ends[lk.E_REQUESTS, e.index] = 0.0
        ids[:] = 0.0
        k[lk.K_ROUNDS] = k[lk.K_BYTES] = k[lk.K_CORRUPTED] = k[lk.K_COLLISIONS] = 0.0
        k[lk.K_ERROR_RATE] = lb.bus.error_rate
        k[lk.K_CLOCK_S] = lb.bus.clock_s
        if master is None:
            k[lk.K_MASTER_ID] = 0.0
            return
        p = master.params
        k[lk.K_MASTER_ID] = master.master_id
        k[lk.K_MASTER_INDEX] = -1 if lb.master_index is None else lb.master_index
        k[lk.K_ASSEMBLED] = float(master.assembled)
        k[lk.K_BUSY] = float(bool(master._queue))
        k[lk.K_NEXT_CYCLE_S] = master.next_cycle_s
        k[lk.K_SCAN_NEXT] = master._scan_next
        k[lk.K_PERIOD_S] = p.cycle_period_s
        k[lk.K_COMMAND_REFRESH_S] = p.command_refresh_s
        k[lk.K_WATCHDOG_S] = lb.options.watchdog_s
        k[lk.K_MISSES_TO_DROP] = p.misses_to_drop
        if p.retries:
            k[lk.K_BUSY] = 1.0  # retries are not modelled by the kernel: every second on bytes
        for mid in master.extra_ids:
            ids[lk.I_EXTRA, mid] = 1.0
        members = sorted(master.members)
        ids[lk.I_LIST, : len(members)] = members
        k[lk.K_MEMBERS] = len(members)
        for mid, m in master.members.items():
            ids[lk.I_STATE, mid] = _STATE_CODE[m.state]
            ids[lk.I_MISSES, mid] = m.misses
            ids[lk.I_COMMAND_SENT_S, mid] = m.command_sent_s
            ids[lk.I_PENDING, mid] = float(m.command != m.command_sent)
            r = m.report
            if r is not None:
                ids[lk.I_HAS_REPORT, mid] = 1.0
                lim = r.limits
                values = (r.voltage_v, r.current_a, lim.cvl_v, lim.dvl_v, lim.ccl_a, lim.dcl_a, r.resistance_mohm)
                ids[lk.I_V : lk.I_RES + 1, mid] = values
                ids[lk.I_CHG, mid] = float(r.charge_mosfet_on)
                ids[lk.I_DSG, mid] = float(r.discharge_mosfet_on)

    def to_master(self) -> None:
        """The kernel's rounds into the byte-level master (before a second on bytes, and for a summary)."""
        lb = self.linked
        master = lb.master
        k, ends, ids = self.k, self.ends, self.ids
        bus = lb.bus
        bus.clock_s = float(k[lk.K_CLOCK_S])
        bus.bytes_on_wire += int(k[lk.K_BYTES])
        bus.corrupted += int(k[lk.K_CORRUPTED])
        bus.collisions += int(k[lk.K_COLLISIONS])
        for e in lb.endpoints:
            polled = ends[lk.E_LAST_POLLED, e.index]
            e.last_polled_s = None if math.isnan(polled) else float(polled)
            e.requests += int(ends[lk.E_REQUESTS, e.index])
            ends[lk.E_REQUESTS, e.index] = 0.0
        rounds = int(k[lk.K_ROUNDS])
        self.total_rounds += rounds
        if master is not None and rounds:
            lb.builder.refresh()
            master.cycles += rounds
            master.next_cycle_s = float(k[lk.K_NEXT_CYCLE_S])
            master._scan_next = int(k[lk.K_SCAN_NEXT])
            master.last_cycle_s = float(k[lk.K_LAST_CYCLE_S])
            master.last_refresh_s = float(k[lk.K_LAST_REFRESH_S])
            master.last_refresh_reports = int(k[lk.K_LAST_REFRESH_REPORTS])
            for mid, m in master.members.items():
                m.misses = int(ids[lk.I_MISSES, mid])
                m.failures += int(ids[lk.I_FAILURES, mid])
                m.transactions += int(ids[lk.I_TRANSACTIONS, mid])
                m.command_sent_s = float(ids[lk.I_COMMAND_SENT_S, mid])
                if m.state is Membership.ONLINE:  # its last report, as the wire carried it
                    i = next(e.index for e in lb.endpoints if e.module_id == mid and not e.is_master)
                    m.report = link.decode_report(
                        link.respond(link.request(link.Cid2.REPORT, mid), mid, lb.identities[i], lb.status_of(i), _no)
                        or b"",
                        serial=m.identity.serial if m.identity else "",
                    )
        k[lk.K_ROUNDS] = k[lk.K_BYTES] = k[lk.K_CORRUPTED] = k[lk.K_COLLISIONS] = 0.0
        ids[lk.I_FAILURES] = 0.0
        ids[lk.I_TRANSACTIONS] = 0.0

    def steady_seconds_fraction(self) -> float:
        """The part of the link's seconds the kernel ran (the rest ran on bytes)."""
        rounds = self.total_rounds + self.k[lk.K_ROUNDS]
        return float(rounds / (rounds + self.byte_seconds)) if rounds + self.byte_seconds else 0.0

    def sync_endpoints(self) -> None:
        """Cables plugged or pulled since the last call (``linked.endpoints[i].connected``) reach the kernel."""
        for e in self.linked.endpoints:
            self.ends[lk.E_CONNECTED, e.index] = float(e.connected)

    def press_reset(self, index: int) -> None:
        """RESET on module ``index`` (:meth:`LinkedBank.press_reset`): the master learns it on bytes."""
        self.to_master()
        self.linked.press_reset(index)
        self.to_kernel()
        self.k[lk.K_BUSY] = 1.0  # the next second runs on bytes: the module restarts, the master may change

    # ------------------------------------------------------------------ a second on bytes
    def before_second(self, now_s: float) -> None:
        """Run link second ``now_s`` on bytes (the kernel found it not steady) and impose the master's limits."""
        self.to_master()
        status = self.linked.step(now_s)
        self.last_status = status
        self.linked.system.impose_limits(None if status is None else status.limits)
        self.byte_seconds += 1

    def after_second(self) -> None:
        """The second on bytes is done: the kernel takes over again from the master's state."""
        self.to_kernel()

    def status(self, now_s: float) -> BankStatus | None:
        """The bank the master presents now (for summaries and surfaces; brings the master up to date first)."""
        self.to_master()
        master = self.linked.master
        if master is None:
            return None
        self.linked.builder.refresh()
        return master.bank_status(now_s)


def _no(command: object) -> None:
    """A REPORT carries no command."""
