"""Reading a typed configuration tree (a parsed TOML document) with messages that name the key.

Every table is read through a :class:`Section`, which remembers which keys were taken; :meth:`Section.done` then
rejects any key left over and suggests the nearest valid one, so a typo never passes silently.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping
from dataclasses import MISSING, fields, is_dataclass
from pathlib import Path
from types import UnionType
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from ml314.domain.durations import parse_duration_s
from ml314.errors import ConfigError

T = TypeVar("T")


class Section:
    """One table of the tree, at a dotted path, read key by key."""

    def __init__(self, data: Mapping[str, Any], path: str, source: str = "") -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}{path}: expected a table, got {type(data).__name__}")
        self._data = data
        self.path = path
        self.source = source
        self._taken: set[str] = set()

    def where(self, key: str) -> str:
        """The dotted name of ``key`` for messages."""
        return f"{self.source}{self.path}.{key}" if self.path else f"{self.source}{key}"

    def has(self, key: str) -> bool:
        """Whether ``key`` is present."""
        return key in self._data

    def _raw(self, key: str, default: Any) -> Any:
        self._taken.add(key)
        if key not in self._data:
            if default is _REQUIRED:
                typo = difflib.get_close_matches(key, [k for k in self._data if k not in self._taken], n=1)
                if typo:
                    raise ConfigError(f"{self.where(typo[0])}: unknown key (did you mean {key!r}?)")
                raise ConfigError(f"{self.where(key)}: missing")
            return default
        return self._data[key]

    def value(self, key: str) -> Any:
        """The raw value of a present ``key`` (marked as read), for callers that convert it themselves."""
        return self._raw(key, _REQUIRED)

    def number(self, key: str, default: Any = None) -> float:
        """A real number."""
        value = self._raw(key, _REQUIRED if default is None else default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{self.where(key)}: {value!r} is not a number")
        return float(value)

    def integer(self, key: str, default: Any = None) -> int:
        """A whole number."""
        value = self._raw(key, _REQUIRED if default is None else default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{self.where(key)}: {value!r} is not a whole number")
        return value

    def boolean(self, key: str, default: Any = None) -> bool:
        """true or false."""
        value = self._raw(key, _REQUIRED if default is None else default)
        if not isinstance(value, bool):
            raise ConfigError(f"{self.where(key)}: {value!r} is not true or false")
        return value

    def text(self, key: str, default: Any = None, choices: tuple[str, ...] = ()) -> str:
        """A string, optionally one of ``choices``."""
        value = self._raw(key, _REQUIRED if default is None else default)
        if not isinstance(value, str):
            raise ConfigError(f"{self.where(key)}: {value!r} is not a string")
        if choices and value not in choices:
            raise ConfigError(f"{self.where(key)}: {value!r} is not one of {', '.join(choices)}{_hint(value, choices)}")
        return value

    def numbers(self, key: str) -> tuple[float, ...]:
        """A list of numbers."""
        value = self._raw(key, _REQUIRED)
        if not isinstance(value, list) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value
        ):
            raise ConfigError(f"{self.where(key)}: expected a list of numbers")
        return tuple(float(v) for v in value)

    def texts(self, key: str, choices: tuple[str, ...]) -> tuple[str, ...]:
        """A list of strings, each one of ``choices``."""
        value = self._raw(key, _REQUIRED)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{self.where(key)}: expected a list of strings")
        for v in value:
            if v not in choices:
                raise ConfigError(f"{self.where(key)}: {v!r} is not one of {', '.join(choices)}{_hint(v, choices)}")
        return tuple(value)

    def section(self, key: str, default_empty: bool = False) -> Section:
        """A nested table."""
        value = self._raw(key, {} if default_empty else _REQUIRED)
        return Section(value, f"{self.path}.{key}" if self.path else key, self.source)

    def sections(self, key: str) -> list[Section]:
        """An array of tables."""
        value = self._raw(key, _REQUIRED)
        if not isinstance(value, list):
            raise ConfigError(f"{self.where(key)}: expected an array of tables ([[{key}]])")
        return [
            Section(v, f"{self.path}.{key}[{i}]" if self.path else f"{key}[{i}]", self.source)
            for i, v in enumerate(value)
        ]

    def names(self) -> tuple[str, ...]:
        """The keys present."""
        return tuple(self._data)

    def done(self, valid: tuple[str, ...] = ()) -> None:
        """Refuse keys nobody asked for, suggesting the nearest valid one (of those read and ``valid``)."""
        for key in self._data:
            if key not in self._taken:
                raise ConfigError(f"{self.where(key)}: unknown key{_hint(key, (*self._taken, *valid))}")


class _Required:
    pass


_REQUIRED: Any = _Required()


def _hint(word: str, choices: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# ------------------------------------------------------------------------------------------ dataclasses from trees
#: a converter for one field: (raw value from a file or the command line, where it came from) -> the field's value
Converter = Callable[[Any, str], Any]

_TRUE = ("true", "on", "yes", "1")
_FALSE = ("false", "off", "no", "0")


def read_dataclass(
    cls: type[T],
    section: Section | None,
    overrides: Mapping[str, Any] | None = None,
    *,
    convert: Mapping[str, Converter] | None = None,
    option_names: Mapping[str, str] | None = None,
) -> T:
    """A frozen dataclass ``cls`` from a table of a file (``section``) and command-line ``overrides`` (which win).

    Each field is read by its type (bool, int, float, str, Path, tuple[X, ...], ``X | None``, Literal, a nested
    dataclass as a sub-table) or by ``convert[name]``; a field ending in ``_s`` also takes a duration such as
    ``"10min"``. Keys of ``section`` that are no field are refused with the nearest valid one (``Section.done``).
    A required field given nowhere is passed to its converter as None (its converter knows the default). Messages
    name the file key, or the option (``option_names[field]``, else ``--field-name``) the value came from.
    Then ``cls.validate()`` runs, if ``cls`` has one.
    """
    overrides = overrides or {}
    convert = convert or {}
    option_names = option_names or {}
    hints = get_type_hints(cls)
    unknown = set(overrides) - {f.name for f in fields(cls)}  # type: ignore[arg-type]
    if unknown:
        raise TypeError(f"{cls.__name__} has no field {sorted(unknown)[0]!r}")
    values: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if not f.init:
            continue
        hint = hints[f.name]
        sub = None if f.name in convert else _nested(hint)
        if sub is not None and isinstance(overrides.get(f.name), sub):
            values[f.name] = overrides[f.name]  # given whole
            continue
        if sub is not None:  # a nested dataclass: its own sub-table and its own overrides
            table = section.section(f.name, default_empty=True) if section is not None else None
            given = overrides.get(f.name) or {}
            if table is not None and (table.names() or given):
                values[f.name] = read_dataclass(sub, table, given)
            elif given:
                values[f.name] = read_dataclass(sub, None, given)
            continue
        if f.name in overrides:
            if section is not None and section.has(f.name):
                section.value(f.name)  # the file's value, overridden: still a valid key
            raw, where = overrides[f.name], option_names.get(f.name, "--" + f.name.replace("_", "-"))
        elif section is not None and section.has(f.name):
            raw, where = section.value(f.name), section.where(f.name)
        elif f.name in convert and f.default is MISSING and f.default_factory is MISSING:
            raw, where = None, option_names.get(f.name, "--" + f.name.replace("_", "-"))
        else:
            continue
        if f.name in convert:
            values[f.name] = convert[f.name](raw, where)
        else:
            values[f.name] = typed_value(hint, raw, where, duration=f.name.endswith("_s"))
    if section is not None:
        section.done(tuple(f.name for f in fields(cls)))  # type: ignore[arg-type]
    try:
        obj = cls(**values)
    except ValueError as exc:  # a dataclass's own check (__post_init__)
        where = f"{section.source}{section.path}" if section is not None and section.path else cls.__name__
        raise ConfigError(f"{where}: {exc}") from None
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate()
    return obj


def typed_value(hint: Any, raw: Any, where: str, *, duration: bool = False) -> Any:
    """``raw`` (a TOML value or a command-line string) as a value of type ``hint``; ConfigError naming ``where``."""
    origin = get_origin(hint)
    args = get_args(hint)
    if origin in (Union, UnionType) and type(None) in args:
        if raw is None:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return typed_value(inner, raw, where, duration=duration)
    if origin is Literal:
        if raw not in args:
            choices = tuple(str(a) for a in args)
            raise ConfigError(f"{where}: {raw!r} is not one of {', '.join(choices)}{_hint(str(raw), choices)}")
        return raw
    if origin is tuple:
        item = args[0]
        items = [x.strip() for x in raw.split(",")] if isinstance(raw, str) else raw
        if not isinstance(items, list | tuple):
            raise ConfigError(f"{where}: expected a list (or comma-separated values)")
        return tuple(typed_value(item, x, where) for x in items)
    return _scalar(hint, raw, where, duration)


def _scalar(hint: Any, raw: Any, where: str, duration: bool) -> Any:
    if hint is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in _TRUE + _FALSE:
            return raw.lower() in _TRUE
        raise ConfigError(f"{where}: {raw!r} is not true or false (or 1/0, on/off)")
    if hint is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, str):
            try:
                return int(raw)
            except ValueError:
                pass
        raise ConfigError(f"{where}: {raw!r} is not a whole number")
    if hint is float:
        if isinstance(raw, str) and duration:
            return parse_duration_s(raw, where)
        value: float | None = None
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            value = float(raw)
        elif isinstance(raw, str):
            try:
                value = float(raw)
            except ValueError:
                value = None
        if value is None:
            raise ConfigError(f"{where}: {raw!r} is not a number")
        if not math.isfinite(value):
            raise ConfigError(f"{where}: {raw!r} is not a finite number")
        return value
    if hint is str:
        if not isinstance(raw, str):
            raise ConfigError(f"{where}: {raw!r} is not a string")
        return raw
    if hint is Path:
        if not isinstance(raw, str | Path):
            raise ConfigError(f"{where}: {raw!r} is not a path")
        return Path(raw)
    if isinstance(hint, type) and isinstance(raw, hint):
        return raw
    raise TypeError(f"{where}: no reader for type {hint!r}; give the field a converter")


def _nested(hint: Any) -> type | None:
    return hint if isinstance(hint, type) and is_dataclass(hint) else None
