"""The manual's chapter 12 as data: every row of Table 12-1 (alarms) and Table 12-2 (faults), word for word.

A finding cites one :class:`ManualRow` by its table and number ("Table 12-2 #9"); its analysis and solution are the
manual's text, never a paraphrase. Rows 5-8 of Table 12-2 are the LED fault codes the BMS already shows
(``bms/leds.py`` :data:`FAULT_ROWS`): their text comes from there, so it lives in one place. Guided steps are the
manual's own steps where it gives them (12.2 #9, #10) and the sections it refers to (8.4.2 for #1).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from types import MappingProxyType

from ml314.bms.leds import FAULT_BY_CODE, FaultCode

__all__ = ["MANUAL_ROWS", "ManualRow", "manual_row"]


@dataclass(frozen=True, slots=True)
class ManualRow:
    """One row of Table 12-1 or 12-2: ``ref`` ("Table 12-2 #9"), the phenomenon (12-1: state and type, with the
    indicator), the manual's analysis and solution, and the guided steps a person follows."""

    ref: str
    phenomenon: str
    analysis: str
    solution: str
    steps: tuple[str, ...] = ()


def _led_row(code: FaultCode, steps: tuple[str, ...]) -> ManualRow:
    f = FAULT_BY_CODE[code]
    return ManualRow(f"Table 12-2 #{int(code)}", f.phenomenon, f.analysis, f.solution, steps)


_REBOOT_9 = (
    "Charge the battery immediately and it will reboot itself.",
    # the manual says "switch off and switch on 14"; item 14 of Figure 6-2 is the RS485 port, the ON/OFF switch is 5
    "Or: switch the ON/OFF switch (panel item 5; the manual's step says 14) off and on; when it switches on, charge "
    "it immediately.",
    "Or: press RESET (panel item 7) to reboot and charge it immediately.",
    "If you follow step 2 or step 3 without charging immediately, the BMS protects and goes to sleep again in "
    "several minutes.",
)

_ROWS: tuple[tuple[str, ManualRow], ...] = (
    # Table 12-1: major alarms and protection (indicator ALM)
    (
        "12-1.charge_overcurrent",
        ManualRow(
            "Table 12-1 (charge, over current protection)",
            "ALM (state: charge)",
            "Over current protection",
            "Stop charge, check the settings and limitation",
            ("Check the inverter's maximum charge current against the battery's charge current limit (CCL).",),
        ),
    ),
    (
        "12-1.charge_temperature",
        ManualRow(
            "Table 12-1 (charge, temperature protection)",
            "ALM (state: charge)",
            "Temperature protection",
            "Stop charge, wait for the temp recovery",
            ("Let the battery return to its charge temperature range (0..55 degC); charging resumes by itself.",),
        ),
    ),
    (
        "12-1.discharge_overcurrent",
        ManualRow(
            "Table 12-1 (discharge, over current protection)",
            "ALM (state: discharge)",
            "Over current protection",
            "Stop discharge, check if there is an overload",
            ("Reduce the load on the inverter below the battery's discharge current limit (DCL).",),
        ),
    ),
    (
        "12-1.discharge_temperature",
        ManualRow(
            "Table 12-1 (discharge, temperature protection)",
            "ALM (state: discharge)",
            "Temperature protection",
            "Stop discharge, wait for the temp recovery",
            ("Let the battery return to its discharge temperature range (-20..60 degC); it resumes by itself.",),
        ),
    ),
    # Table 12-2: common faults (phenomenon) and solutions
    (
        "12-2.1",
        ManualRow(
            "Table 12-2 #1",
            "Communication failure with inverter",
            "Communication port connect error or battery ID setting error",
            "Refer 8.4.2",
            (
                "Check the communication cable between the master module's CAN/RS485 port and the inverter (8.4.2).",
                "Check that the protocol selected on the battery (P-code) is the inverter's (10.1.5).",
                "Check that every module has a unique ID and termination is on only at the ends (6.3, 8.5); press "
                "RESET after moving a DIP switch.",
            ),
        ),
    ),
    (
        "12-2.2",
        ManualRow(
            "Table 12-2 #2",
            "No DC output",
            "Not close breaker or low voltage",
            "Close breaker or charge the battery",
        ),
    ),
    (
        "12-2.3",
        ManualRow(
            "Table 12-2 #3",
            "Power supply time is too short",
            "Battery capacity lack or not full power",
            "Maintenance or replacement",
        ),
    ),
    (
        "12-2.4",
        ManualRow(
            "Table 12-2 #4",
            "Battery can't be charged fully",
            "Power system DC output voltage falls below the minimum charge voltage",
            "Regulating DC output voltage of power supply to battery suitable charging voltage",
            (
                "Set the inverter's charge (absorption) voltage to the battery's charge voltage limit (CVL), or let it "
                "follow the BMS over CAN/RS485.",
            ),
        ),
    ),
    (
        "12-2.5",
        _led_row(
            FaultCode.SHORT_CIRCUIT,
            (
                "Switch the breaker off and disconnect the power cables.",
                "Check all cables and terminals for a short.",
                "Reconnect, then press RESET (7).",
            ),
        ),
    ),
    (
        "12-2.6",
        _led_row(
            FaultCode.CELL_IMBALANCE,
            (
                "Read the cell voltages of the module in the PC software.",
                "Balance the cell (a full charge lets the balancer work) or have it examined.",
            ),
        ),
    ),
    (
        "12-2.7",
        _led_row(
            FaultCode.TEMPERATURE_SENSOR,
            ("Replace the temperature sensor cable the evidence names (its NTC and cells).",),
        ),
    ),
    ("12-2.8", _led_row(FaultCode.BMS_DAMAGED, ("Replace the BMS of the module this finding names.",))),
    (
        "12-2.9",
        ManualRow(
            "Table 12-2 #9",
            "Low voltage protection and no LED on",
            "BMS goes into low voltage protection and goes to sleep mode.",
            "Follow the below steps to reboot the module.",
            _REBOOT_9,
        ),
    ),
    (
        "12-2.10",
        ManualRow(
            "Table 12-2 #10",
            "Deep discharged and no LED on",
            "No charging in a long time after deep discharged, the voltage is too low to start the BMS",
            "If the battery sleeps for a long time and the voltage is too low to start the BMS, you have to open the "
            "cover of the pack and charge it up to 40V for 51.2V battery before you reboot it.",
            (
                "Open the cover of the pack (a technician's job: 13.1 (8)).",
                "Charge it up to 40 V.",
                "Reboot it (ON/OFF or RESET) and charge it immediately (12.2 #9).",
            ),
        ),
    ),
)

MANUAL_ROWS = MappingProxyType(dict(_ROWS))
"""Row key ("12-1.charge_overcurrent", "12-2.9") -> the manual's row."""


def manual_row(key: str) -> ManualRow:
    """The row ``key``; KeyError naming the nearest key for a misspelt one."""
    try:
        return MANUAL_ROWS[key]
    except KeyError:
        near = difflib.get_close_matches(key, list(MANUAL_ROWS), n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise KeyError(f"no manual row {key!r}{hint}") from None
