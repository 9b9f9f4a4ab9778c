"""Time and identifiers, in one place so tests can reason about them."""

import base64
import secrets
from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    """Render an ISO 8601 UTC timestamp with milliseconds and a `Z`."""
    if value is None:
        return None
    return (
        value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def new_id(prefix: str) -> str:
    """An opaque id: `<prefix>_` and 16 lowercase base32 characters."""
    raw = base64.b32encode(secrets.token_bytes(10)).decode().lower()
    return f"{prefix}_{raw}"
