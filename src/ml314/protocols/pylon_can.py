"""Pylon LV CAN V1.2 (2018-04-08) and its brand variants (reference/protocols.md 1.1, 1.3, 1.7).

The frames are defined in ``dbc/pylon_lv.dbc`` (little-endian, 11-bit identifiers). A frozen
:class:`PylonCanVariant` says which battery frames a brand gets, in which order and length, and what its inverter
sends back; the codec is otherwise the same for Pylon, Deye, Sol-Ark, Luxpower, Solis and Victron.

Contracts:

* The six V1.2 frames of pylon-can are byte-exact to the reference's worked example (4-byte 0x355, "PYLON   ").
* A bank value that overflows its field is clamped by the DBC ranges, never wrapped. Currents stop at
  +-3276.7 A (raw +-32767): 0x8000 is the "invalid" marker of SMA-style readers, so -3276.8 A is never sent.
* A disabled direction is also sent as a zero current limit, so readers without 0x35C stop too.
* Alarm kinds map to bits through the tables of :mod:`pylon_can_alarms`; several kinds share a bit, and decoding a
  bit gives its first (canonical) kind. Kinds with no bit in a frame are not sent by that frame.
* ``decode`` reads every battery frame of the family whatever the variant sends; other identifiers give an empty
  view. Malformed frames raise :class:`FrameError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ml314.domain.battery_status import AlarmKind, BankStatus, BatteryView
from ml314.errors import FrameError
from ml314.protocols.base import CanCodec, CanFrame, Description, ProtocolInfo, Transport
from ml314.protocols.fields import dbc, decode_signals, encode_message
from ml314.protocols.pylon_can_alarms import (
    PROTECTION_KINDS,
    PROTECTION_SIGNALS,
    SMA_ACTIVE,
    SMA_ITEMS,
    SMA_KINDS,
    SMA_OK,
    WARNING_KINDS,
    WARNING_SIGNALS,
)

__all__ = [
    "INFO",
    "PYLON",
    "V12_FRAMES",
    "VICTRON_FRAMES",
    "Codec",
    "PylonCanCodec",
    "PylonCanVariant",
    "carried_by",
]

INFO = ProtocolInfo(
    transport=Transport.CAN,
    code="P14-PYL",
    brand="Pylon",
    name="pylon-can",
    document="Pylon LV CAN V1.2 (2018-04-08) + extensions 0x35A, 0x35F, 0x379 (SMA-style, Victron, Luxpower)",
    period_s=1.0,
    keepalive_timeout_s=60.0,
)

DB = dbc("pylon_lv")

#: the six frames of the V1.2 document, in its order
V12_FRAMES = (0x351, 0x355, 0x356, 0x359, 0x35C, 0x35E)
#: Victron's richer set (reference 1.3): SMA frames plus 0x370-0x382, no 0x359/0x35C
VICTRON_FRAMES = (0x351, 0x355, 0x356, 0x35A, 0x35E, 0x35F, *range(0x370, 0x379), 0x379, 0x382)

# ASCII text inside frames (the DBC has no string type): id -> (description key, first byte, end byte)
_TEXT: dict[int, tuple[str, int, int]] = {
    0x359: ("marker", 5, 7),
    0x35E: ("manufacturer", 0, 8),
    0x35F: ("battery_type", 0, 2),
    0x370: ("bms_name_1", 0, 8),
    0x371: ("bms_name_2", 0, 8),
    0x374: ("cell_id", 0, 8),
    0x375: ("cell_id", 0, 8),
    0x376: ("sensor_id", 0, 8),
    0x377: ("sensor_id", 0, 8),
    0x382: ("product_name", 0, 8),
    0x307: ("inverter_name", 4, 8),
}
# shortest payload accepted where the field shows shorter frames (diyBMS 0x355/0x379 with 2 bytes, 0x35F with 6,
# V1.2 0x351 without DVL); text frames and keep-alives of any length. Others need their full DBC length.
_MIN_LENGTH: dict[int, int] = {0x351: 6, 0x355: 2, 0x35F: 6, 0x379: 2, 0x305: 0, 0x306: 0} | dict.fromkeys(
    (0x35E, 0x370, 0x371, 0x374, 0x375, 0x376, 0x377, 0x382), 0
)


@dataclass(frozen=True, slots=True)
class PylonCanVariant:
    """What one brand's "Pylon CAN" looks like on the wire.

    ``frames``: battery frames in sending order; ``pad_to_8``: every frame DLC 8 (Sol-Ark); ``soc_frame_length``:
    0x355 as 4 (V1.2) or 6 bytes (hi-res SOC); ``name``: the 0x35E text, ``None`` for the bank's manufacturer;
    ``required_name_prefix``: the inverter side rejects a 0x35E not starting so (Deye); ``pn_marker``: 0x359
    bytes 5-6 'PN'; ``inverter_frames``: what the inverter sends every second; ``cvl_floor_v``: lowest CVL sent.
    """

    frames: tuple[int, ...] = V12_FRAMES
    pad_to_8: bool = False
    soc_frame_length: int = 4
    name: str | None = "PYLON   "
    required_name_prefix: str = ""
    pn_marker: bool = True
    inverter_frames: tuple[CanFrame, ...] = field(default=(CanFrame(0x305, bytes(8)),))
    cvl_floor_v: float = 0.0

    def __post_init__(self) -> None:
        unknown = [f"0x{i:03X}" for i in self.frames if i not in _ENCODERS]
        if unknown:
            raise ValueError(f"no battery frame {', '.join(unknown)} in Pylon LV CAN")
        if self.soc_frame_length not in {2, 4, 6}:
            raise ValueError("0x355 is sent with 2, 4 or 6 bytes")
        if self.name is not None and (len(self.name) > 8 or not self.name.isascii()):
            raise ValueError(f"0x35E name {self.name!r} must be at most 8 ASCII characters")
        if self.name is not None and not self.name.startswith(self.required_name_prefix):
            raise ValueError(f"0x35E name {self.name!r} must begin with {self.required_name_prefix!r}")

    @property
    def alive_ids(self) -> frozenset[int]:
        return frozenset(f.arbitration_id for f in self.inverter_frames)


# --- encoding --------------------------------------------------------------------------------------------------

Values = tuple[dict[str, Any], dict[str, str]]  # DBC signal values, text fields


def _e351(s: BankStatus, v: PylonCanVariant) -> Values:
    lim = s.limits
    return {
        "charge_voltage_limit_v": max(lim.cvl_v, v.cvl_floor_v),
        "charge_current_limit_a": lim.ccl_a if s.charge_enable else 0.0,
        "discharge_current_limit_a": lim.dcl_a if s.discharge_enable else 0.0,
        "discharge_voltage_limit_v": lim.dvl_v,
    }, {}


def _e355(s: BankStatus, v: PylonCanVariant) -> Values:
    return {
        "state_of_charge_pct": s.soc_pct,
        "state_of_health_pct": s.soh_pct,
        "state_of_charge_hires_pct": s.soc_pct,
    }, {}


def _e356(s: BankStatus, v: PylonCanVariant) -> Values:
    return {
        "battery_voltage_v": s.voltage_v,
        "battery_current_a": s.current_a,
        "battery_temperature_c": s.temperature_c,
    }, {}


def _e359(s: BankStatus, v: PylonCanVariant) -> Values:
    values: dict[str, Any] = {PROTECTION_SIGNALS[k]: 1 for k in s.protections if k in PROTECTION_SIGNALS}
    values |= {WARNING_SIGNALS[k]: 1 for k in s.alarms if k in WARNING_SIGNALS}
    values["module_count"] = s.module_count
    return values, {"marker": "PN" if v.pn_marker else ""}


def _e35a(s: BankStatus, v: PylonCanVariant) -> Values:
    values: dict[str, Any] = {}
    for prefix, active in (("alarm", s.protections), ("warning", s.alarms)):
        for item in SMA_KINDS:
            values[f"{prefix}_{item}"] = SMA_OK
        for kind in active:
            if kind in SMA_ITEMS:
                values[f"{prefix}_{SMA_ITEMS[kind]}"] = SMA_ACTIVE
    return values, {}


def _e35c(s: BankStatus, v: PylonCanVariant) -> Values:
    return {
        "charge_enable": s.charge_enable,
        "discharge_enable": s.discharge_enable,
        "request_force_charge_1": s.force_charge_1,
        "request_force_charge_2": s.force_charge_2,
        "request_full_charge": s.full_charge_request,
    }, {}


def _e35e(s: BankStatus, v: PylonCanVariant) -> Values:
    return {}, {"manufacturer": s.manufacturer if v.name is None else v.name}


def _e35f(s: BankStatus, v: PylonCanVariant) -> Values:
    major, minor = s.firmware_version
    return {
        "bms_version_major": major,
        "bms_version_minor": minor,
        "battery_capacity_ah": s.installed_capacity_ah,
    }, {"battery_type": "LI"}


def _e372(s: BankStatus, v: PylonCanVariant) -> Values:
    return {
        "modules_online": s.module_count,
        "modules_blocking_charge": sum(not m.charge_mosfet_on for m in s.modules),
        "modules_blocking_discharge": sum(not m.discharge_mosfet_on for m in s.modules),
    }, {}


def _e373(s: BankStatus, v: PylonCanVariant) -> Values:
    return {
        "min_cell_voltage_v": s.cell_voltage_min_v,
        "max_cell_voltage_v": s.cell_voltage_max_v,
        "min_cell_temperature_c": s.cell_temperature_min_c,
        "max_cell_temperature_c": s.cell_temperature_max_c,
    }, {}


def _cell_name(bank_index: int, per_module: int, letter: str) -> str:
    """ "M01C16": module and cell (or sensor) of a 1-based index over the bank."""
    module, cell = divmod(max(bank_index, 1) - 1, max(per_module, 1))
    return f"M{module + 1:02d}{letter}{cell + 1:02d}"


def _sensors(s: BankStatus) -> int:
    return len(s.modules[0].cell_temperatures_c) if s.modules else 4


def _e374(s: BankStatus, v: PylonCanVariant) -> Values:
    return {}, {"cell_id": _cell_name(s.cell_voltage_min_id, 16, "C")}


def _e375(s: BankStatus, v: PylonCanVariant) -> Values:
    return {}, {"cell_id": _cell_name(s.cell_voltage_max_id, 16, "C")}


def _e376(s: BankStatus, v: PylonCanVariant) -> Values:
    return {}, {"sensor_id": _cell_name(s.cell_temperature_min_id, _sensors(s), "T")}


def _e377(s: BankStatus, v: PylonCanVariant) -> Values:
    return {}, {"sensor_id": _cell_name(s.cell_temperature_max_id, _sensors(s), "T")}


def _e378(s: BankStatus, v: PylonCanVariant) -> Values:
    return {"charged_energy_kwh": s.charged_energy_kwh, "discharged_energy_kwh": s.discharged_energy_kwh}, {}


def _e379(s: BankStatus, v: PylonCanVariant) -> Values:
    return {"installed_capacity_ah": s.installed_capacity_ah}, {}


_ENCODERS: dict[int, Callable[[BankStatus, PylonCanVariant], Values]] = {
    0x351: _e351,
    0x355: _e355,
    0x356: _e356,
    0x359: _e359,
    0x35A: _e35a,
    0x35C: _e35c,
    0x35E: _e35e,
    0x35F: _e35f,
    0x370: lambda s, v: ({}, {"bms_name_1": s.model[:8]}),
    0x371: lambda s, v: ({}, {"bms_name_2": s.model[8:16]}),
    0x372: _e372,
    0x373: _e373,
    0x374: _e374,
    0x375: _e375,
    0x376: _e376,
    0x377: _e377,
    0x378: _e378,
    0x379: _e379,
    0x382: lambda s, v: ({}, {"product_name": s.manufacturer}),
}


def _ascii(text: str, size: int) -> bytes:
    """``text`` as ASCII (others as '?'), cut or NUL-padded to ``size`` bytes."""
    return text.encode("ascii", errors="replace")[:size].ljust(size, b"\0")


def _encode(frame_id: int, values: Values, variant: PylonCanVariant) -> CanFrame:
    signals, texts = values
    data = bytearray(encode_message(DB, frame_id, signals).data)
    if frame_id in _TEXT:
        key, start, end = _TEXT[frame_id]
        data[start:end] = _ascii(texts.get(key, ""), end - start)
    if frame_id == 0x355:
        data = data[: variant.soc_frame_length]
    if variant.pad_to_8:
        data = data.ljust(8, b"\0")
    return CanFrame(frame_id, bytes(data))


# --- decoding --------------------------------------------------------------------------------------------------


def _signals(frame: CanFrame) -> tuple[str, dict[str, Any], dict[str, str]] | None:
    """(message name, signals, texts) of a frame of the family, ``None`` for another identifier.

    A frame shorter than its message decodes the signals it holds whole, if it reaches the minimum length.
    """
    if frame.is_extended_id:
        return None
    try:
        message = DB.get_message_by_frame_id(frame.arbitration_id)
    except KeyError:
        return None
    n = len(frame.data)
    need = _MIN_LENGTH.get(frame.arbitration_id, message.length)
    if n < need:
        raise FrameError(f"{message.name} (0x{frame.arbitration_id:03X}) needs {need} bytes, got {n}")
    padded = CanFrame(frame.arbitration_id, frame.data.ljust(message.length, b"\0"))
    values = decode_signals(DB, padded) or {}
    whole = {s.name for s in message.signals if (s.start + s.length + 7) // 8 <= n}
    values = {k: round(v, 6) if isinstance(v, float) else v for k, v in values.items()}
    texts: dict[str, str] = {}
    if frame.arbitration_id in _TEXT:
        key, start, end = _TEXT[frame.arbitration_id]
        if n > start:
            texts[key] = frame.data[start:end].decode("ascii", errors="replace").rstrip("\0 ")
    return message.name, {k: v for k, v in values.items() if k in whole}, texts


def _soc(sig: Mapping[str, Any]) -> float | None:
    """The 0.01 % SOC when present and consistent with the 1 % one (zero padding is not a SOC), else the 1 %."""
    soc = sig.get("state_of_charge_pct")
    hires = sig.get("state_of_charge_hires_pct")
    if soc is None:
        return None
    if hires is not None and abs(float(hires) - float(soc)) <= 1.0:
        return float(hires)
    return float(soc)


def _flags(sig: Mapping[str, Any], table: Mapping[str, AlarmKind]) -> frozenset[AlarmKind]:
    return frozenset(kind for name, kind in table.items() if sig.get(name))


def _sma(sig: Mapping[str, Any], prefix: str) -> frozenset[AlarmKind]:
    return frozenset(kind for item, kind in SMA_KINDS.items() if sig.get(f"{prefix}_{item}") == SMA_ACTIVE)


def _view(frame_id: int, sig: Mapping[str, Any], texts: Mapping[str, str]) -> BatteryView:
    def f(name: str) -> float | None:
        return None if name not in sig else float(sig[name])

    def b(name: str) -> bool | None:
        return None if name not in sig else bool(sig[name])

    match frame_id:
        case 0x351:
            dvl = f("discharge_voltage_limit_v")
            return BatteryView(
                cvl_v=f("charge_voltage_limit_v"),
                ccl_a=f("charge_current_limit_a"),
                dcl_a=f("discharge_current_limit_a"),
                dvl_v=dvl or None,  # 0 V is the V1.2 "blank", not a limit
            )
        case 0x355:
            return BatteryView(soc_pct=_soc(sig), soh_pct=f("state_of_health_pct"))
        case 0x356:
            return BatteryView(
                voltage_v=f("battery_voltage_v"),
                current_a=f("battery_current_a"),
                temperature_c=f("battery_temperature_c"),
            )
        case 0x359:
            return BatteryView(
                protections=_flags(sig, PROTECTION_KINDS),
                alarms=_flags(sig, WARNING_KINDS),
                module_count=int(sig["module_count"]),
            )
        case 0x35A:
            return BatteryView(protections=_sma(sig, "alarm"), alarms=_sma(sig, "warning"))
        case 0x35C:
            return BatteryView(
                charge_enable=b("charge_enable"),
                discharge_enable=b("discharge_enable"),
                force_charge_1=b("request_force_charge_1"),
                force_charge_2=b("request_force_charge_2"),
                full_charge_request=b("request_full_charge"),
            )
        case 0x35E:
            return BatteryView(manufacturer=texts.get("manufacturer", ""))
        case 0x35F:
            return BatteryView(installed_capacity_ah=f("battery_capacity_ah"))
        case 0x379:
            return BatteryView(installed_capacity_ah=f("installed_capacity_ah"))
        case 0x372:
            return BatteryView(module_count=int(sig["modules_online"]))
        case 0x373:
            return BatteryView(
                cell_voltage_min_v=f("min_cell_voltage_v"),
                cell_voltage_max_v=f("max_cell_voltage_v"),
                cell_temperature_min_c=f("min_cell_temperature_c"),
                cell_temperature_max_c=f("max_cell_temperature_c"),
            )
    return BatteryView()


# BatteryView fields each battery frame carries
_CARRIES: dict[int, frozenset[str]] = {
    0x351: frozenset({"cvl_v", "ccl_a", "dcl_a", "dvl_v"}),
    0x355: frozenset({"soc_pct", "soh_pct"}),
    0x356: frozenset({"voltage_v", "current_a", "temperature_c"}),
    0x359: frozenset({"protections", "alarms", "module_count"}),
    0x35A: frozenset({"protections", "alarms"}),
    0x35C: frozenset({"charge_enable", "discharge_enable", "force_charge_1", "force_charge_2", "full_charge_request"}),
    0x35F: frozenset({"installed_capacity_ah"}),
    0x372: frozenset({"module_count"}),
    0x373: frozenset({"cell_voltage_min_v", "cell_voltage_max_v", "cell_temperature_min_c", "cell_temperature_max_c"}),
    0x379: frozenset({"installed_capacity_ah"}),
}


def carried_by(variant: PylonCanVariant) -> frozenset[str]:
    """The BatteryView fields ``variant``'s frames carry as the bank states them.

    The manufacturer counts only when the bank's own name is sent (a fixed "PYLON" is not the bank's).
    """
    out = frozenset().union(*(_CARRIES.get(i, frozenset()) for i in variant.frames))
    if 0x35E in variant.frames and variant.name is None:
        out |= {"manufacturer"}
    return out


#: pylon-can: the six V1.2 frames, then the extensions Victron, SMA-style and Luxpower inverters read
PYLON = PylonCanVariant(frames=(*V12_FRAMES, 0x35A, 0x35F, 0x379))


class PylonCanCodec(CanCodec):
    """Pylon LV CAN configured by the class's ``variant``; subclasses set ``variant`` and get ``carries``."""

    variant: ClassVar[PylonCanVariant] = PYLON
    carries = carried_by(PYLON)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.carries = carried_by(cls.variant)

    def __init__(self, info: ProtocolInfo = INFO) -> None:
        self.info = info

    def battery_cycle(self, status: BankStatus) -> tuple[CanFrame, ...]:
        """The variant's battery frames in order, every ``info.period_s``."""
        v = self.variant
        return tuple(_encode(i, _ENCODERS[i](status, v), v) for i in v.frames)

    def is_inverter_alive(self, frame: CanFrame) -> bool:
        return not frame.is_extended_id and frame.arbitration_id in self.variant.alive_ids

    def inverter_cycle(self, view: BatteryView) -> tuple[CanFrame, ...]:
        del view
        return self.variant.inverter_frames

    def decode(self, frame: CanFrame) -> BatteryView:
        decoded = _signals(frame)
        if decoded is None:
            return BatteryView()
        _, sig, texts = decoded
        prefix = self.variant.required_name_prefix
        if frame.arbitration_id == 0x35E and not texts.get("manufacturer", "").startswith(prefix):
            raise FrameError(f"0x35E name {texts.get('manufacturer', '')!r} does not begin with {prefix!r}")
        return _view(frame.arbitration_id, sig, texts)

    def describe(self, frame: CanFrame) -> tuple[str, Description] | None:
        decoded = _signals(frame)
        if decoded is None:
            return None
        name, sig, texts = decoded
        fields: dict[str, float | int | str | bool] = {}
        fields.update(texts)
        fields.update({k: (round(x, 6) if isinstance(x, float) else int(x)) for k, x in sig.items()})
        return name, fields


class Codec(PylonCanCodec):
    """pylon-can (P14-PYL) and the compatibility rows that run it."""

    variant = PYLON
