"""Opaque pagination cursors: signed, bound to an org and to one list.

A cursor is `base64url(json) . base64url(hmac-sha256)`. Decoding checks the
signature, the org and the list it was made for; anything else (garbled,
forged, another org's, another list's) is a 400, never a 500.
"""

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from chalicelib.errors import BadRequest
from chalicelib.services import stage_values

MAX_CURSOR_LENGTH = 2048


def _key() -> bytes:
    return stage_values.cursor_secret().encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(org_id: str, scope: str, position: dict[str, Any]) -> str:
    """A cursor for `position` in list `scope` of `org_id`."""
    payload = json.dumps(
        {"o": org_id, "s": scope, "p": position}, separators=(",", ":"), sort_keys=True
    ).encode()
    mac = hmac.new(_key(), payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(mac)}"


def _refuse(field: str) -> BadRequest:
    return BadRequest(
        "The cursor is not valid; start again without it.",
        errors=[{"field": field, "message": "is not a cursor this list gave out"}],
    )


def decode(
    token: str, org_id: str, scope: str, field: str = "cursor"
) -> dict[str, Any]:
    """The position in a cursor made by `encode` for this org and list."""
    if not token or len(token) > MAX_CURSOR_LENGTH or token.count(".") != 1:
        raise _refuse(field)
    body, _, signature = token.partition(".")
    try:
        payload = _unb64(body)
        mac = _unb64(signature)
    except (binascii.Error, ValueError):
        raise _refuse(field) from None
    expected = hmac.new(_key(), payload, hashlib.sha256).digest()
    if not hmac.compare_digest(mac, expected):
        raise _refuse(field)
    try:
        data = json.loads(payload)
    except ValueError:
        raise _refuse(field) from None
    if not isinstance(data, dict) or data.get("o") != org_id or data.get("s") != scope:
        raise _refuse(field)
    position = data.get("p")
    if not isinstance(position, dict):
        raise _refuse(field)
    return position
