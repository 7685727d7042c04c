"""The module's front-panel hardware (manual 6.2, 6.3, 6.4, 8.5, 12.2) as plain state: no BMS logic here.

The BMS (a later layer) decides what the MOSFETs, LEDs and power state should be; these classes only hold
what the hardware is doing and answer physical questions (does current flow, which ID do the switches
encode, what does the BMS itself draw from the cells). Time comes in as ``now_s``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

__all__ = [
    "BMS_SUPPLY_DRAW_A",
    "DIP_SWITCH_COUNT",
    "ID_BITS",
    "MAX_MODULE_ID",
    "MIN_MODULE_ID",
    "BmsPowerState",
    "BmsSupply",
    "Breaker",
    "DipSwitches",
    "FrontPanel",
    "FrontPanelState",
    "LedState",
    "Leds",
    "Mosfets",
    "PressEvent",
    "PushButton",
    "ResetButton",
    "SocLeds",
]


class Mosfets:
    """Charge and discharge MOSFETs, back to back in the module's current path, switched by the BMS.

    Body diodes are modelled by the conduction rule, not ignored: each FET blocks only its own direction,
    because the other FET's body diode passes current when that other FET is off. So a charging current
    (> 0) flows iff the charge FET is on, a discharging current (< 0) iff the discharge FET is on; the
    diode's forward drop and heat are not modelled. Zero current always "conducts" (nothing to block).
    Both FETs start off.
    """

    __slots__ = ("_charge_on", "_discharge_on")

    def __init__(self, charge_on: bool = False, discharge_on: bool = False) -> None:
        self._charge_on = charge_on
        self._discharge_on = discharge_on

    @property
    def charge_on(self) -> bool:
        """Charge FET gate driven on."""
        return self._charge_on

    @property
    def discharge_on(self) -> bool:
        """Discharge FET gate driven on."""
        return self._discharge_on

    def command(self, *, charge_on: bool, discharge_on: bool) -> None:
        """Set both gates as the BMS commands."""
        self._charge_on = charge_on
        self._discharge_on = discharge_on

    def off(self) -> None:
        """Both gates off (BMS unpowered or in reset)."""
        self.command(charge_on=False, discharge_on=False)

    def conducts(self, current_a: float) -> bool:
        """Whether ``current_a`` (positive = charging) can flow through the FET pair."""
        if current_a > 0.0:
            return self._charge_on
        if current_a < 0.0:
            return self._discharge_on
        return True


class Breaker:
    """The DC output breaker (panel item 2). Open = no DC output at the terminals (manual 12.2 #2)."""

    __slots__ = ("_closed",)

    def __init__(self, closed: bool = False) -> None:
        self._closed = closed

    @property
    def closed(self) -> bool:
        """True when the output path is made."""
        return self._closed

    def close(self) -> None:
        """Close the breaker (manual 8.6.2: after the BMS is switched on)."""
        self._closed = True

    def open(self) -> None:
        """Open the breaker: the terminals are disconnected from the cells."""
        self._closed = False

    def conducts(self, current_a: float) -> bool:
        """Whether ``current_a`` can flow: only zero current when open."""
        return self._closed or current_a == 0.0


@dataclass(frozen=True, slots=True)
class PressEvent:
    """One completed press: press and release instants and whether it reached the long-press threshold."""

    pressed_s: float
    released_s: float
    long: bool

    @property
    def duration_s(self) -> float:
        """How long the button was held."""
        return self.released_s - self.pressed_s


class PushButton:
    """A momentary button (the ON/OFF switch, panel item 5). Records completed presses as events.

    A press is long when held for at least ``long_press_s``; :meth:`is_long_press` reports it while the
    button is still held, so a BMS can act at the threshold rather than on release. Repeated ``press``
    while held and ``release`` while not held are ignored (contact bounce is not modelled).
    """

    __slots__ = ("_events", "_pressed_s", "long_press_s")

    def __init__(self, long_press_s: float = 3.0) -> None:
        if long_press_s <= 0.0:
            raise ValueError(f"long_press_s must be > 0, got {long_press_s}")
        self.long_press_s = long_press_s
        self._pressed_s: float | None = None
        self._events: list[PressEvent] = []

    @property
    def is_pressed(self) -> bool:
        """True while held down."""
        return self._pressed_s is not None

    def press(self, now_s: float) -> None:
        """The button goes down at ``now_s``."""
        if self._pressed_s is None:
            self._pressed_s = now_s

    def release(self, now_s: float) -> PressEvent | None:
        """The button comes up at ``now_s``; returns (and queues) the completed press, None if not held."""
        if self._pressed_s is None:
            return None
        event = PressEvent(self._pressed_s, now_s, now_s - self._pressed_s >= self.long_press_s)
        self._pressed_s = None
        self._events.append(event)
        return event

    def held_s(self, now_s: float) -> float:
        """How long the button has been held at ``now_s`` (0 when up)."""
        return 0.0 if self._pressed_s is None else now_s - self._pressed_s

    def is_long_press(self, now_s: float) -> bool:
        """True while held and the hold has reached ``long_press_s``."""
        return self._pressed_s is not None and self.held_s(now_s) >= self.long_press_s

    def take_events(self) -> tuple[PressEvent, ...]:
        """Completed presses since the last call, oldest first; the queue is emptied."""
        events, self._events = tuple(self._events), []
        return events


class ResetButton(PushButton):
    """The RESET button (panel item 7): wired to the BMS MCU's reset line; see :meth:`FrontPanel.reset`."""

    __slots__ = ()


DIP_SWITCH_COUNT = 8
ID_BITS = 6
MIN_MODULE_ID = 1
MAX_MODULE_ID = (1 << ID_BITS) - 1
_SPARE_SWITCH = 7
_TERMINATION_SWITCH = 8


@dataclass(frozen=True, slots=True)
class DipSwitches:
    """The 8-way ID DIP switch (panel item 10), ``positions[i]`` = switch i+1, index 0 = switch 1 = leftmost.

    True = ON = lever down (manual 6.3). Reading of the manual used here:

    - 6.3: the code is binary, the right-hand side is the low bit, the left the high bit, codes 1..63
      (6 bits). 8.5: switch 8 enables the CAN termination resistor. So the ID is on switches 1..6 with
      switch 6 the lowest bit (2^0) and switch 1 the highest (2^5); switch 7 is unused (``spare_on``);
      switch 8 is the termination resistor and not part of the ID.
    - ID 0 (all ID switches up) is not a valid code. The manual also limits parallel operation to 16
      modules; which IDs a bank accepts is the bank's rule, not the switch's.
    """

    positions: tuple[bool, ...] = (False,) * DIP_SWITCH_COUNT

    def __post_init__(self) -> None:
        if len(self.positions) != DIP_SWITCH_COUNT:
            raise ValueError(f"need {DIP_SWITCH_COUNT} switch positions, got {len(self.positions)}")

    @classmethod
    def from_positions(cls, positions: tuple[bool, ...]) -> DipSwitches:
        """From 8 positions, switch 1 (leftmost) first, True = ON (down)."""
        return cls(tuple(bool(p) for p in positions))

    @classmethod
    def from_id(cls, module_id: int, termination: bool = False) -> DipSwitches:
        """The switch setting an installer makes for ``module_id`` (0..63; 0 encodes but is invalid)."""
        if not 0 <= module_id <= MAX_MODULE_ID:
            raise ValueError(f"module id {module_id} does not fit in {ID_BITS} switches (0..{MAX_MODULE_ID})")
        id_bits = tuple(bool(module_id >> (ID_BITS - 1 - i) & 1) for i in range(ID_BITS))
        return cls((*id_bits, False, termination))

    @staticmethod
    def is_valid_id(module_id: int) -> bool:
        """Whether ``module_id`` is in the manual's code range 1..63."""
        return MIN_MODULE_ID <= module_id <= MAX_MODULE_ID

    @property
    def module_id(self) -> int:
        """The binary code on switches 1..6 (switch 6 = 2^0)."""
        code = 0
        for on in self.positions[:ID_BITS]:
            code = code << 1 | on
        return code

    @property
    def id_valid(self) -> bool:
        """False for code 0."""
        return self.is_valid_id(self.module_id)

    @property
    def termination_on(self) -> bool:
        """Switch 8: CAN termination resistor in circuit (first and last module of a bank, manual 8.5)."""
        return self.positions[_TERMINATION_SWITCH - 1]

    @property
    def spare_on(self) -> bool:
        """Switch 7, unused by this reading of the manual."""
        return self.positions[_SPARE_SWITCH - 1]

    def with_switch(self, switch: int, on: bool) -> DipSwitches:
        """A copy with switch number ``switch`` (1..8) set to ``on``."""
        if not 1 <= switch <= DIP_SWITCH_COUNT:
            raise ValueError(f"switch number {switch} out of range 1..{DIP_SWITCH_COUNT}")
        positions = list(self.positions)
        positions[switch - 1] = on
        return DipSwitches(tuple(positions))


SocLeds = tuple[bool, bool, bool, bool]


@dataclass(frozen=True, slots=True)
class LedState:
    """What the panel LEDs show at one instant: RUN, ALM and SOC1..SOC4 (SOC1 first)."""

    run: bool = False
    alm: bool = False
    soc: SocLeds = (False, False, False, False)


class Leds:
    """The RUN, ALM and four SOC LEDs (panel items 6, 8, 9), driven by the BMS. Flash patterns are the BMS's
    business: it sets the on/off level at each tick."""

    __slots__ = ("_state",)

    def __init__(self) -> None:
        self._state = LedState()

    def set(self, run: bool, alm: bool, soc: SocLeds) -> None:
        """Drive every LED at once."""
        self._state = LedState(run, alm, soc)

    def off(self) -> None:
        """All LEDs off (shutdown/sleep, or BMS unpowered)."""
        self._state = LedState()

    @property
    def state(self) -> LedState:
        """Snapshot of the LEDs."""
        return self._state


BmsPowerState = Literal["off", "sleep", "standby", "active"]

BMS_SUPPLY_DRAW_A: Mapping[BmsPowerState, float] = MappingProxyType(
    {
        "off": 0.0,  # ON/OFF switched off: the BMS is disconnected from the cells
        "sleep": 0.3e-3,  # MCU asleep, AFE in ship/low-power mode, LEDs and LCD off
        "standby": 25.0e-3,  # MCU and AFE running, comms up, LCD off
        "active": 60.0e-3,  # plus FET gate drive and LEDs; LCD/WiFi backlight off
    }
)


@dataclass(frozen=True, slots=True)
class BmsSupply:
    """The BMS's own consumption, drawn from the cell stack, by power state (table ``BMS_SUPPLY_DRAW_A``)."""

    draw_a_by_state: Mapping[BmsPowerState, float] = field(default_factory=lambda: BMS_SUPPLY_DRAW_A)

    def draw_a(self, state: BmsPowerState) -> float:
        """Magnitude of the current the BMS draws in ``state`` (>= 0)."""
        return self.draw_a_by_state[state]

    def current_a(self, state: BmsPowerState) -> float:
        """The same as a cell current in the project's sign convention: <= 0 (positive = charging)."""
        return -self.draw_a_by_state[state]


@dataclass(frozen=True, slots=True)
class FrontPanelState:
    """Snapshot of the whole panel for surfaces (LCD, web)."""

    powered: bool
    charge_fet_on: bool
    discharge_fet_on: bool
    breaker_closed: bool
    leds: LedState
    dip: DipSwitches
    dip_latched_id: int | None
    termination_on: bool
    power_button_pressed: bool
    reset_button_pressed: bool


class FrontPanel:
    """All the module's panel hardware, plus the ID the BMS MCU latched from the DIP switches.

    Manual 6.3: the MCU reads the ID switches only when it starts (:meth:`power_on`) and at RESET
    (:meth:`reset`, also triggered by releasing the RESET button); moving switches while running changes
    :attr:`dip` but not :attr:`dip_latched_id`. The termination switch is a plain resistor, so it acts at
    once. While the BMS is unpowered or in reset its outputs are off: both FETs and every LED.
    """

    __slots__ = (
        "_dip",
        "_latched_id",
        "_powered",
        "breaker",
        "leds",
        "mosfets",
        "power_button",
        "reset_button",
    )

    def __init__(
        self, dip: DipSwitches | None = None, *, breaker_closed: bool = False, long_press_s: float = 3.0
    ) -> None:
        self.mosfets = Mosfets()
        self.breaker = Breaker(breaker_closed)
        self.power_button = PushButton(long_press_s)
        self.reset_button = ResetButton(long_press_s)
        self.leds = Leds()
        self._dip = dip if dip is not None else DipSwitches()
        self._latched_id: int | None = None
        self._powered = False

    @property
    def dip(self) -> DipSwitches:
        """The switches as physically set now."""
        return self._dip

    def set_dip(self, dip: DipSwitches) -> None:
        """An installer moves the switches; the latched ID is unchanged until reset or power-on."""
        self._dip = dip

    @property
    def dip_latched_id(self) -> int | None:
        """The ID the BMS read at its last start or reset; None while the BMS is unpowered."""
        return self._latched_id

    @property
    def termination_on(self) -> bool:
        """CAN termination resistor in circuit (follows switch 8 immediately)."""
        return self._dip.termination_on

    @property
    def powered(self) -> bool:
        """Whether the BMS is running."""
        return self._powered

    def power_on(self) -> None:
        """The BMS starts: it reads the ID switches."""
        self._powered = True
        self._latched_id = self._dip.module_id

    def power_off(self) -> None:
        """The BMS stops: FETs open, LEDs dark, no ID."""
        self._powered = False
        self._latched_id = None
        self.mosfets.off()
        self.leds.off()

    def reset(self) -> None:
        """MCU reset (RESET button): outputs drop, the ID switches are re-read. No effect when unpowered."""
        if not self._powered:
            return
        self.mosfets.off()
        self.leds.off()
        self._latched_id = self._dip.module_id

    def release_reset(self, now_s: float) -> PressEvent | None:
        """Release the RESET button; the MCU restarts when its reset line is released."""
        event = self.reset_button.release(now_s)
        if event is not None:
            self.reset()
        return event

    def conducts(self, current_a: float) -> bool:
        """Whether ``current_a`` (positive = charging) can flow between cells and terminals."""
        return self.breaker.conducts(current_a) and self.mosfets.conducts(current_a)

    def snapshot(self) -> FrontPanelState:
        """Frozen view of every panel element."""
        return FrontPanelState(
            powered=self._powered,
            charge_fet_on=self.mosfets.charge_on,
            discharge_fet_on=self.mosfets.discharge_on,
            breaker_closed=self.breaker.closed,
            leds=self.leds.state,
            dip=self._dip,
            dip_latched_id=self._latched_id,
            termination_on=self.termination_on,
            power_button_pressed=self.power_button.is_pressed,
            reset_button_pressed=self.reset_button.is_pressed,
        )
