"""Exceptions raised at the boundaries of ml314.

    Ml314Error
     ├── InputError        bad user input: arguments, CSV files, experiment text, config keys
     ├── ConfigError       a configuration tree that fails validation
 ├── AccessDeniedError a protected change without the technician PIN
     ├── FrameError        a malformed protocol frame
     └── TransportError    a link (CAN, serial, TCP) failed

Faults of the battery are data (protection rows that trip), never exceptions.
"""


class Ml314Error(Exception):
    """Root of every exception ml314 raises on purpose."""


class InputError(Ml314Error):
    """User input that cannot be used; the message names the offending line or value."""


class ConfigError(Ml314Error):
    """A configuration that fails validation."""


class AccessDeniedError(Ml314Error):
    """A change that needs the technician PIN was attempted without it."""


class FrameError(Ml314Error):
    """A protocol frame that cannot be decoded."""


class TransportError(Ml314Error):
    """A communication link that failed."""
