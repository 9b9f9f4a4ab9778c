"""API tokens: created with a one-time secret, listed without it, revoked at once."""

import json
from typing import Any

from chalicelib import aws
from chalicelib.models import ApiToken
from tests.conftest import Caller, body
from tests.functional.helpers import assert_problem


def create_token(client: Any, caller: Caller, name: str = "ci") -> Any:
    return client.http.post(
        "/v1/auth/tokens",
        headers=caller.json_headers(),
        body=json.dumps({"name": name}),
    )


def test_create_token_returns_201_with_token_info_and_secret(
    client: Any, admin: Caller
) -> None:
    response = create_token(client, admin, "mastra observability – app")
    assert response.status_code == 201, response.body
    created = body(response)
    assert set(created) == {"token", "secret"}
    token = created["token"]
    assert {"id", "name", "obfuscatedValue", "lastUsedAt", "createdAt"} <= set(token)
    assert token["name"] == "mastra observability – app"
    assert token["lastUsedAt"] is None
    assert token["createdAt"].endswith("Z")
    assert created["secret"] not in token["obfuscatedValue"]
    assert token["id"] in created["secret"]


def test_created_token_works_as_a_bearer_token(client: Any, admin: Caller) -> None:
    secret = body(create_token(client, admin))["secret"]
    response = client.http.get(
        "/v1/auth/verify", headers={"Authorization": f"Bearer {secret}"}
    )
    assert response.status_code == 200, response.body
    assert body(response)["organizationId"] == admin.org_id


def test_token_list_has_the_token_but_never_its_secret(
    client: Any, admin: Caller
) -> None:
    created = body(create_token(client, admin))
    response = client.http.get("/v1/auth/tokens", headers=admin.headers())
    assert response.status_code == 200, response.body
    listed = body(response)
    assert set(listed) == {"tokens"}
    ids = [token["id"] for token in listed["tokens"]]
    assert created["token"]["id"] in ids
    assert created["secret"] not in response.body.decode()
    for token in listed["tokens"]:
        assert "secret" not in token
        assert {"id", "name", "obfuscatedValue", "lastUsedAt", "createdAt"} <= set(
            token
        )


def test_token_secret_is_stored_only_as_a_hash(client: Any, admin: Caller) -> None:
    created = body(create_token(client, admin))
    item = aws.client("dynamodb").get_item(
        TableName=ApiToken.table_name(),
        Key={"id": {"S": created["token"]["id"]}},
        ConsistentRead=True,
    )["Item"]
    stored = json.dumps(item)
    assert created["secret"] not in stored
    # The random part of the secret is nowhere either, not even partly masked.
    random_part = created["secret"].removeprefix(f"mpt_{created['token']['id']}_")
    assert random_part[4:-4] not in stored
    assert "secret_hash" in item


def test_revoked_token_gets_401_on_the_very_next_request(
    client: Any, admin: Caller
) -> None:
    created = body(create_token(client, admin))
    headers = {"Authorization": f"Bearer {created['secret']}"}
    assert client.http.get("/v1/auth/verify", headers=headers).status_code == 200

    revoked = client.http.delete(
        f"/v1/auth/tokens/{created['token']['id']}", headers=admin.headers()
    )
    assert revoked.status_code == 200, revoked.body
    assert_problem(client.http.get("/v1/auth/verify", headers=headers), 401)
    listed = body(client.http.get("/v1/auth/tokens", headers=admin.headers()))
    assert created["token"]["id"] not in [t["id"] for t in listed["tokens"]]


def test_revoking_an_unknown_token_is_a_404_problem(client: Any, admin: Caller) -> None:
    response = client.http.delete(
        "/v1/auth/tokens/tok_aaaaaaaaaaaaaaaa", headers=admin.headers()
    )
    problem = assert_problem(response, 404)
    assert "tok_aaaaaaaaaaaaaaaa" in problem["detail"]


def test_token_of_another_org_cannot_be_revoked_or_listed(
    client: Any, admin: Caller, outsider: Caller
) -> None:
    theirs = body(create_token(client, outsider))
    listed = body(client.http.get("/v1/auth/tokens", headers=admin.headers()))
    assert theirs["token"]["id"] not in [t["id"] for t in listed["tokens"]]
    response = client.http.delete(
        f"/v1/auth/tokens/{theirs['token']['id']}", headers=admin.headers()
    )
    assert_problem(response, 404)
    headers = {"Authorization": f"Bearer {theirs['secret']}"}
    assert client.http.get("/v1/auth/verify", headers=headers).status_code == 200


def test_token_create_validates_the_name(client: Any, admin: Caller) -> None:
    response = client.http.post(
        "/v1/auth/tokens", headers=admin.json_headers(), body=json.dumps({})
    )
    problem = assert_problem(response, 400)
    assert [error["field"] for error in problem["errors"]] == ["name"]
