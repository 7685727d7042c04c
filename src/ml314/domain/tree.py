"""Reading a typed configuration tree (a parsed TOML document) with messages that name the key.

Every table is read through a :class:`Section`, which remembers which keys were taken; :meth:`Section.done` then
rejects any key left over and suggests the nearest valid one, so a typo never passes silently.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from ml314.errors import ConfigError


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

    def done(self) -> None:
        """Refuse keys nobody asked for, suggesting the nearest valid one."""
        for key in self._data:
            if key not in self._taken:
                raise ConfigError(f"{self.where(key)}: unknown key{_hint(key, tuple(self._taken))}")


class _Required:
    pass


_REQUIRED: Any = _Required()


def _hint(word: str, choices: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
