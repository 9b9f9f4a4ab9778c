"""Bearer tokens and organization selection on every authenticated route."""

import json
import re
from typing import Any

import pytest

import app  # noqa: F401 - registers every route in ROUTE_RULES
from chalicelib.http import ROUTE_RULES
from chalicelib.services import accounts
from chalicelib.services.auth import TOKEN_PREFIX
from chalicelib.services.clock import new_id
from tests.conftest import Caller, body
from tests.functional.helpers import assert_problem

AUTH_ROUTES = sorted(
    {(rule.method, rule.path) for rule in ROUTE_RULES if rule.auth},
    key=lambda route: (route[1], route[0]),
)


def route_id(route: tuple[str, str]) -> str:
    return f"{route[0]} {route[1]}"


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x_unknown", path)


def call(client: Any, method: str, path: str, headers: dict[str, str]) -> Any:
    return client.http.request(method, concrete(path), headers=headers, body=b"")


def test_the_route_table_covers_the_contract_groups() -> None:
    # Guards the parametrization below against silently testing nothing.
    paths = {path for _, path in AUTH_ROUTES}
    assert "/v1/auth/verify" in paths
    assert "/v1/studio/deploys/{deploy_id}/upload-complete" in paths
    assert "/v1/server/deploys/{deploy_id}/cancel" in paths
    assert len(AUTH_ROUTES) >= 25


def revoked_secret(client: Any, caller: Caller) -> str:
    created = body(
        client.http.post(
            "/v1/auth/tokens",
            headers=caller.json_headers(),
            body=json.dumps({"name": "short-lived"}),
        )
    )
    revoked = client.http.delete(
        f"/v1/auth/tokens/{created['token']['id']}", headers=caller.headers()
    )
    assert revoked.status_code == 200, revoked.body
    return str(created["secret"])


# One test per route checks every refusal: a moto stack per case is too slow.
@pytest.mark.parametrize("route", AUTH_ROUTES, ids=route_id)
def test_route_rejects_bad_tokens_with_401_and_foreign_or_unknown_orgs(
    client: Any, admin: Caller, outsider: Caller, route: tuple[str, str]
) -> None:
    method, path = route
    org = {"x-organization-id": admin.org_id}
    well_formed_unknown = f"{TOKEN_PREFIX}{new_id('tok')}_{'a' * 43}"
    unauthorized = {
        "missing": {},
        "not bearer": {"Authorization": f"Basic {admin.token}"},
        "empty bearer": {"Authorization": "Bearer "},
        "malformed": {"Authorization": "Bearer not-a-platform-token"},
        "unknown": {"Authorization": f"Bearer {well_formed_unknown}"},
        "wrong secret": {"Authorization": f"Bearer {admin.token[:-4]}AAAA"},
        "revoked": {"Authorization": f"Bearer {revoked_secret(client, admin)}"},
    }
    for case, headers in unauthorized.items():
        response = call(client, method, path, {**headers, **org})
        assert response.status_code == 401, (case, response.body)
        problem = assert_problem(response, 401)
        assert problem["instance"], case

    foreign = {**admin.headers(), "x-organization-id": outsider.org_id}
    assert_problem(call(client, method, path, foreign), 403)
    unknown = {**admin.headers(), "x-organization-id": new_id("org")}
    assert_problem(call(client, method, path, unknown), 404)

    own = call(client, method, path, admin.headers(**{"x-organization-id": ""}))
    # An empty header means "the token's org"; unknown ids are never a 5xx.
    assert own.status_code not in (401, 403), own.body
    assert own.status_code < 500, own.body


def test_without_org_header_the_token_org_is_used(
    client: Any, admin: Caller, outsider: Caller
) -> None:
    headers = {"Authorization": f"Bearer {admin.token}"}
    verify = body(client.http.get("/v1/auth/verify", headers=headers))
    assert verify["organizationId"] == admin.org_id
    outsider_headers = {"Authorization": f"Bearer {outsider.token}"}
    verify = body(client.http.get("/v1/auth/verify", headers=outsider_headers))
    assert verify["organizationId"] == outsider.org_id


def test_org_header_switches_to_another_org_the_user_belongs_to(
    client: Any, admin: Caller, outsider: Caller
) -> None:
    accounts.add_member(outsider.org_id, admin.user_id, "member")
    response = client.http.get(
        "/v1/auth/verify",
        headers={**admin.headers(), "x-organization-id": outsider.org_id},
    )
    assert response.status_code == 200, response.body
    assert body(response)["organizationId"] == outsider.org_id
    assert body(response)["role"] == "member"


def test_verify_names_the_user_org_and_memberships(
    client: Any, admin: Caller, outsider: Caller
) -> None:
    accounts.add_member(outsider.org_id, admin.user_id, "member")
    response = client.http.get(
        "/v1/auth/verify", headers={"Authorization": f"Bearer {admin.token}"}
    )
    assert response.status_code == 200, response.body
    verify = body(response)
    assert set(verify["user"]) == {"id", "email", "firstName", "lastName"}
    assert verify["user"]["id"] == admin.user_id
    assert verify["user"]["email"] == "admin@localhost"
    assert verify["organizationId"] == admin.org_id
    assert verify["role"] == "admin"
    assert verify["authType"] == "api-key"
    assert sorted(verify["memberOrgIds"]) == sorted([admin.org_id, outsider.org_id])


def test_orgs_lists_every_org_of_the_caller_with_role_and_current_flag(
    client: Any, admin: Caller, outsider: Caller
) -> None:
    accounts.add_member(outsider.org_id, admin.user_id, "member")
    response = client.http.get(
        "/v1/auth/orgs", headers={"Authorization": f"Bearer {admin.token}"}
    )
    assert response.status_code == 200, response.body
    orgs = {org["id"]: org for org in body(response)["organizations"]}
    assert set(orgs) == {admin.org_id, outsider.org_id}
    for org in orgs.values():
        assert set(org) == {"id", "name", "role", "isCurrent"}
    assert orgs[admin.org_id]["role"] == "admin"
    assert orgs[admin.org_id]["isCurrent"] is True
    assert orgs[outsider.org_id] == {
        "id": outsider.org_id,
        "name": "Elsewhere",
        "role": "member",
        "isCurrent": False,
    }


def test_orgs_does_not_list_orgs_the_caller_is_not_in(
    client: Any, admin: Caller, outsider: Caller
) -> None:
    response = client.http.get(
        "/v1/auth/orgs", headers={"Authorization": f"Bearer {admin.token}"}
    )
    assert [org["id"] for org in body(response)["organizations"]] == [admin.org_id]
