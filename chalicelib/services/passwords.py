"""Passwords, hashed with Argon2id (argon2-cffi); plaintext never leaves here."""

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from chalicelib.errors import BadRequest

MIN_LENGTH = 10
MAX_LENGTH = 256
_HASHER = PasswordHasher()


def check_strength(password: str, field: str = "password") -> None:
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise BadRequest(
            "The password is not acceptable.",
            errors=[
                {
                    "field": field,
                    "message": f"must be {MIN_LENGTH} to {MAX_LENGTH} characters",
                }
            ],
        )


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if `password` matches; a missing hash costs the same time."""
    try:
        return _HASHER.verify(password_hash or _dummy_hash(), password) and bool(
            password_hash
        )
    except (VerificationError, InvalidHashError):
        return False


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Verified against for unknown emails, so both answers take as long.
    return _HASHER.hash("not a password of anyone")
