"""The battery system: modules (twin + BMS) on one bus bar, and the bank they form for the inverter (pure)."""
