"""The battery and the built-in inverter peer joined by encoded frames, with no link in between.

Once per protocol period the master's :class:`BankStatus` is encoded by the codec's battery side, the bytes are
decoded by its inverter side, and the limits the inverter decoded (not the BMS's numbers) are the ones the home
inverter obeys in the next period. ``ml314 simulate --protocol`` runs this; ``ml314 run`` puts a real link (CAN
bus, serial port, TCP) between the same two sides.
"""

from __future__ import annotations

from dataclasses import dataclass

from ml314.domain.battery_status import BankStatus, BatteryView
from ml314.domain.limits import ChargeLimits
from ml314.protocols.base import CanCodec, Rs485Codec

__all__ = ["ExchangeCounters", "InverterExchange", "exchange_once"]


@dataclass
class ExchangeCounters:
    """What travelled: frames (CAN) or requests and responses (RS485), and their bytes."""

    battery_frames: int = 0
    inverter_frames: int = 0
    battery_bytes: int = 0
    inverter_bytes: int = 0
    cycles: int = 0


def exchange_once(
    codec: CanCodec | Rs485Codec, status: BankStatus, view: BatteryView, counters: ExchangeCounters
) -> BatteryView:
    """One protocol period: the inverter peer's frames, the battery's answer and cyclic frames, decoded."""
    counters.cycles += 1
    if isinstance(codec, CanCodec):
        sent = codec.inverter_cycle(view)
        frames = list(codec.battery_cycle(status))
        for f in sent:
            counters.inverter_frames += 1
            counters.inverter_bytes += len(f.data)
            frames.extend(codec.battery_answer(f, status))
        for f in frames:
            counters.battery_frames += 1
            counters.battery_bytes += len(f.data)
            view = view.merge(codec.decode(f))
        return view
    for request in codec.inverter_requests():
        counters.inverter_frames += 1
        counters.inverter_bytes += len(request)
        response = codec.respond(request, status)
        if response is None:
            continue
        counters.battery_frames += 1
        counters.battery_bytes += len(response)
        view = view.merge(codec.decode_response(request, response))
    return view


class InverterExchange:
    """The peer's view of the battery, refreshed once per period from a status."""

    def __init__(self, codec: CanCodec | Rs485Codec) -> None:
        self.codec = codec
        self.view = BatteryView()
        self.counters = ExchangeCounters()

    def exchange(self, status: BankStatus) -> ChargeLimits | None:
        """Encode ``status``, decode it as the inverter; the limits the inverter now obeys (None: none yet)."""
        self.view = exchange_once(self.codec, status, self.view, self.counters)
        return self.view.limits()
