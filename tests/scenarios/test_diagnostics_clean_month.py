"""No false alarm: chapter 12's rules over 30 simulated days of a 16-module bank in the home system.

Simulating the month costs about 80 s of CPU (``ml314 simulate --modules 16 --days 30``: 2.7 s a day on the team's
machine), too much for the suite, so the run was recorded once (``data/clean_30d_16m.npz``, made by
``python benchmarks/diagnose.py --record tests/scenarios/data/clean_30d_16m.npz``, which simulates it afresh) and
the rules are replayed here over the whole record: every minute of the 30 days, as the live run would have
observed it (``runtime/diagnosis_replay.py``). ``benchmarks/diagnose.py`` repeats the check on a fresh simulation.
(A shorter simulation is no prefix of the month: the scenario's weather is drawn for the whole span.)
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ml314.bms.events import Event
from ml314.runtime.diagnosis_replay import Recording, replay

RECORD = Path(__file__).parent / "data" / "clean_30d_16m.npz"


@pytest.fixture(scope="module")
def month() -> Recording:
    return Recording.load(RECORD)


@pytest.mark.long
def test_thirty_days_of_sixteen_modules_raise_no_finding(month: Recording) -> None:
    assert month.modules == 16
    result = replay(month)
    assert result.samples == 43_200  # every minute
    assert result.days > 29.99
    assert result.findings() == [], [f"{t:.0f} s: {f.text()}" for t, f in result.findings()]


def test_the_replay_sees_a_fault_put_into_the_record(month: Recording) -> None:
    # the same month with module 7 gone to sleep on day 10: the replay must say so from then on
    t = 10 * 86400.0
    sleep = Event(t_s=t, module_id=7, kind="state", key="state.sleep", message="Module 7: protection -> sleep: "
                  "low-voltage protection held: sleep")  # fmt: skip
    events = sorted([*month.events, sleep], key=lambda e: e.t_s)
    cut = next(i for i, e in enumerate(events) if e.t_s > t + 1800.0)  # awake again after half an hour
    woken = Event(t_s=t + 1800.0, module_id=7, kind="state", key="state.standby",
                  message="Module 7: sleep -> standby: charging wakes the module")  # fmt: skip
    events.insert(cut, woken)
    result = replay(replace(month, events=tuple(events)), every_s=600.0)
    found = [(t_s, f.code, f.module_id) for t_s, f in result.findings()]
    assert found and found[0][1:] == ("sleep", 7) and t <= found[0][0] <= t + 600.0, found
