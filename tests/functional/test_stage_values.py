"""Stage values read from AWS at run time: cursor secret and public URL."""

from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest

from chalicelib.errors import BadRequest
from chalicelib.services import cursors, stage_values
from chalicelib.settings import reset_settings
from tests.conftest import Caller, body
from tests.functional.accounts_helpers import invite


def _fresh(monkeypatch: pytest.MonkeyPatch, **env: str | None) -> None:
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    reset_settings()
    stage_values.reset()


def test_cursors_are_signed_with_the_stage_secret_from_secrets_manager(
    platform: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = platform["PLATFORM_CURSOR_SECRET_ARN"]
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=arn)
    assert stage_values.cursor_secret() == secret["SecretString"]
    token = cursors.encode("org_1", "tokens", {"after": "x"})
    assert cursors.decode(token, "org_1", "tokens") == {"after": "x"}

    # Another stage secret (a rotation, another stage): the cursor is refused.
    _fresh(monkeypatch, PLATFORM_CURSOR_SECRET="another-secret")
    with pytest.raises(BadRequest):
        cursors.decode(token, "org_1", "tokens")


def test_without_any_cursor_secret_the_platform_says_what_to_set(
    platform: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _fresh(monkeypatch, PLATFORM_CURSOR_SECRET_ARN=None, PLATFORM_CURSOR_SECRET=None)
    with pytest.raises(stage_values.MissingStageValue, match="CURSOR_SECRET"):
        cursors.encode("org_1", "tokens", {})


def test_invitation_links_use_the_public_url_parameter(
    client: Any, admin: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = "/mastra-test-public-url"
    boto3.client("ssm").put_parameter(
        Name=name, Value="https://platform.example.com", Type="String"
    )
    _fresh(monkeypatch, PLATFORM_PUBLIC_URL_PARAMETER=name)

    created = invite(client, admin, "someone@example.com")
    assert created.status_code == 201, created.body
    outbox = client.http.get("/v1/org/outbox", headers=admin.headers())
    [message] = body(outbox)["messages"]
    link = urlsplit(message["link"])
    assert (link.scheme, link.netloc) == ("https", "platform.example.com")
