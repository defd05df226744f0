"""Password hashing: argon2id with argon2-cffi's defaults (RFC 9106's second recommended set)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["MIN_LENGTH", "hash_password", "needs_rehash", "verify_password"]

MIN_LENGTH = 12
_hasher = PasswordHasher()

# Verified against when the email is unknown, so a wrong email costs as long as a wrong password
# and the response time does not tell which accounts exist.
_DECOY = _hasher.hash("decoy password never used")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DECOY, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _hasher.check_needs_rehash(stored)
