"""Envelope encryption with KMS: a fresh data key per sealed value."""

import json
import os
import struct

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from chalicelib import aws
from chalicelib.settings import get_settings

_FORMAT = 1


def seal(plaintext: bytes, context: dict[str, str]) -> bytes:
    """Encrypt `plaintext`, binding it to `context` (e.g. the deploy id)."""
    key = aws.client("kms").generate_data_key(
        KeyId=get_settings().kms_key_id,
        KeySpec="AES_256",
        EncryptionContext=context,
    )
    nonce = os.urandom(12)
    aad = json.dumps(context, sort_keys=True).encode()
    body = AESGCM(key["Plaintext"]).encrypt(nonce, plaintext, aad)
    wrapped = key["CiphertextBlob"]
    return struct.pack(">BH", _FORMAT, len(wrapped)) + wrapped + nonce + body


def unseal(blob: bytes, context: dict[str, str]) -> bytes:
    """Decrypt a value made by `seal` with the same `context`."""
    version, size = struct.unpack(">BH", blob[:3])
    if version != _FORMAT:
        raise ValueError("unknown sealed-value format")
    wrapped = blob[3 : 3 + size]
    nonce = blob[3 + size : 15 + size]
    body = blob[15 + size :]
    key = aws.client("kms").decrypt(CiphertextBlob=wrapped, EncryptionContext=context)
    aad = json.dumps(context, sort_keys=True).encode()
    return AESGCM(key["Plaintext"]).decrypt(nonce, body, aad)


def seal_json(value: object, context: dict[str, str]) -> bytes:
    return seal(json.dumps(value).encode(), context)


def unseal_json(blob: bytes, context: dict[str, str]) -> object:
    return json.loads(unseal(blob, context))
