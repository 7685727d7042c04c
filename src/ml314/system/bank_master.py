"""The master module of a bank: polls the others over the bank link, keeps the membership, presents one bank.

Pure: time is passed in, bytes go through a transport the caller supplies (an in-process bus for ``simulate``, a
serial port or TCP link for ``run``). One transaction at a time, as on a half-duplex RS485 bus.

* Discovery: the master asks IDENTIFY at every ID 1..63 once at start (and later one unknown ID per poll cycle),
  so a module plugged in later is found; more than 16 answering IDs is a wiring fault (the first 16 found, in ID
  order at start, are kept).
* Polling: REPORT from every member in ID order, round after round; the master's own data comes from itself.
* Retry: a member's transaction that gets no answer is sent again up to ``retries`` times before it counts as a
  miss (a late answer on a busy host is retried, not counted).
* Loss: ``misses_to_drop`` consecutive failed transactions (timeout or garbled answer) drop a member from the
  aggregate and raise the internal-communication alarm (manual 12.2 #1). Garbled answers at one address are what
  two modules sharing an ID produce; the fault says so.
* Rejoin: a dropped module that answers again is held off the bus (COMMAND isolate) until its voltage is within
  ``rejoin_voltage_v`` of the bus voltage; then it is released and counted again.
* Mixing: a member whose model, manufacturer, design capacity or firmware differs from the master's, or whose age
  (manufacture date, SOH) differs by more than the limits, raises the warning of caution 13.1 (5).
* Termination: every module reports its switch 8; more or fewer than two ON in a bank of two or more is reported.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from ml314.domain.battery_status import AlarmKind, BankCommand, BankStatus, ModuleIdentity, ModuleStatus
from ml314.domain.faults import SystemFault, SystemFaultKind
from ml314.domain.limits import ChargeLimits
from ml314.errors import FrameError
from ml314.system import bank_link as link
from ml314.system.addressing import MAX_BANK_MODULES
from ml314.system.bank_aggregate import aggregate
from ml314.system.limit_hold import LimitHold

__all__ = ["BankMaster", "MasterParams", "MemberState", "Membership", "Transact"]

#: send ``request``; return the answer frame (or None on timeout) and the seconds the transaction took
Transact = Callable[[bytes, link.Cid2], tuple[bytes | None, float]]


@dataclass(frozen=True, slots=True)
class MasterParams:
    baud: int = link.DEFAULT_BAUD
    misses_to_drop: int = 3
    rejoin_voltage_v: float = 1.0
    mix_age_months: int = 6
    mix_soh_pct: float = 10.0
    cycle_period_s: float = 1.0  # a new polling round starts at most this often (the BMS data change each second)
    assembly_timeout_s: float = 30.0  # at start, zero current limits until every module found has joined, or this
    default_resistance_mohm: float = 5.0  # a module's string resistance when its BMS has not learned it yet
    command_refresh_s: float = 10.0  # COMMAND is sent again this often (a module that restarted waits for it)
    join_current_a: float = 80.0  # the most current a joining module may take at connection (half its 1C/2 rating)
    retries: int = 0  # a member's unanswered transaction is sent again this often before it counts as a miss


class Membership(enum.Enum):
    """A member's place in the bank (the inverter link's state is ``protocols.keepalive.LinkState``)."""

    ONLINE = "online"
    LOST = "lost"  # stopped answering: out of the aggregate
    WAITING = "waiting"  # answering again, held off the bus until its voltage matches


@dataclass
class MemberState:
    module_id: int
    identity: ModuleIdentity | None = None
    report: ModuleStatus | None = None
    state: Membership = Membership.ONLINE
    misses: int = 0
    garbled: int = 0
    transactions: int = 0
    failures: int = 0
    command: BankCommand = field(default_factory=BankCommand)
    command_sent: BankCommand | None = None
    command_sent_s: float = -1e9


class BankMaster:
    """The master with DIP ID ``master_id``; ``own`` returns its own status, ``own_identity`` its identity."""

    def __init__(
        self,
        master_id: int,
        own_identity: ModuleIdentity,
        own: Callable[[], ModuleStatus],
        params: MasterParams | None = None,
    ) -> None:
        self.master_id = master_id
        self.own_identity = own_identity
        self.own = own
        self.params = params or MasterParams()
        self.members: dict[int, MemberState] = {}
        self.extra_ids: list[int] = []  # answering beyond the 16th module
        self.garbled_ids: set[int] = set()  # IDs whose IDENTIFY answers arrive garbled (two modules, one ID)
        self.events: list[tuple[float, str]] = []
        self._scan_next = 1
        self._scanned_all = False
        self._queue: list[tuple[int, link.Cid2]] = []
        self.cycles = 0
        self.started_s: float | None = None
        self.assembled = False
        self.next_cycle_s = 0.0
        self.last_cycle_s: float | None = None  # start to start of the last two rounds
        self.last_refresh_s: float | None = None  # the REPORT transactions of the last round: the data refresh time
        self._round_report_s = 0.0
        self._round_reports = 0
        self.last_refresh_reports = 0
        self._cycle_started_s = 0.0
        self.retried = 0  # transactions sent again after no answer
        self._hold = LimitHold()  # the published CCL/DCL, steady against sensor noise

    # ------------------------------------------------------------------ polling
    def _log(self, now_s: float, text: str) -> None:
        self.events.append((now_s, text))
        if len(self.events) > 1000:
            del self.events[:100]

    def _plan_cycle(self, now_s: float) -> None:
        """The next round: IDENTIFY for unknown IDs (all at first, then one per round), COMMAND where due, REPORT."""
        plan: list[tuple[int, link.Cid2]] = []
        if not self._scanned_all:
            plan += [(i, link.Cid2.IDENTIFY) for i in range(1, link.MAX_MODULE_ID + 1) if i != self.master_id]
            self._scanned_all = True
        else:
            for _ in range(link.MAX_MODULE_ID):
                i = self._scan_next
                self._scan_next = i % link.MAX_MODULE_ID + 1
                if i != self.master_id and i not in self.members and i not in self.extra_ids:
                    plan.append((i, link.Cid2.IDENTIFY))
                    break
        for mid in sorted(self.members):
            m = self.members[mid]
            if m.identity is None:
                plan.append((mid, link.Cid2.IDENTIFY))
            stale = now_s - m.command_sent_s > self.params.command_refresh_s
            if m.command != m.command_sent or (stale and m.state is not Membership.LOST):
                plan.append((mid, link.Cid2.COMMAND))
            plan.append((mid, link.Cid2.REPORT))
        self._queue = plan
        if self._round_reports:
            self.last_refresh_s = self._round_report_s
            self.last_refresh_reports = self._round_reports
        self._round_report_s = 0.0
        self._round_reports = 0
        if self.cycles:
            self.last_cycle_s = now_s - self._cycle_started_s
        self._cycle_started_s = now_s
        self.next_cycle_s = now_s + self.params.cycle_period_s
        self.cycles += 1

    def poll(self, transact: Transact, now_s: float) -> float:
        """One transaction; returns the seconds it took on the wire (the caller's link clock)."""
        if self.started_s is None:
            self.started_s = now_s
        if not self._queue:
            self._plan_cycle(now_s)
        mid, cmd = self._queue.pop(0)
        member = self.members.get(mid)
        command = member.command if member is not None and cmd == link.Cid2.COMMAND else None
        request = link.request(cmd, mid, command)
        response, took_s = transact(request, cmd)
        tries = self.params.retries if member is not None else 0  # silence at an unknown ID is an answer
        while response is None and tries > 0:
            tries -= 1
            self.retried += 1
            response, more_s = transact(request, cmd)
            took_s += more_s
        self.handle(mid, cmd, command, response, now_s)
        if cmd == link.Cid2.REPORT:
            self._round_report_s += took_s
            self._round_reports += 1
        return took_s

    def idle_until(self, now_s: float) -> float | None:
        """When the master has nothing to send before the next round: the time that round starts; else None."""
        if not self._queue and now_s < self.next_cycle_s:
            return self.next_cycle_s
        return None

    def run_until(self, transact: Transact, clock_s: float, until_s: float) -> float:
        """Poll while the link clock is before ``until_s``; return the link clock after the last transaction."""
        while clock_s < until_s:
            if not self._queue and clock_s < self.next_cycle_s:  # the round is done: idle until the next one
                clock_s = min(until_s, self.next_cycle_s)
                continue
            clock_s += max(self.poll(transact, clock_s), 1e-6)
        return clock_s

    # ---------------------------------------------------------------- answers
    def handle(
        self, mid: int, cmd: link.Cid2, command: BankCommand | None, response: bytes | None, now_s: float
    ) -> None:
        member = self.members.get(mid)
        if response is None:
            if member is not None:
                self._failure(member, now_s, garbled=False)
            return
        try:
            if cmd == link.Cid2.IDENTIFY:
                identity = link.decode_identity(response)
                if identity.module_id != mid:  # another module's late answer (a slow line): no answer, no collision
                    return self.handle(mid, cmd, command, None, now_s)
                self._identified(mid, identity, now_s)
                member = self.members.get(mid)
            elif member is None:
                return
            elif cmd == link.Cid2.REPORT:
                report = link.decode_report(response, serial=member.identity.serial if member.identity else "")
                if report.address != mid:  # as above: a late answer of another module counts as no answer
                    return self.handle(mid, cmd, command, None, now_s)
                self._reported(member, report, now_s)
            else:
                link.decode_ack(response)
                member.command_sent = command
                member.command_sent_s = now_s
        except FrameError:
            if member is not None:
                self._failure(member, now_s, garbled=True)
            elif cmd == link.Cid2.IDENTIFY and mid not in self.garbled_ids:
                self.garbled_ids.add(mid)
                self._log(now_s, f"garbled answers at ID {mid}: two modules may share this ID")
            return
        if member is not None:
            member.transactions += 1

    def _identified(self, mid: int, identity: ModuleIdentity, now_s: float) -> None:
        self.garbled_ids.discard(mid)
        if mid in self.members:
            self.members[mid].identity = identity
            return
        if len(self.members) + 1 >= MAX_BANK_MODULES:  # the master is the 16th
            if mid not in self.extra_ids:
                self.extra_ids.append(mid)
                self._log(now_s, f"module ID {mid} answers but the bank already has 16 modules: left out")
            return
        # a new member waits off the bus like a returning one: it joins when its voltage matches the bus
        self.members[mid] = MemberState(
            mid, identity=identity, state=Membership.WAITING, command=BankCommand(True, True, True)
        )
        self._log(now_s, f"module ID {mid} found ({identity.serial}), held off the bus until its voltage matches")

    def _reported(self, member: MemberState, report: ModuleStatus, now_s: float) -> None:
        member.report = report
        member.misses = 0
        if member.state is Membership.LOST:
            member.state = Membership.WAITING
            member.command = BankCommand(isolate=True)
            self._log(now_s, f"module ID {member.module_id} answers again: held off the bus until its voltage matches")
        if member.state is Membership.WAITING and self.may_join(report):
            member.state = Membership.ONLINE
            member.command = BankCommand()
            self._log(now_s, f"module ID {member.module_id} joined the bus at {report.voltage_v:.2f} V")

    def join_tolerance_v(self, report: ModuleStatus) -> float:
        """How far a module's voltage may be from the bus's when it connects: the current that difference drives
        through the module's resistance stays within ``join_current_a``, and never more than ``rejoin_voltage_v``.

        (A module held off the bus reports zero limits, its MOSFETs being open, so its rating stands in.)"""
        r_ohm = (report.resistance_mohm or self.params.default_resistance_mohm) / 1000.0
        return min(self.params.rejoin_voltage_v, self.params.join_current_a * r_ohm)

    def may_join(self, report: ModuleStatus) -> bool:
        bus = self.bus_voltage_v()
        return bus is None or abs(report.voltage_v - bus) <= self.join_tolerance_v(report)

    def _failure(self, member: MemberState, now_s: float, *, garbled: bool) -> None:
        member.misses += 1
        member.failures += 1
        if garbled:
            member.garbled += 1
        if member.misses >= self.params.misses_to_drop and member.state is not Membership.LOST:
            member.state = Membership.LOST
            member.command_sent = None  # it may have reset: tell it again when it is back
            why = "garbled answers (two modules with one ID, or a termination fault?)" if garbled else "no answer"
            self._log(now_s, f"module ID {member.module_id} dropped out of the bank: {why}")

    # ------------------------------------------------------------------- view
    def online(self) -> list[ModuleStatus]:
        return [m.report for m in self.members.values() if m.state is Membership.ONLINE and m.report is not None]

    def bus_voltage_v(self) -> float | None:
        conducting = [r.voltage_v for r in [self.own(), *self.online()] if r.charge_mosfet_on or r.discharge_mosfet_on]
        return sum(conducting) / len(conducting) if conducting else None

    def fault_records(self) -> list[SystemFault]:
        """What is wrong with the bank's communication now, one typed record each (manual 12.2 #1)."""
        out = []
        for m in sorted(self.members.values(), key=lambda x: x.module_id):
            if m.state is Membership.LOST:
                kind = (
                    "garbled answers: two modules may share this ID, or the termination is wrong (8.5)"
                    if m.garbled
                    else "no answer"
                )
                text = f"module ID {m.module_id}: {kind} (manual 6.3, 8.4.2)"
                out.append(SystemFault(SystemFaultKind.MODULE_LOST, text, module_id=m.module_id))
        for mid in sorted(self.garbled_ids - set(self.members)):
            text = f"ID {mid}: garbled answers, two modules may share this ID (manual 6.3, 8.4.2)"
            out.append(SystemFault(SystemFaultKind.WIRING, text, module_id=mid))
        if self.extra_ids:
            ids = ", ".join(str(i) for i in sorted(self.extra_ids))
            text = f"more than 16 modules answer (IDs {ids} left out): at most 16 in parallel (manual 6.3)"
            out.append(SystemFault(SystemFaultKind.WIRING, text))
        identities = [self.own_identity] + [m.identity for m in self.members.values() if m.identity is not None]
        if len(identities) >= 2 and self.cycles >= 2:  # after the discovery scan: every module has spoken
            on = sum(1 for i in identities if i.termination_on)
            if on != 2:
                text = (
                    f"{on} module{'' if on == 1 else 's'} with the termination resistor on (switch 8): exactly "
                    "the first and last should have it (manual 8.5)"
                )
                out.append(SystemFault(SystemFaultKind.WIRING, text))
        return out

    def faults(self) -> list[str]:
        """The details of :meth:`fault_records`, one line each."""
        return [f.details for f in self.fault_records()]

    def waiting(self) -> list[str]:
        """Members held off the bus until their voltage matches it."""
        bus = self.bus_voltage_v()
        out = []
        for m in sorted(self.members.values(), key=lambda x: x.module_id):
            if m.state is Membership.WAITING and m.report is not None and bus is not None:
                out.append(
                    f"module ID {m.module_id} waits to join: {m.report.voltage_v:.2f} V against the bus's {bus:.2f} V"
                )
        return out

    def mix_cautions(self) -> list[SystemFault]:
        """Caution 13.1 (5): different type, capacity, firmware or age in one bank, one typed record per module."""
        ref = self.own_identity
        own = self.own()
        out = []
        for m in sorted(self.members.values(), key=lambda x: x.module_id):
            i = m.identity
            if i is None:
                continue
            diffs = []
            if (i.model, i.manufacturer) != (ref.model, ref.manufacturer):
                diffs.append(f"type {i.manufacturer} {i.model}")
            if abs(i.design_capacity_ah - ref.design_capacity_ah) > 0.5:
                diffs.append(f"capacity {i.design_capacity_ah:g} Ah")
            if i.firmware_version != ref.firmware_version:
                diffs.append(f"firmware {i.firmware_version[0]}.{i.firmware_version[1]}")
            months = abs((i.manufactured[0] - ref.manufactured[0]) * 12 + i.manufactured[1] - ref.manufactured[1])
            if months > self.params.mix_age_months:
                diffs.append(f"made {months} months apart")
            if m.report is not None and abs(m.report.soh_pct - own.soh_pct) > self.params.mix_soh_pct:
                diffs.append(f"SOH {m.report.soh_pct:.0f} % vs {own.soh_pct:.0f} %")
            if diffs:
                text = (
                    f"module ID {m.module_id} differs from the master ({', '.join(diffs)}): do not mix batteries of "
                    "different types, capacities or ages (caution 13.1 (5))"
                )
                out.append(SystemFault(SystemFaultKind.BANK_MIX, text, module_id=m.module_id))
        return out

    def mix_warnings(self) -> list[str]:
        """The details of :meth:`mix_cautions`, one line each."""
        return [f.details for f in self.mix_cautions()]

    def bank_status(self, now_s: float, extra_alarms: frozenset[AlarmKind] = frozenset()) -> BankStatus:
        """The bank the master presents: itself plus the online members."""
        alarms = set(extra_alarms)
        if self.fault_records():
            alarms.add(AlarmKind.INTERNAL_COMMUNICATION)
        if self.mix_cautions():
            alarms.add(AlarmKind.MODULE_MIX)
        modules = [self.own(), *self.online()]
        modules.sort(key=lambda m: m.address)
        status = aggregate(modules, now_s, extra_alarms=frozenset(alarms))
        if not self._assembled(now_s):
            lim = status.limits
            status = replace(
                status,
                limits=ChargeLimits(lim.cvl_v, lim.dvl_v, 0.0, 0.0),
                charge_enable=False,
                discharge_enable=False,
            )
        return self._hold.apply(status)

    def _assembled(self, now_s: float) -> bool:
        """At start the bank carries no current until every module found has joined (or the timeout passed)."""
        if self.assembled:
            return True
        started = self.started_s if self.started_s is not None else now_s
        scanned = self.cycles >= 2  # the full IDENTIFY scan is the first round
        joined = all(m.state is Membership.ONLINE and m.command_sent == m.command for m in self.members.values())
        if (scanned and joined) or now_s - started >= self.params.assembly_timeout_s:
            self.assembled = True
        return self.assembled
