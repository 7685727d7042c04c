"""How ml314 keeps and checks the secrets people type: one Argon2id hasher and one lockout schedule.

The device's label secrets (PIN, AP password, claim code; ``storage/identity.py``) and the cloud's account
passwords (``cloud/accounts.py``) are hashed by the same :func:`hash_secret` and checked by the same
:func:`verify_secret`: salted Argon2id (argon2-cffi) with the OWASP Password Storage Cheat Sheet's minimum, m = 19 MiB,
t = 2, p = 1 (about 40 ms per hash on this class of machine). Wrong tries are slowed down by :func:`lock_after`:
``free_tries`` wrong tries, then each further one locks the check for ``first_lock_s`` seconds, doubling per wrong
try up to ``max_lock_s``.

It sits beside ``errors.py`` at the package root, under every layer, because storage and cloud (independent
layers) both use it.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["hash_secret", "is_secret_hash", "lock_after", "normal_claim_code", "verify_secret"]

_HASHER = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)


def hash_secret(secret: str) -> str:
    """The salted Argon2id hash of ``secret`` in PHC form (``$argon2id$v=19$m=19456,t=2,p=1$...``)."""
    return _HASHER.hash(secret)


def verify_secret(digest: str, secret: str) -> bool:
    """Whether ``secret`` matches ``digest`` (a malformed digest matches nothing)."""
    try:
        return bool(_HASHER.verify(digest, secret))
    except (VerificationError, InvalidHashError):
        return False


def is_secret_hash(digest: str) -> bool:
    """Whether ``digest`` looks like a hash :func:`verify_secret` can check (an Argon2 PHC string)."""
    return digest.startswith(("$argon2id$", "$argon2i$", "$argon2d$")) and digest.count("$") == 5


def lock_after(failures: int, free_tries: int, first_lock_s: float, max_lock_s: float) -> float:
    """Seconds a check stays locked after the ``failures``-th wrong try in a row (0: not locked)."""
    if failures < free_tries:
        return 0.0
    return min(first_lock_s * 2.0 ** (failures - free_tries), max_lock_s)


def normal_claim_code(code: str) -> str:
    """A claim code as it is hashed: dashes, spaces and case ignored (``abcd-efgh`` is ``ABCDEFGH``)."""
    return code.replace("-", "").replace(" ", "").upper()
