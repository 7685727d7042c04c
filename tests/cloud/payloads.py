"""Device payloads in the exact format ``ml314 run --mqtt`` sends (cloud/telemetry.py), built from the protocols'
worked example bank, for the tests and the benchmark that need many of them quickly."""

from __future__ import annotations

from typing import Any

import orjson

from ml314.bms.events import Event
from ml314.cloud.telemetry import event_payload, merge, sample_payload
from ml314.protocols.examples import worked_example

__all__ = ["event", "sample", "sample_bytes", "summary"]


def sample(serial: str, seq: int, ts: float, modules: int = 1) -> dict[str, Any]:
    """Sample ``seq`` of ``serial`` taken at ``ts`` (a bank of ``modules`` modules; SOC moves with seq)."""
    bank = worked_example(modules)
    body = sample_payload(serial, seq, ts=ts, t_s=float(seq), bank=bank, modules=[(m.address, m) for m in bank.modules])
    body["bank"]["soc_pct"] = float(seq % 100)
    return body


def sample_bytes(serial: str, seq: int, ts: float, modules: int = 1) -> bytes:
    return orjson.dumps(sample(serial, seq, ts, modules))


def summary(serial: str, seqs: range, ts0: float, step_s: float = 1.0) -> dict[str, Any]:
    """The summary the device's buffer makes of the samples ``seqs`` (one every ``step_s`` from ``ts0``)."""
    return merge([sample(serial, q, ts0 + i * step_s) for i, q in enumerate(seqs)])


def event(serial: str, event_id: int, ts: float, epoch: int = 0) -> dict[str, Any]:
    ev = Event(
        t_s=float(event_id),
        module_id=1,
        kind="alarm",
        key="cell_overvoltage",
        quantity="cell_voltage_v",
        value=3.61,
        threshold=3.6,
        unit="V",
        level="warning",
        action="limit CCL",
        message="cell high",
    )
    return event_payload(serial, event_id, ts, ev, epoch=epoch)
