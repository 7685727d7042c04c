"""The account password policy: the manual's rule by default, the minimum length configurable.

The manual (11.2.2 (2)): "the password need include number, uppercase letters and lowercase letters". That is the
default (``PasswordPolicy()``: those three classes and at least :data:`DEFAULT_MIN_LENGTH` characters).
NIST SP 800-63B-4 forbids composition rules and asks for 15 characters when the password is the only factor:
``PasswordPolicy.nist()`` is that policy (length only). Either way a password may be up to :data:`MAX_LENGTH`
characters, any Unicode, spaces included, never truncated; one that is the username is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from ml314.cloud.refusals import RefusedError

__all__ = ["DEFAULT_MIN_LENGTH", "MAX_LENGTH", "PasswordPolicy"]

DEFAULT_MIN_LENGTH = 8
MAX_LENGTH = 256
#: the character classes of the manual's rule: (what it needs, the test)
_CLASSES = (
    ("a digit", str.isdigit),
    ("an uppercase letter", str.isupper),
    ("a lowercase letter", str.islower),
)


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    """What a new password must be: ``min_length`` characters, and digits + upper + lower case when ``classes``."""

    min_length: int = DEFAULT_MIN_LENGTH
    classes: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.min_length <= MAX_LENGTH:
            raise RefusedError(f"password minimum length {self.min_length}: 1 to {MAX_LENGTH}", field="min_length")

    @staticmethod
    def nist(min_length: int = 15) -> PasswordPolicy:
        """NIST SP 800-63B-4 for a single-factor password: length only, no composition rule."""
        return PasswordPolicy(min_length, classes=False)

    def describe(self) -> str:
        """The rule in words (the register page shows it)."""
        need = f"at least {self.min_length} characters"
        return need + (", with a digit, an uppercase and a lowercase letter" if self.classes else "")

    def check(self, password: str, username: str = "") -> None:
        """Nothing if ``password`` meets the policy; else a :class:`RefusedError` ``weak_password`` saying what is
        missing."""
        missing: list[str] = []
        if len(password) < self.min_length:
            missing.append(f"at least {self.min_length} characters")
        if len(password) > MAX_LENGTH:
            raise RefusedError(f"password: at most {MAX_LENGTH} characters", "weak_password", "password")
        if self.classes:
            missing += [name for name, test in _CLASSES if not any(test(c) for c in password)]
        if missing:
            raise RefusedError(f"password too weak: it needs {', '.join(missing)}", "weak_password", "password")
        if username and password.casefold() == username.casefold():
            raise RefusedError("password too weak: it is the username", "weak_password", "password")
