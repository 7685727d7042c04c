"""Wiring and time: the simulation engine and, later, the real-time loops."""
