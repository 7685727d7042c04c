"""Snapshots as JSON values and back: the one wire form every surface uses (web API, WebSocket, ``ml314 lcd``, MQTT).

:func:`to_jsonable` turns a frozen dataclass snapshot (``BankStatus``, ``ModuleStatus``, ``ChargeLimits``,
``SystemFault`` ...) into plain JSON values: dataclasses become objects keyed by field name, enums their ``name``,
tuples lists, frozensets sorted lists, non-finite floats ``None``. :func:`from_jsonable` reads such a value back into
the dataclass by its type hints, so a client rebuilds the same snapshot the server sent.
"""

from __future__ import annotations

import enum
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar, get_args, get_origin, get_type_hints

__all__ = ["SnapshotDecodeError", "from_jsonable", "to_jsonable"]

T = TypeVar("T")

JsonValue = None | bool | int | float | str | list[Any] | dict[str, Any]


class SnapshotDecodeError(ValueError):
    """A JSON value that does not fit the snapshot type; the message names the field path."""


def to_jsonable(value: Any) -> JsonValue:
    """``value`` as JSON values (see the module docstring)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, enum.Enum):
        return value.name
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, frozenset | set):
        items = [to_jsonable(v) for v in value]
        return sorted(items, key=lambda v: (str(type(v)), str(v)))
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return to_jsonable(value.tolist())
    raise TypeError(f"cannot express {type(value).__name__} as JSON")


def from_jsonable(cls: type[T], data: Any) -> T:
    """The dataclass ``cls`` rebuilt from :func:`to_jsonable`'s output; :class:`SnapshotDecodeError` names the path
    of a value that does not fit."""
    return typing.cast(T, _read(cls, data, cls.__name__))


def _read(hint: Any, data: Any, path: str) -> Any:
    origin = get_origin(hint)
    if hint is Any:
        return data
    if origin is typing.Union or origin is types.UnionType:
        options = get_args(hint)
        if data is None and type(None) in options:
            return None
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return _read(option, data, path)
            except SnapshotDecodeError as exc:
                errors.append(str(exc))
        raise SnapshotDecodeError(errors[0] if errors else f"{path}: null is not allowed")
    if origin is typing.Literal:
        if data not in get_args(hint):
            raise SnapshotDecodeError(f"{path}: {data!r} is not one of {list(get_args(hint))}")
        return data
    if origin in (tuple, frozenset, list):
        if not isinstance(data, list):
            raise SnapshotDecodeError(f"{path}: expected a list, got {type(data).__name__}")
        args = get_args(hint)
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(args) != len(data):
                raise SnapshotDecodeError(f"{path}: expected {len(args)} items, got {len(data)}")
            return tuple(_read(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, data, strict=True)))
        item = args[0] if args else Any
        values = [_read(item, v, f"{path}[{i}]") for i, v in enumerate(data)]
        return {tuple: tuple, frozenset: frozenset, list: list}[origin](values)
    if origin is dict:
        if not isinstance(data, dict):
            raise SnapshotDecodeError(f"{path}: expected an object, got {type(data).__name__}")
        _, value_hint = get_args(hint) or (str, Any)
        return {k: _read(value_hint, v, f"{path}.{k}") for k, v in data.items()}
    if isinstance(hint, type) and is_dataclass(hint):
        return _read_dataclass(hint, data, path)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        if not isinstance(data, str) or data not in hint.__members__:
            raise SnapshotDecodeError(f"{path}: {data!r} is not a {hint.__name__}")
        return hint[data]
    if hint is float:
        if data is None:
            return math.nan
        if isinstance(data, bool) or not isinstance(data, int | float):
            raise SnapshotDecodeError(f"{path}: expected a number, got {data!r}")
        return float(data)
    if hint is int or hint is bool or hint is str:
        if type(data) is not hint:
            raise SnapshotDecodeError(f"{path}: expected {hint.__name__}, got {data!r}")
        return data
    if hint is Path:
        if not isinstance(data, str):
            raise SnapshotDecodeError(f"{path}: expected a path string, got {data!r}")
        return Path(data)
    raise SnapshotDecodeError(f"{path}: cannot read type {hint!r}")


def _read_dataclass(cls: type[Any], data: Any, path: str) -> Any:
    if not isinstance(data, dict):
        raise SnapshotDecodeError(f"{path}: expected an object, got {type(data).__name__}")
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls) if f.init}
    unknown = sorted(set(data) - known)
    if unknown:
        raise SnapshotDecodeError(f"{path}: unknown field {unknown[0]!r}")
    values = {name: _read(hints[name], data[name], f"{path}.{name}") for name in known if name in data}
    try:
        return cls(**values)
    except TypeError as exc:
        raise SnapshotDecodeError(f"{path}: {exc}") from None
