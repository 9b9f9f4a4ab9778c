"""`/v1/gateway` management routes through the Chalice test client."""

import json
from typing import Any

import pytest

from chalicelib.models import GatewayBinding, GatewayKey
from chalicelib.services import accounts
from chalicelib.services.auth import hash_secret, mint_token
from chalicelib.services.gateway import keys
from tests.conftest import Caller, body
from tests.functional.helpers import assert_problem


def post(client: Any, caller: Caller, path: str, payload: dict | None = None) -> Any:
    return client.http.post(
        path, headers=caller.json_headers(), body=json.dumps(payload or {})
    )


def provision(client: Any, caller: Caller, name: str = "Chat app") -> dict:
    response = post(client, caller, "/v1/gateway/projects/provision", {"name": name})
    assert response.status_code == 201, response.body
    return dict(body(response))


@pytest.fixture
def member(admin: Caller) -> Caller:
    user = accounts.create_user("member@example.com", "Mem", "Ber")
    accounts.add_member(admin.org_id, user.id, "member")
    _, secret = mint_token(admin.org_id, user.id, "member")
    return Caller(admin.org_id, user.id, secret)


def test_provision_returns_project_and_first_key_secret_once(client, admin):
    created = provision(client, admin)

    assert created["project"]["name"] == "Chat app"
    assert created["project"]["organizationId"] == admin.org_id
    secret = created["secret"]
    assert secret.startswith("mgk_")
    assert created["key"]["prefix"] == secret[:12]
    stored = GatewayKey.get(created["key"]["id"])
    assert stored.secret_hash == hash_secret(secret)
    assert secret not in json.dumps(stored.attribute_values, default=str)

    listed = client.http.get(
        f"/v1/gateway/projects/{created['project']['id']}/keys",
        headers=admin.headers(),
    )
    assert secret not in listed.body.decode()
    assert [k["id"] for k in body(listed)["keys"]] == [created["key"]["id"]]


def test_provision_without_name_uses_a_default(client, admin):
    response = client.http.post(
        "/v1/gateway/projects/provision", headers=admin.headers()
    )
    assert response.status_code == 201, response.body
    assert body(response)["project"]["name"]


def test_projects_list_get_patch_delete(client, admin):
    project_id = provision(client, admin)["project"]["id"]

    listed = body(client.http.get("/v1/gateway/projects", headers=admin.headers()))
    assert [p["id"] for p in listed["projects"]] == [project_id]
    path = f"/v1/gateway/projects/{project_id}"
    got = body(client.http.get(path, headers=admin.headers()))
    assert got["project"]["id"] == project_id

    patched = client.http.patch(
        path,
        headers=admin.json_headers(),
        body=json.dumps({"name": "Renamed", "logRetentionDays": 7}),
    )
    assert patched.status_code == 200, patched.body
    assert body(patched)["project"]["name"] == "Renamed"
    assert body(patched)["project"]["logRetentionDays"] == 7

    assert client.http.delete(path, headers=admin.headers()).status_code == 200
    assert_problem(client.http.get(path, headers=admin.headers()), 404)


def test_patch_rejects_bad_settings_with_field_errors(client, admin):
    project_id = provision(client, admin)["project"]["id"]
    response = client.http.patch(
        f"/v1/gateway/projects/{project_id}",
        headers=admin.json_headers(),
        body=json.dumps({"logRetentionDays": 0}),
    )
    problem = assert_problem(response, 400)
    assert problem["errors"][0]["field"] == "logRetentionDays"


def test_deleting_a_project_refuses_its_keys_at_once(client, admin):
    created = provision(client, admin)
    keys.authenticate_key(created["secret"])

    client.http.delete(
        f"/v1/gateway/projects/{created['project']['id']}", headers=admin.headers()
    )

    with pytest.raises(keys.KeyRefused):
        keys.authenticate_key(created["secret"])


def test_create_key_with_limits_and_revoke_it(client, admin):
    project_id = provision(client, admin)["project"]["id"]
    response = post(
        client,
        admin,
        f"/v1/gateway/projects/{project_id}/keys",
        {
            "label": "ci",
            "expiresAt": "2099-01-01T00:00:00Z",
            "allowedModels": ["openai/gpt-4o-mini"],
            "rateLimitRpm": 30,
            "spendLimitUsd": 2.5,
        },
    )
    assert response.status_code == 201, response.body
    created = body(response)
    key = created["key"]
    assert key["label"] == "ci"
    assert key["allowedModels"] == ["openai/gpt-4o-mini"]
    assert key["rateLimitRpm"] == 30
    assert key["spendLimitUsd"] == 2.5
    assert key["expiresAt"] == "2099-01-01T00:00:00.000Z"
    assert keys.authenticate_key(created["secret"]).key.id == key["id"]

    revoked = client.http.delete(
        f"/v1/gateway/projects/{project_id}/keys/{key['id']}", headers=admin.headers()
    )

    assert revoked.status_code == 200
    with pytest.raises(keys.KeyRefused):
        keys.authenticate_key(created["secret"])


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "label"),
        ({"label": "x", "allowedModels": ["nope/none"]}, "allowedModels"),
        ({"label": "x", "expiresAt": "2001-01-01T00:00:00Z"}, "expiresAt"),
        ({"label": "x", "rateLimitRpm": 0}, "rateLimitRpm"),
        ({"label": "x", "spendLimitUsd": -1}, "spendLimitUsd"),
    ],
)
def test_create_key_rejects_bad_input(client, admin, payload, field):
    project_id = provision(client, admin)["project"]["id"]
    response = post(client, admin, f"/v1/gateway/projects/{project_id}/keys", payload)
    problem = assert_problem(response, 400)
    assert problem["errors"][0]["field"] == field


def test_bindings_are_sealed_masked_and_write_only(client, admin):
    created = provision(client, admin)
    project_id, key_id = created["project"]["id"], created["key"]["id"]
    provider_key = "sk-project-secret-value-1234"

    added = post(
        client,
        admin,
        f"/v1/gateway/projects/{project_id}/bindings",
        {"provider": "openai", "apiKey": provider_key},
    )
    assert added.status_code == 201, added.body
    assert body(added)["binding"] == {
        "provider": "openai",
        "maskedKey": "sk-…1234",
        "createdAt": body(added)["binding"]["createdAt"],
    }
    stored = GatewayBinding.get(keys.project_scope(project_id), "openai")
    assert provider_key.encode() not in stored.sealed_key
    listed = client.http.get(
        f"/v1/gateway/projects/{project_id}/bindings", headers=admin.headers()
    )
    assert provider_key not in listed.body.decode()
    assert [b["provider"] for b in body(listed)["bindings"]] == ["openai"]

    key_path = f"/v1/gateway/projects/{project_id}/keys/{key_id}/bindings"
    post(client, admin, key_path, {"provider": "openai", "apiKey": "sk-key-level-9876"})
    context = keys.authenticate_key(created["secret"])
    assert keys.resolve_credential(context, "openai").api_key == "sk-key-level-9876"

    client.http.delete(f"{key_path}/openai", headers=admin.headers())
    assert keys.resolve_credential(context, "openai").api_key == provider_key
    client.http.delete(
        f"/v1/gateway/projects/{project_id}/bindings/openai", headers=admin.headers()
    )
    assert keys.resolve_credential(context, "openai") is None


def test_platform_key_from_env_is_the_last_resort(client, admin, monkeypatch):
    created = provision(client, admin)
    context = keys.authenticate_key(created["secret"])
    monkeypatch.setenv("GATEWAY_PROVIDER_ANTHROPIC_API_KEY", "sk-ant-platform")

    credential = keys.resolve_credential(context, "anthropic")

    assert credential is not None
    assert (credential.api_key, credential.source) == ("sk-ant-platform", "platform")


def test_binding_for_unknown_provider_is_400(client, admin):
    project_id = provision(client, admin)["project"]["id"]
    response = post(
        client,
        admin,
        f"/v1/gateway/projects/{project_id}/bindings",
        {"provider": "nobody", "apiKey": "sk-whatever-123"},
    )
    assert assert_problem(response, 400)["errors"][0]["field"] == "provider"


def test_removing_a_missing_binding_is_404(client, admin):
    project_id = provision(client, admin)["project"]["id"]
    response = client.http.delete(
        f"/v1/gateway/projects/{project_id}/bindings/openai", headers=admin.headers()
    )
    assert_problem(response, 404)


def test_models_catalogue_lists_prices_per_token(client, admin):
    response = client.http.get("/v1/gateway/models", headers=admin.headers())

    models = {m["id"]: m for m in body(response)["models"]}
    mini = models["openai/gpt-4o-mini"]
    assert mini["provider"] == "openai"
    assert mini["contextWindow"] == 128000
    assert mini["pricing"]["input"] == pytest.approx(0.15 / 1_000_000)
    assert mini["pricing"]["output"] == pytest.approx(0.6 / 1_000_000)
    assert all("/" in model_id for model_id in models)


def test_members_read_but_only_admins_change(client, admin, member):
    project_id = provision(client, admin)["project"]["id"]

    assert (
        client.http.get("/v1/gateway/projects", headers=member.headers()).status_code
        == 200
    )
    assert (
        client.http.get(
            f"/v1/gateway/projects/{project_id}/keys", headers=member.headers()
        ).status_code
        == 200
    )
    assert_problem(post(client, member, "/v1/gateway/projects/provision"), 403)
    assert_problem(
        post(client, member, f"/v1/gateway/projects/{project_id}/keys", {"label": "x"}),
        403,
    )
    assert_problem(
        client.http.delete(
            f"/v1/gateway/projects/{project_id}", headers=member.headers()
        ),
        403,
    )


def test_another_orgs_project_is_not_found(client, admin, outsider):
    project_id = provision(client, admin)["project"]["id"]
    for method in ("get", "delete"):
        response = getattr(client.http, method)(
            f"/v1/gateway/projects/{project_id}", headers=outsider.headers()
        )
        assert_problem(response, 404)
    assert body(
        client.http.get("/v1/gateway/projects", headers=outsider.headers())
    ) == {"projects": []}


def test_routes_need_a_token(client):
    assert_problem(client.http.get("/v1/gateway/projects"), 401)
    assert_problem(client.http.get("/v1/gateway/models"), 401)
