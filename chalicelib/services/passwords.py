"""Passwords, hashed with Argon2id (argon2-cffi); plaintext never leaves here."""

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from chalicelib.errors import BadRequest
from chalicelib.settings import get_settings

MIN_LENGTH = 10
MAX_LENGTH = 256


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    # Argon2id with argon2-cffi's RFC 9106 defaults unless settings lower the
    # cost (the test suite does, to keep thousands of sign-ins fast).
    settings = get_settings()
    return PasswordHasher(
        time_cost=settings.password_time_cost,
        memory_cost=settings.password_memory_kib,
    )


def reset_hasher() -> None:
    _hasher.cache_clear()


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
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if `password` matches; a missing hash costs the same time."""
    try:
        return _hasher().verify(password_hash or _dummy_hash(), password) and bool(
            password_hash
        )
    except (VerificationError, InvalidHashError):
        return False


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Verified against for unknown emails, so both answers take as long.
    return _hasher().hash("not a password of anyone")
