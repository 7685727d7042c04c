"""Table 12-3 as a schedule: intervals, due dates from the start or the last work, reminders."""

from __future__ import annotations

import pytest

from ml314.diagnostics.maintenance import DAY_S, MAINTENANCE_ITEMS, WorkRecord, reminders, schedule
from ml314.diagnostics.shallow_test import ShallowReading, evaluate, plan_shallow_test

T0 = 1_767_225_600.0  # 2026-01-01


def test_table_12_3_items_and_intervals() -> None:
    months = {i.key: i.interval_months for i in MAINTENANCE_ITEMS if not i.in_storage}
    assert months == {
        "power_cables": 6,
        "communication_cables": 12,
        "cabinet_cleanliness": 6,  # "once 6-12 months": the short end
        "running_status": 6,
        "charge_discharge": 6,
    }
    assert [i.key for i in MAINTENANCE_ITEMS if i.guided] == ["charge_discharge"]


def test_due_dates_run_from_the_start_then_from_the_last_work() -> None:
    now = T0 + 175 * DAY_S  # 7 days before the 6-month items fall due
    dues = {d.item.key: d for d in schedule(T0, (), now)}
    assert dues["power_cables"].status == "due soon"
    assert dues["power_cables"].days_left == pytest.approx(182.625 - 175)
    assert dues["communication_cables"].status == "ok"
    done = (WorkRecord("power_cables", T0 + 170 * DAY_S, by="tech"),)
    dues = {d.item.key: d for d in schedule(T0, done, now)}
    assert dues["power_cables"].status == "ok" and dues["power_cables"].last_done_s == T0 + 170 * DAY_S
    late = schedule(T0, done, T0 + 200 * DAY_S)
    lines = reminders(late)
    assert any(line.startswith("Cabinet cleanliness: overdue by 17 days") for line in lines)
    assert not any(line.startswith("Power cables") for line in lines)


def test_shallow_plan_stays_within_20_percent() -> None:
    plan = plan_shallow_test(0.5, 4)
    assert plan.first == "discharge" and plan.depth_fraction == pytest.approx(0.2)
    assert plan.current_a == pytest.approx(0.2 * 160.0 * 4)  # 20 % of the rated power at the nominal voltage
    assert plan.ah == pytest.approx(0.2 * 314 * 4)
    low = plan_shallow_test(0.15, 1)
    assert low.first == "charge"
    with pytest.raises(ValueError, match="20 %"):
        plan_shallow_test(0.5, 1, depth=0.3)


def test_a_soc_that_does_not_follow_the_charge_is_abnormal() -> None:
    plan = plan_shallow_test(0.6, 1)
    r0 = ShallowReading(60.0, 95.0, 298.0, 3.30, 3.31)
    r1 = ShallowReading(50.0, 95.0, 298.0, 3.28, 3.29)  # 62.8 Ah out of 298 Ah is 21 %, not 10 %
    r2 = ShallowReading(60.0, 70.0, 220.0, 3.30, 3.40)
    verdict = evaluate(plan, (r0, r1, r2), (62.8, 62.8))
    assert not verdict.soc_normal and not verdict.soh_normal
    assert verdict.text == "SOC abnormal, SOH abnormal"
    assert any("100 mV" in line and "unbalanced" in line for line in verdict.lines)


def test_storage_recharge_is_due_every_3_months_while_stored() -> None:
    assert "storage_recharge" not in {d.item.key for d in schedule(T0, (), T0)}
    stored = T0 + 10 * DAY_S
    dues = {d.item.key: d for d in schedule(T0, (), T0 + 100 * DAY_S, stored_since_s=stored)}
    recharge = dues["storage_recharge"]
    assert recharge.due_s == pytest.approx(stored + 3 * 30.4375 * DAY_S) and recharge.status == "due soon"
    # a recharge before this storage does not count; one during it does
    old = WorkRecord("storage_recharge", T0)
    new = WorkRecord("storage_recharge", T0 + 95 * DAY_S)
    assert {d.item.key: d for d in schedule(T0, (old,), T0 + 100 * DAY_S, stored)}[
        "storage_recharge"
    ].last_done_s is None
    later = {d.item.key: d for d in schedule(T0, (old, new), T0 + 100 * DAY_S, stored)}["storage_recharge"]
    assert later.status == "ok" and later.due_s == pytest.approx(T0 + (95 + 91.3125) * DAY_S)
    assert any(
        line.startswith("Storage recharge: due in") and "13.1 (10)" in line for line in reminders(tuple(dues.values()))
    )
