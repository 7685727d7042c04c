"""A message the cloud received (topic, payload) as the rows of the fleet store (fleet_schema.py), or
:class:`BadPayloadError` saying in a few words why not.

Everything is checked here, before the rows go to PostgreSQL, so that one bad message can never fail the COPY of
a whole batch: the payload is JSON, its ``serial`` is the topic's, every field has its type (numbers stay numbers,
a missing one is NULL), ``seq`` and ``id`` are positive, ``ts`` is a plausible time.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ml314.cloud.fleet_schema import BANK_FIELDS, BANK_FLAGS, BANK_INTS, MODULE_FIELDS, MODULE_FLAGS
from ml314.cloud.topics import ROOT

__all__ = [
    "BANK_COLUMNS",
    "EVENT_COLUMNS",
    "MODULE_COLUMNS",
    "BadPayloadError",
    "CopyText",
    "Parsed",
    "copy_line",
    "parse_message",
]

#: the staging columns, in COPY order (``ts``/``ts_from`` as Unix seconds; the INSERT converts them)
BANK_COLUMNS = ("serial", "seq", "ts", "kind", "seq_from", "samples", "ts_from", "t_s", *BANK_FIELDS, *BANK_INTS,
                *BANK_FLAGS, "alarms", "protections", "stats")  # fmt: skip
MODULE_COLUMNS = ("serial", "seq", "ts", "n", "module_id", "module_serial", "state", *MODULE_FIELDS, "cells_v",
                  "temps_c", "cycles", *MODULE_FLAGS, "alarms", "protections", "stats")  # fmt: skip
EVENT_COLUMNS = ("serial", "epoch", "id", "ts", "t_s", "module_id", "event_kind", "key", "quantity", "value",
                 "threshold", "unit", "level", "action", "message")  # fmt: skip

#: the times a sample may carry: from 2020 to a day ahead of the cloud's clock (a device with a wrong clock would
#: otherwise open a partition per wrong day)
_TS_MIN = 1_577_836_800.0
_TS_AHEAD_S = 86_400.0
_INT_MAX = 2**63 - 1
_SMALL_MAX = 2**15 - 1


_NUMBERS = {float, int}


class CopyText(str):
    """A value already in COPY's text format (a float array literal, made while checking its elements)."""

    __slots__ = ()


class BadPayloadError(ValueError):
    """A message the cloud cannot store; the text says why in a few words."""


@dataclass(slots=True)
class Parsed:
    """The rows of one message received at ``received_s`` (the cloud's clock). ``online`` is what it says about the
    device: any message says True but a status ``offline`` (the device's last word, or the broker's will for it)."""

    serial: str
    kind: str  # telemetry | events | status
    online: bool
    received_s: float
    bank: tuple[Any, ...] | None = None
    module_text: str = ""  # the module rows as lines of COPY's text format (MODULE_COLUMNS)
    module_rows: int = 0
    event: tuple[Any, ...] | None = None
    seq: int = 0
    ts: float = 0.0


def _element(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(v)


def _escape(text: str) -> str:
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def _field(v: Any) -> str:
    """One value in COPY's text format (``\\N`` NULL; arrays as ``{...}`` literals)."""
    kind = type(v)
    if kind is float or kind is int:
        return repr(v)
    if v is None:
        return "\\N"
    if kind is bool:
        return "t" if v else "f"
    if kind is CopyText:
        return str(v)
    if isinstance(v, str):
        return _escape(v)
    if isinstance(v, list):
        return _escape("{" + ",".join([_element(x) for x in v]) + "}")
    return repr(v)


def copy_line(row: Sequence[Any]) -> str:
    """``row`` as one line of COPY's text format. (psycopg's ``write_row`` does the same, but dumps arrays in
    Python element by element: several times slower here.)"""
    return "\t".join([_field(v) for v in row]) + "\n"


def _num(d: dict[str, Any], key: str) -> float | None:
    # JSON has no NaN or infinity: a float from the parser is finite
    x = d.get(key)
    kind = type(x)
    if kind is float:
        return x
    if kind is int:
        return float(x)  # type: ignore[arg-type]
    if x is None:
        return None
    raise BadPayloadError(f"{key} is not a number")


def _int(d: dict[str, Any], key: str, lo: int = -_INT_MAX, hi: int = _INT_MAX) -> int | None:
    x = d.get(key)
    if x is None:
        return None
    if isinstance(x, bool) or not isinstance(x, int) or not lo <= x <= hi:
        raise BadPayloadError(f"{key} is not an integer in {lo}..{hi}")
    return x


def _need_int(d: dict[str, Any], key: str, lo: int, hi: int = _INT_MAX) -> int:
    x = _int(d, key, lo, hi)
    if x is None:
        raise BadPayloadError(f"no {key}")
    return x


def _flag(d: dict[str, Any], key: str) -> bool | None:
    x = d.get(key)
    if x is None or isinstance(x, bool):
        return x
    raise BadPayloadError(f"{key} is not true/false")


def _text(d: dict[str, Any], key: str) -> str | None:
    x = d.get(key)
    if x is None or isinstance(x, str):
        return x.replace("\x00", "") if x is not None else None
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return str(x)
    raise BadPayloadError(f"{key} is not text")


def _texts(d: dict[str, Any], key: str) -> list[str] | None:
    x = d.get(key)
    if x is None:
        return None
    if not isinstance(x, list) or not all(isinstance(a, str) for a in x):
        raise BadPayloadError(f"{key} is not a list of names")
    return [a.replace("\x00", "") for a in x]


def _nums(d: dict[str, Any], key: str) -> CopyText | list[float | None] | None:
    """A list of numbers: as a ready array literal when every element is a finite number (the usual case)."""
    x = d.get(key)
    if x is None:
        return None
    if not isinstance(x, list) or len(x) > 64:
        raise BadPayloadError(f"{key} is not a list of numbers")
    if set(map(type, x)) <= _NUMBERS:  # finite: JSON has no NaN or infinity
        return CopyText("{" + ",".join(map(repr, x)) + "}")
    out: list[float | None] = []
    for v in x:
        if v is None:
            out.append(None)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append(float(v) if math.isfinite(v) else None)
        else:
            raise BadPayloadError(f"{key} is not a list of numbers")
    return out


def _ts(d: dict[str, Any], key: str, now_s: float) -> float:
    x = _num(d, key)
    if x is None or not _TS_MIN <= x <= now_s + _TS_AHEAD_S:
        raise BadPayloadError(f"{key} is not a time from 2020 to a day ahead")
    return x


def _obj(x: Any, what: str) -> dict[str, Any]:
    if not isinstance(x, dict):
        raise BadPayloadError(f"{what} is not an object")
    return x


def _stat_mean(d: dict[str, Any], key: str) -> float | None:
    """A summary's value: the mean of its statistic (a plain number is taken as it is)."""
    x = d.get(key)
    if isinstance(x, dict):
        return _num(x, "mean")
    return _num(d, key)


#: a module of a sample as ``ml314 run`` sends it: these keys with exactly these types (the fast path)
_MODULE_KEYS = ("n", "id", "serial", "state", *MODULE_FIELDS, "cells_v", "temps_c", "cycles", *MODULE_FLAGS, "alarms",
                "protections")  # fmt: skip
_MODULE_TYPES = (int, int, str, str, *(float for _ in MODULE_FIELDS), list, list, int, *(bool for _ in MODULE_FLAGS),
                 list, list)  # fmt: skip
_module_values = operator.itemgetter(*_MODULE_KEYS)
#: characters that text needs escaped in COPY's format or in an array literal (or removed: NUL)
_UNSAFE = re.compile(r'[\\"\t\n\r\x00]')
_I32 = 2**31


def _names(x: list[str]) -> str:
    return "{" + ",".join(['"' + a + '"' for a in x]) + "}" if x else "{}"


def _numbers(x: list[float]) -> str:
    """Finite numbers as an array literal; orjson writes each as its shortest exact text, in one call."""
    return "{" + orjson.dumps(x).decode()[1:-1] + "}"


def _module_line(prefix: str, m: Any) -> str | None:
    """A sample's module as one COPY line, checked as a whole: every field present with its usual type, numbers in
    range, text without a character to escape. None when anything differs (the caller checks field by field)."""
    try:
        values = _module_values(m)
    except (KeyError, TypeError):
        return None
    if tuple(map(type, values)) != _MODULE_TYPES:
        return None
    n, mid, serial, state, soc, soh, volt, amp, cells, temps, cycles, bal, chg, dis, alarms, prot = values
    if not (0 < n <= _SMALL_MAX and -_SMALL_MAX <= mid <= _SMALL_MAX and -_I32 <= cycles < _I32):
        return None
    if len(cells) > 64 or len(temps) > 64 or not set(map(type, cells)) | set(map(type, temps)) <= _NUMBERS:
        return None
    if not set(map(type, alarms)) | set(map(type, prot)) <= {str}:
        return None
    if _UNSAFE.search("".join([serial, state, *alarms, *prot])):
        return None
    return (
        f"{prefix}{n}\t{mid}\t{serial}\t{state}\t{soc!r}\t{soh!r}\t{volt!r}\t{amp!r}\t"
        f"{_numbers(cells)}\t{_numbers(temps)}\t{cycles}\t"
        f"{'t' if bal else 'f'}\t{'t' if chg else 'f'}\t{'t' if dis else 'f'}\t{_names(alarms)}\t{_names(prot)}\t\\N\n"
    )


def _telemetry(serial: str, p: dict[str, Any], now_s: float) -> Parsed:
    kind = p.get("kind")
    if kind not in ("sample", "summary"):
        raise BadPayloadError(f"telemetry kind {kind!r} is not sample or summary")
    seq = _need_int(p, "seq", 1)
    ts = _ts(p, "ts", now_s)
    bank = _obj(p.get("bank"), "bank")
    modules = p.get("modules")
    if not isinstance(modules, list) or len(modules) > 64:
        raise BadPayloadError("modules is not a list")
    summary = kind == "summary"
    value: Callable[[dict[str, Any], str], float | None] = _stat_mean if summary else _num
    stats: str | None = None
    if summary:
        seq_from = _need_int(p, "seq_from", 1, seq)
        samples = _need_int(p, "samples", 1, 2**31 - 1)
        ts_from = _ts(p, "ts_from", now_s)
        stats = orjson.dumps({k: v for k, v in bank.items() if isinstance(v, dict)}).decode()
        alarms = _texts(bank, "alarms")
        protections: list[str] | None = []
    else:
        seq_from, samples, ts_from = seq, 1, ts
        alarms, protections = _texts(bank, "alarms"), _texts(bank, "protections")
    row = (
        serial, seq, ts, kind, seq_from, samples, ts_from, _num(p, "t_s"),
        *(value(bank, k) for k in BANK_FIELDS),
        *(_int(bank, k, -(2**31), 2**31 - 1) for k in BANK_INTS),
        *(_flag(bank, k) for k in BANK_FLAGS),
        alarms, protections, stats,
    )  # fmt: skip
    lines: list[str] = []
    seen: set[int] = set()
    prefix = f"{_escape(serial)}\t{seq}\t{ts!r}\t"
    for raw in modules:
        line = None if summary else _module_line(prefix, raw)
        if line is None:  # anything unusual: the field by field checks (which say what is wrong)
            m = _obj(raw, "a module")
            n = _need_int(m, "n", 1, _SMALL_MAX)
            mstats = None
            if summary:
                mstats = orjson.dumps({k: v for k, v in m.items() if isinstance(v, dict)}).decode()
            mrow = (
                serial, seq, ts, n, _int(m, "id", -_SMALL_MAX, _SMALL_MAX), _text(m, "serial"), _text(m, "state"),
                *(value(m, k) for k in MODULE_FIELDS),
                _nums(m, "cells_v"), _nums(m, "temps_c"), _int(m, "cycles", -(2**31), 2**31 - 1),
                *(_flag(m, k) for k in MODULE_FLAGS),
                _texts(m, "alarms"), _texts(m, "protections"), mstats,
            )  # fmt: skip
            line = copy_line(mrow)
        else:
            n = raw["n"]
        if n in seen:
            raise BadPayloadError(f"module n={n} twice")
        seen.add(n)
        lines.append(line)
    return Parsed(
        serial, "telemetry", True, now_s, bank=row, module_text="".join(lines), module_rows=len(lines), seq=seq, ts=ts
    )


def _event(serial: str, p: dict[str, Any], now_s: float) -> Parsed:
    if p.get("kind") != "event":
        raise BadPayloadError("event kind is not 'event'")
    ts = _ts(p, "ts", now_s)
    row = (
        serial, _need_int(p, "epoch", 0, 2**31 - 1), _need_int(p, "id", 0), ts, _num(p, "t_s"),
        _int(p, "module_id", -_SMALL_MAX, _SMALL_MAX), _text(p, "event_kind"), _text(p, "key"), _text(p, "quantity"),
        _num(p, "value"), _num(p, "threshold"), _text(p, "unit"), _text(p, "level"), _text(p, "action"),
        _text(p, "message"),
    )  # fmt: skip
    return Parsed(serial, "events", True, now_s, event=row, ts=ts)


def parse_message(topic: str, payload: bytes, now_s: float) -> Parsed:
    """The rows of the message on ``topic`` (``ml314/<serial>/telemetry|events|status``) received at ``now_s``
    (the cloud's clock; also the bound on ``ts``). Raises :class:`BadPayloadError`."""
    parts = topic.split("/")
    if len(parts) != 3 or parts[0] != ROOT or parts[2] not in ("telemetry", "events", "status"):
        raise BadPayloadError(f"topic {topic[:80]!r} is not one of ours")
    serial, kind = parts[1], parts[2]
    if kind == "status":
        text = payload.strip()
        if text not in (b"online", b"offline"):
            raise BadPayloadError("status is not online or offline")
        return Parsed(serial, "status", text == b"online", now_s)
    try:
        p = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise BadPayloadError("not JSON") from None
    p = _obj(p, "the payload")
    if p.get("serial") != serial:
        raise BadPayloadError("the payload's serial is not the topic's")
    if p.get("v") != 1:
        raise BadPayloadError(f"payload version {p.get('v')!r} is not 1")
    return _telemetry(serial, p, now_s) if kind == "telemetry" else _event(serial, p, now_s)
