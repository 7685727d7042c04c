"""Storage advice of manual 8.1.3 and 13.1 (10)/(12): target SOC, recharge interval, temperature and humidity.

The manual states the storage rules twice, and the two places differ:

- 8.1.3 (long-term storage, over 3 months): SOC 50-70 %, 20-35 degC, RH 50 +- 15 %, "charge the battery once every
  6 months to avoid irreversible capacity loss".
- 13.1 (10): "charge and discharge the battery every three months"; "the recommended state of charge for storage is
  between 50% and 60%".

We take the stricter of each: the SOC band where both agree (50-60 %) and a recharge every 3 months. Doing it every
3 months satisfies both statements (a 3-month schedule is also a 6-month one), it is what the warranty-relevant
cautions chapter says, and it costs one top-up more per half year. It also keeps the pack well clear of the low-voltage
sleep and deep discharge of 12.2 #9/#10 when the store is warm: self-discharge of LFP is 1-3 %/month at 25 degC and
doubles about every 10 K (see :func:`soc_after`); from 50 % at 35 degC, six months can lose about a third of the
charge, three months half that.

Pure: no clock, no I/O; times are passed in (seconds).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "LONG_TERM_AFTER_DAYS",
    "RECHARGE_INTERVAL_DAYS",
    "STORAGE_RULES",
    "StorageRule",
    "check_storage",
    "recharge_due_s",
    "rule_for",
    "soc_after",
]

DAY_S = 86400.0
DAYS_PER_MONTH = 30.4375  # mean calendar month
#: storage beyond this is "long-term" (8.1.3)
LONG_TERM_AFTER_DAYS = 3 * DAYS_PER_MONTH
#: recharge interval taken: 13.1 (10) (every 3 months), stricter than 8.1.3 (every 6 months)
RECHARGE_INTERVAL_DAYS = 3 * DAYS_PER_MONTH
#: typical LFP self-discharge at 25 degC and its doubling per K (simulation.md 4.2; the twin's lfp_314ah.toml)
TYPICAL_SELF_DISCHARGE_PER_MONTH = 0.02
SELF_DISCHARGE_DOUBLING_K = 10.0


@dataclass(frozen=True)
class StorageRule:
    """One storage class of 8.1.3 with the stricter reading of 13.1 (10) applied."""

    name: str
    up_to_days: float | None
    soc_min: float
    soc_max: float
    temperature_c: tuple[float, float]
    humidity_pct: tuple[float, float]
    recharge_every_days: float | None
    soc_source: str
    recharge_source: str


STORAGE_RULES: tuple[StorageRule, ...] = (
    StorageRule(
        "short-term (within 3 months)",
        LONG_TERM_AFTER_DAYS,
        soc_min=0.50,
        soc_max=1.0,
        temperature_c=(10.0, 45.0),
        humidity_pct=(30.0, 90.0),
        recharge_every_days=None,
        soc_source="8.1.3: it can be stored fully charged; it ships at 50 % (13.1 (12))",
        recharge_source="8.1.3: no recharge within 3 months",
    ),
    StorageRule(
        "long-term (over 3 months)",
        None,
        soc_min=0.50,
        soc_max=0.60,
        temperature_c=(20.0, 35.0),
        humidity_pct=(35.0, 65.0),
        recharge_every_days=RECHARGE_INTERVAL_DAYS,
        soc_source="8.1.3 says 50-70 %, 13.1 (10) says 50-60 %: both hold at 50-60 %",
        recharge_source=(
            "8.1.3 says charge once every 6 months, 13.1 (10) every 3 months: every 3 months satisfies both"
        ),
    ),
)


def rule_for(storage_days: float) -> StorageRule:
    """The storage class for a planned storage of ``storage_days``."""
    for rule in STORAGE_RULES:
        if rule.up_to_days is None or storage_days <= rule.up_to_days:
            return rule
    return STORAGE_RULES[-1]


def soc_after(
    soc: float,
    days: float,
    temperature_c: float = 25.0,
    rate_per_month: float = TYPICAL_SELF_DISCHARGE_PER_MONTH,
) -> float:
    """SOC after ``days`` of storage by self-discharge alone (rate at 25 degC, doubling every 10 K), not below 0."""
    rate = rate_per_month * 2.0 ** ((temperature_c - 25.0) / SELF_DISCHARGE_DOUBLING_K)
    return float(max(0.0, soc - rate * days / DAYS_PER_MONTH))


def recharge_due_s(stored_since_s: float, last_recharge_s: float | None, rule: StorageRule) -> float | None:
    """When the next storage recharge falls due (epoch or simulated seconds), or None when the rule needs none."""
    if rule.recharge_every_days is None:
        return None
    start = stored_since_s if last_recharge_s is None else max(stored_since_s, last_recharge_s)
    return start + rule.recharge_every_days * DAY_S


def check_storage(
    rule: StorageRule,
    *,
    soc: float | None = None,
    temperature_c: float | None = None,
    humidity_pct: float | None = None,
) -> list[str]:
    """What is outside the rule, one plain sentence each (empty: all within)."""
    out: list[str] = []
    if soc is not None and not rule.soc_min - 1e-9 <= soc <= rule.soc_max + 1e-9:
        act = "charge" if soc < rule.soc_min else "discharge"
        out.append(
            f"SOC {soc * 100:.0f} % is outside the {rule.soc_min * 100:.0f}-{rule.soc_max * 100:.0f} % for "
            f"{rule.name} storage ({rule.soc_source}); {act} it to {rule.soc_max * 100:.0f} %"
        )
    lo, hi = rule.temperature_c
    if temperature_c is not None and not lo <= temperature_c <= hi:
        warm = temperature_c > hi
        out.append(
            f"{temperature_c:.0f} degC is outside {lo:.0f}-{hi:.0f} degC (8.1.3); "
            + ("self-discharge and calendar ageing double about every 10 K" if warm else "move it somewhere warmer")
        )
    hlo, hhi = rule.humidity_pct
    if humidity_pct is not None and not hlo <= humidity_pct <= hhi:
        out.append(
            f"relative humidity {humidity_pct:.0f} % is outside {hlo:.0f}-{hhi:.0f} % (8.1.3): dry, no corrosive gas"
        )
    return out


def advice_lines(rule: StorageRule) -> list[str]:
    """The advice for a storage class as plain lines."""
    lo, hi = rule.temperature_c
    hlo, hhi = rule.humidity_pct
    lines = [
        f"{rule.name}: keep the SOC at {rule.soc_min * 100:.0f}-{rule.soc_max * 100:.0f} % ({rule.soc_source})",
        f"store dry and cool, {lo:.0f}-{hi:.0f} degC, relative humidity {hlo:.0f}-{hhi:.0f} %, no corrosive gas, "
        "away from strong electromagnetic fields and direct sunlight (8.1.3, 13.1 (1))",
    ]
    if rule.recharge_every_days is not None:
        months = rule.recharge_every_days / DAYS_PER_MONTH
        after = soc_after(rule.soc_max, rule.recharge_every_days)
        lines.append(
            f"recharge to {rule.soc_max * 100:.0f} % (the top of the band) every {months:.0f} months "
            f"({rule.recharge_source}; the stricter is taken: it satisfies both and keeps a warm store away from the "
            f"low-voltage sleep of 12.2 #9); {months:.0f} months at 25 degC and a typical "
            f"{TYPICAL_SELF_DISCHARGE_PER_MONTH * 100:.0f} %/month leave about {after * 100:.0f} %"
        )
    lines.append("after storage, charge the battery after start-up and before use (8.6.3, 13.1 (12))")
    return lines


__all__ += ["DAYS_PER_MONTH", "DAY_S", "advice_lines"]
