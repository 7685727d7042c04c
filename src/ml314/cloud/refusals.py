"""The refusals of the cloud's accounts and devices: typed, each with a stable ``code`` (and the ``field`` it is
about), which the web API turns into its JSON error form (``web/cloud_errors.py``) and the CLI into one line.

    RefusedError (an InputError: bad input from a user)
     ├── NotSignedInError    no session, or an expired one                      401
     ├── ForbiddenError      a wrong password, claim code, or a role that may not  403
     ├── NoSuchDeviceError   not there, or not visible to this user (the same)   404
     ├── TakenError       taken (username; a device bound to someone else)    409
     └── TooManyTriesError   locked or rate-limited; ``retry_after_s``           429
"""

from __future__ import annotations

from ml314.errors import InputError

__all__ = [
    "ForbiddenError",
    "NoSuchDeviceError",
    "NotSignedInError",
    "RefusedError",
    "TakenError",
    "TooManyTriesError",
]


class RefusedError(InputError):
    """A request of a user that the cloud refuses; ``code`` is stable, the message is for people."""

    code = "bad_request"

    def __init__(self, message: str, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.field = field


class NotSignedInError(RefusedError):
    code = "not_signed_in"


class ForbiddenError(RefusedError):
    code = "forbidden"


class NoSuchDeviceError(RefusedError):
    code = "no_such_device"


class TakenError(RefusedError):
    code = "conflict"


class TooManyTriesError(RefusedError):
    code = "too_many_tries"

    def __init__(self, message: str, retry_after_s: float, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message, code, field)
        self.retry_after_s = retry_after_s
