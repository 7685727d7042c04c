"""Field-by-field descriptions of Pylon LV RS485 answers, for :meth:`pylon_rs485.Codec.describe` (``ml314 decode``).

One describer per answer layout: it reads INFO with the decoders of :mod:`pylon_rs485_blocks` and names every field
(per module for 0x42/0x44, prefixed ``module<n>_``). A describer raises :class:`FrameError` when INFO does not fit
its layout; ``describe`` then tries the next one, since a response alone does not say which command it answers.
The CID2 -> describer table stays with the other dispatch tables in :mod:`pylon_rs485`.
"""

from __future__ import annotations

from ml314.protocols.pylon_rs485_blocks import (
    MANAGEMENT_BITS,
    MASTER_ADR,
    SYSTEM_PARAMETERS,
    TEMP_NAMES,
    Reader,
    alarm_kinds,
    read_alarm,
    read_analog,
    read_fixed,
    read_management,
    read_manufacturer,
    read_packs,
    read_serial,
)

__all__ = [
    "Fields",
    "describe_alarm",
    "describe_analog",
    "describe_management",
    "describe_manufacturer",
    "describe_parameters",
    "describe_serial",
    "describe_software",
]

Fields = dict[str, float | int | str | bool]


def describe_analog(info: bytes, all_packs: bool | None) -> Fields:
    out: Fields = {}
    for adr, a in read_packs(info, all_packs, read_analog, "analog values"):
        p = f"module{adr - MASTER_ADR + 1}_"
        out |= {f"{p}cell{i + 1}_voltage_v": v for i, v in enumerate(a.cells_v)}
        names = TEMP_NAMES if len(a.temps_c) == 6 else tuple(f"t{i + 1}" for i in range(len(a.temps_c)))
        out |= {f"{p}{name}_temperature_c": t for name, t in zip(names, a.temps_c, strict=True)}
        out |= {f"{p}current_a": a.current_a, f"{p}voltage_v": a.voltage_v, f"{p}cycles": a.cycles}
        out |= {f"{p}remaining_capacity_ah": a.remaining_ah, f"{p}full_capacity_ah": a.full_ah}
    return out


def describe_alarm(info: bytes, all_packs: bool | None) -> Fields:
    out: Fields = {}
    for adr, a in read_packs(info, all_packs, read_alarm, "alarm info"):
        p = f"module{adr - MASTER_ADR + 1}_"
        alarms, prots = alarm_kinds(a)
        out[f"{p}cell_states"] = a.cell_states.hex(" ").upper()
        out[f"{p}temperature_states"] = a.temp_states.hex(" ").upper()
        out |= {f"{p}charge_current_state": a.charge_current, f"{p}module_voltage_state": a.module_voltage}
        out |= {f"{p}discharge_current_state": a.discharge_current}
        out |= {f"{p}status{i + 1}": s for i, s in enumerate(a.status)}
        out |= {f"{p}alarms": ",".join(sorted(k.value for k in alarms))}
        out[f"{p}protections"] = ",".join(sorted(k.value for k in prots))
    return out


def describe_management(info: bytes, all_packs: bool | None) -> Fields:
    command, cvl, dvl, ccl, dcl, bits = read_management(info)
    out: Fields = {"command": command, "cvl_v": cvl, "dvl_v": dvl, "ccl_a": ccl, "dcl_a": dcl}
    return out | {name: bool(bits >> bit & 1) for name, bit in MANAGEMENT_BITS.items()}


def describe_parameters(info: bytes, all_packs: bool | None) -> Fields:
    r = Reader(read_fixed(info, 25, "system parameters"), "system parameters")
    r.u()
    return {
        name: round((r.s16() if signed else r.u(2)) * scale + offset, 3)
        for name, _, scale, signed, offset in SYSTEM_PARAMETERS
    }


def describe_manufacturer(info: bytes, all_packs: bool | None) -> Fields:
    name, version, maker = read_manufacturer(info)
    return {"device_name": name, "software_version": version, "manufacturer": maker}


def describe_serial(info: bytes, all_packs: bool | None) -> Fields:
    command, serial = read_serial(info)
    return {"command": command, "serial": serial}


def describe_software(info: bytes, all_packs: bool | None) -> Fields:
    v = read_fixed(info, 6, "software version")
    return {"command": v[0], "manufacturer_version": f"{v[1]}.{v[2]}", "mainline_version": f"{v[3]}.{v[4]}.{v[5]}"}
