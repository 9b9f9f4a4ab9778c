"""Token secrets: the embedded id, the bearer header, and what is kept."""

import secrets

import pytest

from chalicelib.errors import Unauthorized
from chalicelib.services.auth import (
    TOKEN_PREFIX,
    bearer_secret,
    hash_secret,
    obfuscate,
    token_id_of,
)
from chalicelib.services.clock import new_id


def make_secret(token_id: str | None = None, random_part: str | None = None) -> str:
    token_id = token_id or new_id("tok")
    random_part = random_part or secrets.token_urlsafe(32)
    return f"{TOKEN_PREFIX}{token_id}_{random_part}"


def test_token_id_of_finds_the_embedded_id() -> None:
    token_id = new_id("tok")
    assert token_id_of(make_secret(token_id)) == token_id


def test_token_id_of_accepts_underscores_and_dashes_in_the_random_part() -> None:
    token_id = new_id("tok")
    assert token_id_of(make_secret(token_id, "_-" * 20)) == token_id


@pytest.mark.parametrize(
    "secret",
    [
        "",
        "mpt_",
        "not-a-token",
        "mpt_tok_abc_" + "a" * 43,  # id too short
        "mpt_tok_ABCDEFGHIJKLMNOP_" + "a" * 43,  # id not lowercase base32
        "mpt_tok_aaaaaaaaaaaaaaa1_" + "a" * 43,  # 1 is not base32
        "mpt_tok_aaaaaaaaaaaaaaaa_" + "a" * 31,  # random part too short
        "mpt_tok_aaaaaaaaaaaaaaaa_" + "a" * 129,  # random part too long
        "mpt_tok_aaaaaaaaaaaaaaaa_" + "a" * 40 + "!",  # bad character
        "xyz_tok_aaaaaaaaaaaaaaaa_" + "a" * 43,  # wrong prefix
        "mpt_usr_aaaaaaaaaaaaaaaa_" + "a" * 43,  # not a token id
        " mpt_tok_aaaaaaaaaaaaaaaa_" + "a" * 43,  # leading space
        "mpt_tok_aaaaaaaaaaaaaaaa_" + "a" * 43 + "\n",  # trailing newline
    ],
)
def test_token_id_of_rejects_malformed_secrets(secret: str) -> None:
    assert token_id_of(secret) is None


@pytest.mark.parametrize(
    ("header", "secret"),
    [
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("BEARER   abc  ", "abc"),
        ("  Bearer abc", "abc"),
    ],
)
def test_bearer_secret_reads_the_token(header: str, secret: str) -> None:
    assert bearer_secret(header) == secret


@pytest.mark.parametrize(
    "header", [None, "", "   ", "Bearer", "Bearer   ", "Basic abc", "Token abc", "abc"]
)
def test_bearer_secret_refuses_anything_else_with_401(header: str | None) -> None:
    with pytest.raises(Unauthorized) as caught:
        bearer_secret(header)
    assert caught.value.status == 401
    assert caught.value.detail


def test_hash_is_stable_and_does_not_contain_the_secret() -> None:
    secret = make_secret()
    assert hash_secret(secret) == hash_secret(secret)
    assert hash_secret(secret) != hash_secret(secret + "x")
    assert secret not in hash_secret(secret)


def test_obfuscated_value_hides_the_random_part() -> None:
    random_part = secrets.token_urlsafe(32)
    secret = make_secret(random_part=random_part)
    shown = obfuscate(secret)
    assert shown.startswith(secret[:8])
    assert shown.endswith(secret[-4:])
    assert random_part[:-4] not in shown
