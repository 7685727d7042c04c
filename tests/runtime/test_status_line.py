"""The live status line of ``ml314 run``: alarms and faults first, 80 columns, modules online out of the bank's;
fault details on lines of their own when a fault appears or clears."""

from __future__ import annotations

from ml314.domain.faults import SystemFaultKind
from ml314.runtime.run import STATUS_WIDTH, _alarm_head
from tests.runtime.test_bank_link_runtime import advance_until, start


def test_a_healthy_four_module_bank_counts_four_of_four_in_80_columns() -> None:
    runner = start(modules=4, can_protocol=None)
    try:
        live = runner.live
        assert live is not None
        assert advance_until(runner, lambda: live.status.module_count == 4)
        line = runner.status_line()
        assert len(line) <= STATUS_WIDTH
        assert "bank 4/4" in line
        assert not line.startswith("!!")
        assert runner.faults() == []
        assert runner.fault_changes() == []
    finally:
        runner.close()


def test_a_wiring_fault_leads_the_line_and_its_details_come_once_on_their_own_line() -> None:
    runner = start(modules=4, module_ids=(1, 2, 2, 3), can_protocol=None)
    try:
        live = runner.live
        master_loop = runner.master_loop
        assert live is not None and master_loop is not None
        assert advance_until(runner, lambda: master_loop.master.cycles >= 3)
        line = runner.status_line()
        assert line.startswith("!! ") and len(line) <= STATUS_WIDTH
        assert "wiring M2" in line
        assert "bank 2/4" in line  # IDs 1 and 3 form the bank; the two modules set to ID 2 are left out
        kinds = {f.kind for f in runner.faults()}
        assert SystemFaultKind.WIRING in kinds
        details = runner.fault_changes()
        assert any(d.startswith("alarm: wiring M2: modules 2 and 3 both have ID 2") for d in details)
        assert all("[manual 12.2 #1" in d for d in details)
        assert runner.fault_changes() == []  # told once, not every second
        assert len(runner.status_line(None)) >= len(line)  # the stop line has room for everything
    finally:
        runner.close()


def test_many_alarms_are_cut_with_a_count_and_never_pass_half_the_width() -> None:
    labels = [f"module lost M{i}" for i in range(2, 17)]
    head = _alarm_head(labels, 80)
    assert head.startswith("!! module lost M2")
    assert len(head) <= 40
    shown = head.count("module lost")
    assert head.endswith(f"+{len(labels) - shown}")
    assert _alarm_head([], 80) == ""
