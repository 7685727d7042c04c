"""The digital twin: cells, modules, bank, sensors, front panel, scenarios (pure)."""
