"""The BMS firmware (pure): protection table, states, LEDs, SOC/SOH, balancing, limits, event log.

The BMS sees only sensor readings, never the twin's true state.
"""
