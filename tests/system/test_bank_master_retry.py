"""A late answer is retried before the master counts a miss (``MasterParams.retries``)."""

from __future__ import annotations

from ml314.system import bank_link as link
from ml314.system.bank_bus import frame_adr
from ml314.system.bank_master import MasterParams, Membership
from ml314.system.linked_bank import LinkedBank
from tests.system.test_linked_bank import make


def late_every_other_try(bank: LinkedBank, late_id: int):  # type: ignore[no-untyped-def]
    """The bus, except that every first try of a transaction with ``late_id`` comes back too late (None)."""
    tries = [0]

    def transport(request: bytes, cmd: link.Cid2) -> tuple[bytes | None, float]:
        answer, took = bank.bus.transact(request, cmd)
        if frame_adr(request) == late_id and cmd == link.Cid2.REPORT:
            tries[0] += 1
            if tries[0] % 2:
                return None, took + link.response_timeout_s(cmd, bank.bus.baud)
        return answer, took

    return transport


def poll_rounds(bank: LinkedBank, rounds: int) -> None:
    master = bank.master
    assert master is not None
    transport = late_every_other_try(bank, 3)
    clock = 0.0
    while master.cycles < rounds:
        clock = master.run_until(transport, clock, clock + 1.0)


def test_a_late_answer_is_retried_and_the_module_stays_in_the_bank() -> None:
    _, bank, _ = make([1, 2, 3, 4], master=MasterParams(retries=2))
    poll_rounds(bank, 12)
    master = bank.master
    assert master is not None
    assert master.members[3].state is Membership.ONLINE
    assert master.members[3].failures == 0 and master.retried >= 10
    assert len(master.online()) == 3


def test_without_retries_the_same_late_answers_drop_the_module() -> None:
    _, bank, _ = make([1, 2, 3, 4], master=MasterParams(retries=0))
    poll_rounds(bank, 12)
    master = bank.master
    assert master is not None
    assert master.members[3].failures > 0
    assert master.retried == 0
