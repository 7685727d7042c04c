"""A module's hardware wired to the physics: what its front panel does reaches the cells of the bank.

The bank (``twin/bank.py``) holds the electrochemistry of every module; each module's front panel
(``twin/frontpanel.py``) holds its MOSFETs, breaker, buttons, DIP switches and LEDs, and its BMS power state decides
what the BMS electronics draw from its own cells. :meth:`ModuleHardware.apply` copies that hardware state into the
bank before each step, so an open breaker or an open MOSFET really stops the current and a sleeping BMS really
drains its cells by 0.3 mA.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ml314.twin.bank import Bank
from ml314.twin.frontpanel import BmsPowerState, BmsSupply, DipSwitches, FrontPanel


@dataclass
class ModuleHardware:
    """The hardware of one module: front panel, BMS supply state and balancing resistors."""

    panel: FrontPanel
    supply: BmsSupply = field(default_factory=BmsSupply)
    power_state: BmsPowerState = "off"
    balancing: np.ndarray = field(default_factory=lambda: np.zeros(16, dtype=bool))

    def apply(self, bank: Bank, index: int) -> None:
        """Copy this hardware's state into module ``index`` of the bank."""
        mos = self.panel.mosfets
        bank.set_mosfets(index, charge_on=mos.charge_on, discharge_on=mos.discharge_on)
        bank.set_breaker(index, closed=self.panel.breaker.closed)
        bank.set_bms_supply(index, self.supply.draw_a(self.power_state))
        bank.set_balancing(index, self.balancing if self.power_state != "off" else np.zeros(16, dtype=bool))


def installed_bank_hardware(n_modules: int) -> list[ModuleHardware]:
    """Hardware of a bank as installed per manual 8.5: IDs 1..N on the DIP switches, termination on at the first
    and last module, breakers closed, powered on (8.6.2), MOSFETs on and the BMS active.
    """
    out = []
    for i in range(n_modules):
        dip = DipSwitches.from_id(i + 1, termination=i in (0, n_modules - 1))
        panel = FrontPanel(dip, breaker_closed=True)
        panel.power_on()
        panel.mosfets.command(charge_on=True, discharge_on=True)
        out.append(ModuleHardware(panel=panel, power_state="active"))
    return out
