"""ml314: the ML314-51.2-W08 LiFePO4 wall battery system as software."""

__version__ = "0.1.0"
