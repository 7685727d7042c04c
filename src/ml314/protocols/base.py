"""The small interfaces every protocol codec implements.

A codec is pure: it turns a :class:`~ml314.domain.battery_status.BankStatus` into the bytes the battery sends and
the bytes it receives into a :class:`~ml314.domain.battery_status.BatteryView`, with no clock and no I/O. The
links in ``adapters/`` and the schedules in ``runtime/`` drive it. Two sides per codec:

* the battery side (``battery_*``/``respond``), what ml314 sends as the battery;
* the inverter side (``inverter_*``/``decode*``), what the built-in inverter peer sends and understands.

Malformed input raises :class:`ml314.errors.FrameError` and nothing else.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ml314.domain.battery_status import BankStatus, BatteryView
from ml314.errors import FrameError

__all__ = ["CanCodec", "CanFrame", "Description", "ProtocolInfo", "Rs485Codec", "Transport"]

#: a decoded frame for people: field name -> value (with the unit in the name, as everywhere)
Description = Mapping[str, float | int | str | bool]


class Transport(enum.Enum):
    CAN = "CAN"
    RS485 = "RS485"


@dataclass(frozen=True, slots=True)
class ProtocolInfo:
    """What ``ml314 protocols`` lists for one protocol.

    ``code`` is the manual's P-code (``P14-PYL``) or ``""`` for a protocol reachable by name only;
    ``compatibility`` names the documented protocol run for a brand that publishes nothing (empty otherwise).
    ``period_s`` is the battery's cyclic period (0 when the battery only answers), ``keepalive_timeout_s`` how long
    the battery tolerates silence from the inverter before it falls back to safe limits.
    """

    transport: Transport
    code: str
    brand: str
    name: str
    document: str
    compatibility: str = ""
    note: str = ""
    period_s: float = 1.0
    keepalive_timeout_s: float = 60.0
    bitrate: int = 500_000
    baud: int = 9600
    response_timeout_s: float = 0.2

    @property
    def key(self) -> str:
        """``CAN:P14`` style key (the name when there is no P-code)."""
        return f"{self.transport.value}:{self.code.split('-')[0]}" if self.code else self.name


@dataclass(frozen=True, slots=True)
class CanFrame:
    """One CAN frame; ``data`` holds 0..8 bytes."""

    arbitration_id: int
    data: bytes
    is_extended_id: bool = False

    def __post_init__(self) -> None:
        if len(self.data) > 8:
            raise FrameError(f"CAN frame 0x{self.arbitration_id:X} carries {len(self.data)} bytes; at most 8 fit")
        if self.arbitration_id < 0 or self.arbitration_id > (0x1FFFFFFF if self.is_extended_id else 0x7FF):
            raise FrameError(f"CAN identifier 0x{self.arbitration_id:X} out of range")

    def __str__(self) -> str:
        ident = f"{self.arbitration_id:08X}" if self.is_extended_id else f"{self.arbitration_id:03X}"
        return f"{ident}#{self.data.hex().upper()}"


class CanCodec(ABC):
    """A CAN protocol: cyclic battery frames, answers to inverter frames, and the inverter's view of them.

    ``carries`` names the :class:`BatteryView` fields the battery's frames carry (the contract tests compare
    exactly those after a round trip).
    """

    info: ProtocolInfo
    carries: frozenset[str] = frozenset()

    @abstractmethod
    def battery_cycle(self, status: BankStatus) -> tuple[CanFrame, ...]:
        """The frames the battery sends every ``info.period_s`` (empty for a request-driven protocol)."""

    def battery_answer(self, frame: CanFrame, status: BankStatus) -> tuple[CanFrame, ...]:
        """The battery's answer to one inverter frame (Growatt 0x301, Afore 0x305); none by default."""
        del frame, status
        return ()

    @abstractmethod
    def is_inverter_alive(self, frame: CanFrame) -> bool:
        """True when ``frame`` is the inverter's keep-alive (0x305, 0x301, ...)."""

    @abstractmethod
    def inverter_cycle(self, view: BatteryView) -> tuple[CanFrame, ...]:
        """The frames the inverter peer sends every second, given what it has decoded so far."""

    @abstractmethod
    def decode(self, frame: CanFrame) -> BatteryView:
        """The battery fields one battery frame carries (an empty view for frames of other protocols)."""

    @abstractmethod
    def describe(self, frame: CanFrame) -> tuple[str, Description] | None:
        """A readable decoding of any frame of this protocol, either direction: (message name, fields).

        ``None`` for an identifier the protocol does not define.
        """

    def decode_all(self, frames: Iterable[CanFrame]) -> BatteryView:
        """The view an inverter holds after receiving ``frames`` in order."""
        view = BatteryView()
        for f in frames:
            view = view.merge(self.decode(f))
        return view


class Rs485Codec(ABC):
    """An RS485 protocol: the inverter asks, the battery answers (half duplex).

    ``carries`` names the :class:`BatteryView` fields one polling cycle's responses carry.
    """

    info: ProtocolInfo
    carries: frozenset[str] = frozenset()

    @abstractmethod
    def take_frame(self, buffer: bytearray, *, response: bool) -> bytes | None:
        """Remove and return the first complete frame from ``buffer`` (bytes received so far), or ``None``.

        Bytes before a possible frame start are dropped; ``response`` says which direction the bytes travel.
        """

    @abstractmethod
    def respond(self, request: bytes, status: BankStatus) -> bytes | None:
        """The battery's response to one request frame, or ``None`` when the request is not for this battery
        (another address, a frame the protocol says to ignore)."""

    @abstractmethod
    def inverter_requests(self) -> tuple[bytes, ...]:
        """The requests the inverter peer sends in one polling cycle, in order."""

    @abstractmethod
    def decode_response(self, request: bytes, response: bytes) -> BatteryView:
        """The battery fields a response to ``request`` carries."""

    @abstractmethod
    def describe(self, frame: bytes) -> tuple[str, Description]:
        """A readable decoding of one request or response frame: (command name, fields)."""
