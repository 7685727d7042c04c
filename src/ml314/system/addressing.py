"""Bank addressing as installed: module IDs on the DIP switches and the termination resistors (pure).

Manual facts used (sections 2, 6.3, 8.4.2, 8.5, 12.2):

- 6.3: the ID is binary on the DIP switches, down = ON, right-hand switch = low bit, codes 1..63; "in
  communication mode, it can support up to 16 modules in parallel" (also 2). The switches are read at start and at
  RESET only. The switch decoding itself lives in :class:`ml314.twin.frontpanel.DipSwitches` and is reused here.
- 8.4.2: every module of a parallel bank gets a unique ID; the inverter is wired to the first or last module.
- 8.5: switch 8 ON (termination resistor) on the first and last module of the daisy chain, OFF in between.
- 12.2 #1: "Communication failure with inverter — communication port connect error or battery ID setting error —
  refer 8.4.2". Every :class:`WiringFault` is that symptom (``manual_ref``).

Rules this module decides (the manual is silent on them):

- Master: the module with the lowest valid (1..63), unique ID among the powered modules; it talks to the inverter.
  Modules sharing an ID are left out of the bank (they would answer on the same address).
- More than 16 valid, unique IDs: the 16 lowest IDs form the bank, the rest are left out (TOO_MANY_MODULES).
- A lone module is both first and last: switch 8 ON or OFF are both accepted, because 8.5 is the rule for
  *multiple* batteries in parallel and a lone module has no parallel link to terminate. From two modules on, both
  ends must be ON and every middle module OFF.
- Termination is a plain resistor: it counts whether or not the module's BMS is powered (and the daisy chain is
  assumed to pass through an unpowered module); IDs only count for powered modules, which read their switches.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from ml314.domain.faults import SystemFault, SystemFaultKind
from ml314.domain.spec import ML314
from ml314.errors import InputError
from ml314.twin.frontpanel import (
    DIP_SWITCH_COUNT,
    ID_BITS,
    MAX_MODULE_ID,
    MIN_MODULE_ID,
    DipSwitches,
    FrontPanel,
)

__all__ = [
    "COMM_FAILURE",
    "COMM_FAILURE_REF",
    "DIP_TABLE",
    "MAX_BANK_MODULES",
    "BankMember",
    "BankWiring",
    "ChainModule",
    "FaultKind",
    "WiringFault",
    "WiringReport",
    "check_wiring",
    "id_for_switches",
    "switches_for_id",
    "wiring_from_ids",
]

#: 6.3 and 2: at most this many modules in parallel.
MAX_BANK_MODULES = ML314.max_modules_in_parallel
#: Table 12-2 row every wiring fault shows up as.
COMM_FAILURE_REF = "12.2 #1"
COMM_FAILURE = "Communication failure with inverter"


def switches_for_id(module_id: int) -> tuple[int, ...]:
    """Switch numbers (1..6, ascending) set ON (down) for ``module_id`` 0..63; ``()`` for 0 (invalid)."""
    positions = DipSwitches.from_id(module_id).positions
    return tuple(i + 1 for i in range(ID_BITS) if positions[i])


def id_for_switches(switches_on: Iterable[int]) -> int:
    """The ID encoded by the switch numbers that are ON (down); switches 7 and 8 do not change it."""
    positions = [False] * DIP_SWITCH_COUNT
    for number in switches_on:
        if not 1 <= number <= DIP_SWITCH_COUNT:
            raise ValueError(f"switch number {number} out of range 1..{DIP_SWITCH_COUNT}")
        positions[number - 1] = True
    return DipSwitches(tuple(positions)).module_id


#: Manual 6.3 as a table: ID 0..63 -> the switch numbers ON (down). ID 0 is listed but invalid.
DIP_TABLE: Mapping[int, tuple[int, ...]] = MappingProxyType(
    {module_id: switches_for_id(module_id) for module_id in range(MAX_MODULE_ID + 1)}
)


@dataclass(frozen=True, slots=True)
class ChainModule:
    """One module as installed: the ID it is set to (any int: a config file may name an invalid one), switch 8,
    and whether its BMS runs (an unpowered module reads no ID and is no bank member)."""

    module_id: int
    termination_on: bool
    powered: bool = True

    @classmethod
    def from_dip(cls, dip: DipSwitches, *, powered: bool = True) -> ChainModule:
        """From the switches as set (switch 7 is ignored)."""
        return cls(dip.module_id, dip.termination_on, powered)

    @property
    def id_valid(self) -> bool:
        """Whether the ID is in 6.3's range 1..63."""
        return MIN_MODULE_ID <= self.module_id <= MAX_MODULE_ID


@dataclass(frozen=True, slots=True)
class BankWiring:
    """The modules of a bank in daisy-chain order, first (``modules[0]``, chain position 1) to last."""

    modules: tuple[ChainModule, ...]

    @classmethod
    def from_dips(cls, dips: Sequence[DipSwitches], powered: Sequence[bool] | None = None) -> BankWiring:
        """From the DIP switches in chain order; ``powered`` defaults to all powered."""
        flags = _flags(powered, len(dips), "powered", default=True)
        return cls(tuple(ChainModule.from_dip(d, powered=p) for d, p in zip(dips, flags, strict=True)))

    @classmethod
    def from_panels(cls, panels: Sequence[FrontPanel]) -> BankWiring:
        """From front panels in chain order, as the BMSs see them: a powered module's ID is the one it latched at
        its last start or RESET (6.3), not the switches as moved since; termination follows switch 8 at once."""
        modules = []
        for panel in panels:
            latched = panel.dip_latched_id
            module_id = panel.dip.module_id if latched is None else latched
            modules.append(ChainModule(module_id, panel.termination_on, panel.powered))
        return cls(tuple(modules))


def wiring_from_ids(
    ids: Sequence[int], termination: Sequence[bool] | None = None, *, powered: Sequence[bool] | None = None
) -> BankWiring:
    """A wiring from plain IDs in chain order (e.g. a configuration file). Invalid IDs (0, negative, above 63) are
    kept so :func:`check_wiring` reports them; ``termination`` defaults to ON at the first and last module only.
    Raises InputError when an ID is not an int, or ``termination`` or ``powered`` has not one entry per module."""
    n = len(ids)
    ends = [i in (0, n - 1) for i in range(n)]
    term = ends if termination is None else _flags(termination, n, "termination", default=False)
    flags = _flags(powered, n, "powered", default=True)
    return BankWiring(tuple(ChainModule(_as_id(i), t, p) for i, t, p in zip(ids, term, flags, strict=True)))


def _as_id(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"module id {value!r} is not a whole number")
    return value


def _flags(values: Sequence[bool] | None, n: int, name: str, *, default: bool) -> list[bool]:
    if values is None:
        return [default] * n
    if len(values) != n:
        raise InputError(f"{name}: {len(values)} entries for {n} modules, need one per module")
    return [bool(v) for v in values]


class FaultKind(enum.Enum):
    """What is wrong with the addressing or termination of a bank."""

    DUPLICATE_ID = "duplicate_id"
    INVALID_ID = "invalid_id"
    TOO_MANY_MODULES = "too_many_modules"
    TERMINATION_MISSING = "termination_missing"
    TERMINATION_EXTRA = "termination_extra"
    NO_MASTER = "no_master"


@dataclass(frozen=True, slots=True)
class WiringFault:
    """One wiring fault: the chain positions (1-based, first module = 1) and IDs concerned, and a one-line message
    that says what to do. Shows up as Table 12-2 row ``manual_ref`` (communication failure with the inverter)."""

    kind: FaultKind
    positions: tuple[int, ...]
    module_ids: tuple[int, ...]
    message: str
    manual_ref: str = COMM_FAILURE_REF

    @property
    def phenomenon(self) -> str:
        """The symptom the installer sees (12.2 #1)."""
        return COMM_FAILURE

    def record(self) -> SystemFault:
        """This fault as the typed record every surface renders (the message in ``details``)."""
        kind = SystemFaultKind.NO_MASTER if self.kind is FaultKind.NO_MASTER else SystemFaultKind.WIRING
        module_id = self.module_ids[0] if len(self.module_ids) == 1 else None
        return SystemFault(kind, self.message, module_id=module_id)


@dataclass(frozen=True, slots=True)
class BankMember:
    """A module that is part of the bank: its chain position (1-based) and ID."""

    position: int
    module_id: int

    @property
    def index(self) -> int:
        """0-based index into :attr:`BankWiring.modules`."""
        return self.position - 1


@dataclass(frozen=True, slots=True)
class WiringReport:
    """The outcome of :func:`check_wiring`: master, members (at most 16, ID order) and faults (empty = good)."""

    master: BankMember | None
    members: tuple[BankMember, ...]
    faults: tuple[WiringFault, ...]

    @property
    def ok(self) -> bool:
        """No fault: the bank can talk to the inverter."""
        return not self.faults

    @property
    def master_id(self) -> int | None:
        """The master's ID, None without a master."""
        return None if self.master is None else self.master.module_id

    @property
    def member_ids(self) -> tuple[int, ...]:
        """The members' IDs, ascending."""
        return tuple(m.module_id for m in self.members)

    def records(self) -> tuple[SystemFault, ...]:
        """The faults as typed records (:meth:`WiringFault.record`), in report order."""
        return tuple(f.record() for f in self.faults)

    def of_kind(self, kind: FaultKind) -> tuple[WiringFault, ...]:
        """The faults of one kind, in report order."""
        return tuple(f for f in self.faults if f.kind is kind)


_FIX_ID = "then press RESET (manual 6.3, 8.4.2)"


def _and(items: Sequence[int]) -> str:
    words = [str(i) for i in items]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _ids_left_out(ids: Sequence[int]) -> str:
    return f"ID {ids[0]} is left out" if len(ids) == 1 else f"IDs {_and(ids)} are left out"


def _id_faults(wiring: BankWiring) -> tuple[list[WiringFault], list[BankMember]]:
    """INVALID_ID and DUPLICATE_ID faults, and the powered modules with a valid, unique ID (ID order)."""
    faults: list[WiringFault] = []
    by_id: dict[int, list[int]] = {}
    for position, module in enumerate(wiring.modules, start=1):
        if not module.powered:
            continue
        if not module.id_valid:
            faults.append(
                WiringFault(
                    FaultKind.INVALID_ID,
                    (position,),
                    (module.module_id,),
                    f"module {position} has ID {module.module_id}, outside {MIN_MODULE_ID}..{MAX_MODULE_ID}: "
                    f"set a code from {MIN_MODULE_ID} to {MAX_MODULE_ID} on DIP switches 1-6, {_FIX_ID}",
                )
            )
            continue
        by_id.setdefault(module.module_id, []).append(position)
    unique: list[BankMember] = []
    for module_id in sorted(by_id):
        positions = by_id[module_id]
        if len(positions) == 1:
            unique.append(BankMember(positions[0], module_id))
            continue
        both = "both" if len(positions) == 2 else "all"
        faults.append(
            WiringFault(
                FaultKind.DUPLICATE_ID,
                tuple(positions),
                (module_id,),
                f"modules {_and(positions)} {both} have ID {module_id}: give every module a unique ID, {_FIX_ID}",
            )
        )
    return faults, unique


def _termination_faults(wiring: BankWiring) -> list[WiringFault]:
    """8.5: ends ON, middle OFF; nothing to check for a lone module (see the module docstring)."""
    n = len(wiring.modules)
    if n < 2:
        return []
    faults: list[WiringFault] = []
    for position, module in enumerate(wiring.modules, start=1):
        end = "first" if position == 1 else "last" if position == n else None
        if end is not None and not module.termination_on:
            faults.append(
                WiringFault(
                    FaultKind.TERMINATION_MISSING,
                    (position,),
                    (module.module_id,),
                    f"module {position} (ID {module.module_id}) is the {end} module of the chain but has DIP "
                    "switch 8 OFF: set switch 8 ON at the first and last module (manual 8.5)",
                )
            )
        elif end is None and module.termination_on:
            faults.append(
                WiringFault(
                    FaultKind.TERMINATION_EXTRA,
                    (position,),
                    (module.module_id,),
                    f"module {position} (ID {module.module_id}) is in the middle of the chain but has DIP switch 8 "
                    "ON (termination doubled): set switch 8 OFF on every middle module (manual 8.5)",
                )
            )
    return faults


def check_wiring(wiring: BankWiring) -> WiringReport:
    """Check IDs and termination of a bank as installed; never raises on a bad configuration.

    Faults come in this order: INVALID_ID (chain order), DUPLICATE_ID (ID order), TOO_MANY_MODULES,
    NO_MASTER, TERMINATION_MISSING / TERMINATION_EXTRA (chain order).
    """
    faults, unique = _id_faults(wiring)
    members = unique[:MAX_BANK_MODULES]
    left_out = unique[MAX_BANK_MODULES:]
    if left_out:
        faults.append(
            WiringFault(
                FaultKind.TOO_MANY_MODULES,
                tuple(m.position for m in left_out),
                tuple(m.module_id for m in left_out),
                f"{len(unique)} modules have valid IDs but at most {MAX_BANK_MODULES} run in parallel, so "
                f"{_ids_left_out([m.module_id for m in left_out])}: remove modules until {MAX_BANK_MODULES} "
                "remain (manual 2, 6.3)",
            )
        )
    master = members[0] if members else None
    if master is None:
        powered = any(m.powered for m in wiring.modules)
        why = "no module has a valid, unique ID" if powered else "no module is powered on"
        faults.append(
            WiringFault(
                FaultKind.NO_MASTER,
                (),
                (),
                f"{why}, so no master talks to the inverter: give every module a unique ID from "
                f"{MIN_MODULE_ID} to {MAX_MODULE_ID} and switch it on, {_FIX_ID}",
            )
        )
    faults.extend(_termination_faults(wiring))
    return WiringReport(master, tuple(members), tuple(faults))
