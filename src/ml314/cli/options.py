"""What the commands share: the options a user actually gave, and the first-start notice."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import typer

__all__ = ["announce_compiling", "given_options"]


def given_options(ctx: typer.Context, renames: Mapping[str, str], cli_only: frozenset[str]) -> dict[str, Any]:
    """The options given on the command line (not their defaults), by configuration field name: they override
    the settings file. ``renames`` maps an option's python name to its field; ``cli_only`` are no field."""
    out: dict[str, Any] = {}
    for name, value in ctx.params.items():
        if name in cli_only:
            continue
        source = ctx.get_parameter_source(name)
        if source is None or source.name in ("DEFAULT", "DEFAULT_MAP"):
            continue
        out[renames.get(name, name)] = value
    return out


def announce_compiling() -> None:
    """Say so at once when this start has to compile the battery model (an empty or stale numba cache)."""
    from ml314.runtime.precompile import COMPILING_NOTICE, cache_is_warm  # noqa: PLC0415  (no numba import)

    if not cache_is_warm():
        typer.echo(f"ml314: {COMPILING_NOTICE}", err=True)
