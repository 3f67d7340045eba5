"""Password hashing with argon2id (memory-hard), and the rules a new password must meet."""

from __future__ import annotations

from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD_LENGTH: Final = 8
MAX_PASSWORD_LENGTH: Final = 256


class WeakPassword(ValueError):
    """A password too short or too long to accept."""


def production_hasher() -> PasswordHasher:
    """argon2-cffi's RFC 9106 low-memory profile: 64 MiB, 3 passes (~50 ms here)."""
    return PasswordHasher()


def fast_hasher() -> PasswordHasher:
    """Cheap parameters for tests only (still argon2id, still verifiable)."""
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"a password has at most {MAX_PASSWORD_LENGTH} characters")


def verify(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
