"""The edges to real links: python-can buses, pyserial ports and TCP listeners, pymodbus, traffic logs."""
