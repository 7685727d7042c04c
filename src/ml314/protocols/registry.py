"""Every protocol of the manual's Table 10-3 (and the two reachable by name only), one row each.

A row either names the module that implements the brand's published protocol (``native``), or, for a brand that
publishes nothing (reference/protocols.md 1.0), the documented protocol that brand is known to accept; that row
then runs the other codec and says "compatibility mode: <protocol>" wherever protocols are listed. Nothing here
invents a frame layout.

Each protocol module defines ``INFO`` (a :class:`ProtocolInfo`) and ``Codec`` (a class taking that info).
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass, replace

from ml314.errors import InputError
from ml314.protocols.base import CanCodec, ProtocolInfo, Rs485Codec, Transport

__all__ = ["PROTOCOLS", "Entry", "create", "entries", "info", "resolve"]

Codec = CanCodec | Rs485Codec


@dataclass(frozen=True, slots=True)
class Entry:
    """One protocol: transport, the manual's P-code ("" for name-only), brand, name, implementing module.

    ``compatibility`` is non-empty for a brand with no public specification: it explains which documented
    protocol runs instead and why.
    """

    transport: Transport
    code: str
    brand: str
    name: str
    module: str
    compatibility: str = ""


_CAN = Transport.CAN
_RS485 = Transport.RS485

PROTOCOLS: tuple[Entry, ...] = (
    # CAN, Table 10-3 right-hand column
    Entry(_CAN, "P01-GRW", "Growatt", "growatt-can", "growatt_can"),
    Entry(_CAN, "P02-SLK", "Sol-Ark", "solark-can", "solark_can"),
    Entry(_CAN, "P03-DY", "Deye", "deye-can", "deye_can"),
    Entry(
        _CAN,
        "P04-MGR",
        "Megarevo",
        "megarevo-can",
        "pylon_can",
        "Megarevo's own CAN specification (29-bit identifiers) is not public; Megarevo hybrid inverters accept "
        "Pylon LV CAN, which runs here",
    ),
    Entry(_CAN, "P05-VCT", "Victron", "victron-can", "victron_can"),
    Entry(_CAN, "P06-LUX", "Luxpower", "luxpower-can", "luxpower_can"),
    Entry(_CAN, "P07-SMA", "SMA", "sma-can", "sma_can"),
    Entry(
        _CAN,
        "P08-INH",
        "Inhenergy",
        "inhenergy-can",
        "pylon_can",
        "no Inhenergy battery CAN specification is public; Pylon LV CAN runs here",
    ),
    Entry(_CAN, "P09-SOL", "Solis", "solis-can", "solis_can"),
    Entry(_CAN, "P10-AFO", "Afore", "afore-can", "afore_can"),
    Entry(
        _CAN,
        "P11-STU",
        "Studer",
        "studer-can",
        "pylon_can",
        "Studer publishes only the Xcom-CAN user manual, no battery frame list; Pylon LV CAN runs here",
    ),
    Entry(
        _CAN,
        "P12-MUST",
        "Must",
        "must-can",
        "pylon_can",
        "the MUST-PV1800F CAN document is not public; Pylon LV CAN runs here",
    ),
    Entry(_CAN, "P14-PYL", "Pylon", "pylon-can", "pylon_can"),
    Entry(
        _CAN,
        "P15-TRB",
        "Turbo",
        "turbo-can",
        "pylon_can",
        "no Turbo battery CAN specification is public; Pylon LV CAN runs here",
    ),
    Entry(
        _CAN,
        "P16-HUB",
        "Hubble",
        "hubble-can",
        "pylon_can",
        "no Hubble battery CAN specification is public; Pylon LV CAN runs here",
    ),
    # RS485, Table 10-3 left-hand column
    Entry(_RS485, "P01-GRW", "Growatt", "growatt-modbus", "growatt_modbus"),
    Entry(
        _RS485,
        "P02-SCH",
        "Schneider",
        "schneider-rs485",
        "pylon_rs485",
        "no Schneider battery RS485 specification is public (its published BMS protocol is CAN); "
        "Pylon LV RS485 V3.3 runs here",
    ),
    Entry(
        _RS485,
        "P03-INH",
        "Inhenergy",
        "inhenergy-rs485",
        "pylon_rs485",
        "no Inhenergy battery RS485 specification is public; Pylon LV RS485 V3.3 runs here",
    ),
    Entry(_RS485, "P04-VOL", "Voltronic", "voltronic-rs485", "voltronic_rs485"),
    Entry(
        _RS485,
        "P05-SRN",
        "SRNE",
        "srne-rs485",
        "pylon_rs485",
        "SRNE publishes only its inverter-side Modbus map and lets the user pick the battery protocol; "
        "Pylon LV RS485 V3.3, the usual pick, runs here",
    ),
    Entry(
        _RS485,
        "P06-CVTE",
        "CVTE",
        "cvte-rs485",
        "pylon_rs485",
        "no CVTE battery RS485 specification is public; Pylon LV RS485 V3.3 runs here",
    ),
    Entry(
        _RS485,
        "P07-LUX",
        "Luxpower",
        "luxpower-rs485",
        "pylon_rs485",
        "no Luxpower battery RS485 specification is public; Pylon LV RS485 V3.3 runs here",
    ),
    Entry(
        _RS485,
        "P08-PWR",
        "CVTE",
        "cvte-pwr-rs485",
        "pylon_rs485",
        "no specification for this CVTE (PWR) protocol is public; Pylon LV RS485 V3.3 runs here",
    ),
    # reachable by name only
    Entry(_RS485, "", "Pylon", "pylon-rs485", "pylon_rs485"),
    Entry(_RS485, "", "Voltronic (PYL mode)", "voltronic-pyl", "voltronic_pyl"),
)


def entries() -> tuple[Entry, ...]:
    return PROTOCOLS


def _module_info(module: str) -> ProtocolInfo:
    mod = importlib.import_module(f"ml314.protocols.{module}")
    base: ProtocolInfo = mod.INFO
    return base


def info(entry: Entry) -> ProtocolInfo:
    """The :class:`ProtocolInfo` of a row (a compatibility row borrows its codec's timing and document)."""
    base = _module_info(entry.module)
    if not entry.compatibility:
        return base
    return replace(
        base,
        code=entry.code,
        brand=entry.brand,
        name=entry.name,
        compatibility=base.name,
        note=entry.compatibility,
    )


def create(entry: Entry) -> Codec:
    """A codec instance for ``entry``."""
    mod = importlib.import_module(f"ml314.protocols.{entry.module}")
    codec: Codec = mod.Codec(info(entry))
    return codec


def _keys(entry: Entry) -> tuple[str, ...]:
    keys = [entry.name]
    if entry.code:
        p = entry.code.split("-")[0]
        keys += [f"{entry.transport.value}:{p}", f"{entry.transport.value}:{entry.code}"]
    return tuple(k.lower() for k in keys)


def resolve(spec: str) -> Entry:
    """The row named by ``CAN:P14``, ``RS485:P04-VOL`` or a protocol name such as ``pylon-can``.

    Raises :class:`InputError` with the closest valid spellings otherwise.
    """
    want = spec.strip().lower()
    for e in PROTOCOLS:
        if want in _keys(e):
            return e
    every = [k for e in PROTOCOLS for k in _keys(e)]
    near = difflib.get_close_matches(want, every, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(near)}?" if near else "; `ml314 protocols` lists them"
    raise InputError(f"unknown protocol {spec!r}{hint}")
