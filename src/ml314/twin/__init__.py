"""The digital twin: cells, modules, bank, sensors, front panel, input profiles (pure)."""
