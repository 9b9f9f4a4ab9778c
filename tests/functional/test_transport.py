"""Transport edge cases through the Chalice test client (issue 8)."""

import json
from typing import Any

import pytest

import app
from chalicelib.http import ROUTE_RULES
from chalicelib.services import cursors, runtime_logs
from tests.conftest import Caller, body
from tests.functional.helpers import assert_problem, create_project
from tests.functional.test_server_ops import _project_of, running_deploy

TOKENS = "/v1/auth/tokens"
ODD_ID = "a%2Fb%20c%C3%A9"  # "a/b cé"


def post_json(client: Any, caller: Caller, path: str, payload: Any, **headers: str):
    return client.http.post(
        path, headers=caller.json_headers(**headers), body=json.dumps(payload)
    )


def test_openapi_document_is_public_json(client: Any) -> None:
    response = client.http.get("/openapi.json")
    assert response.status_code == 200
    document = body(response)
    assert document["openapi"] == "3.1.0"
    assert "/v1/auth/tokens" in document["paths"]


def test_json_with_charset_is_json(client: Any, admin: Caller) -> None:
    response = client.http.post(
        TOKENS,
        headers=admin.headers(**{"Content-Type": "application/json; charset=utf-8"}),
        body=json.dumps({"name": "ci"}),
    )
    assert response.status_code == 201, response.body


@pytest.mark.parametrize("raw", [b"{", b"", b"   ", b"null", b"[1]"])
def test_malformed_or_empty_json_on_a_required_body_is_400(
    client: Any, admin: Caller, raw: bytes
) -> None:
    response = client.http.post(TOKENS, headers=admin.json_headers(), body=raw)
    assert_problem(response, 400)


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/xml"])
def test_a_body_without_a_json_type_is_415(
    client: Any, admin: Caller, content_type: str | None
) -> None:
    headers = admin.headers()
    if content_type:
        headers["Content-Type"] = content_type
    response = client.http.post(TOKENS, headers=headers, body=b'{"name":"x"}')
    assert_problem(response, 415)


def test_a_body_over_the_limit_is_413_before_parsing(
    client: Any, admin: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLATFORM_MAX_REQUEST_BODY_BYTES", "64")
    from chalicelib.settings import reset_settings

    reset_settings()
    # Not even valid JSON: the size is refused before the body is read.
    response = client.http.post(TOKENS, headers=admin.json_headers(), body=b"{" * 65)
    problem = assert_problem(response, 413)
    assert "64 bytes" in problem["detail"]


def test_wrong_method_is_405_problem_with_allow(client: Any, admin: Caller) -> None:
    response = client.http.put(TOKENS, headers=admin.json_headers(), body=b"{}")
    assert_problem(response, 405)
    assert set(response.headers["Allow"].split(", ")) == {"GET", "POST"}


def test_every_path_answers_every_other_method_with_405() -> None:
    methods: dict[str, set[str]] = {}
    for rule in ROUTE_RULES:
        methods.setdefault(rule.path, set()).add(rule.method)
    for path, declared in methods.items():
        assert set(app.app.routes[path]) >= {"GET", "POST", "PUT", "PATCH", "DELETE"}
        assert declared <= set(app.app.routes[path])


def test_unknown_path_is_404_problem(client: Any, admin: Caller) -> None:
    response = client.http.get("/v1/nothing/here", headers=admin.headers())
    # The Chalice test client answers an unknown path like API Gateway does;
    # local/front.py and infra's gateway responses turn it into problem+json.
    assert response.status_code in (403, 404)


def test_cors_headers_on_success_errors_and_preflight(
    client: Any, admin: Caller
) -> None:
    origin = "http://localhost:4111"
    ok = client.http.get(TOKENS, headers=admin.headers(Origin=origin))
    assert ok.headers["Access-Control-Allow-Origin"] == origin
    refused = client.http.get(TOKENS, headers={"Origin": origin})
    assert_problem(refused, 401)
    assert refused.headers["Access-Control-Allow-Origin"] == origin
    wrong = client.http.put(TOKENS, headers={"Origin": origin})
    assert wrong.headers["Access-Control-Allow-Origin"] == origin
    preflight = client.http.request(
        "OPTIONS",
        TOKENS,
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 204
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "idempotency-key" in preflight.headers["Access-Control-Allow-Headers"]
    stranger = client.http.get(TOKENS, headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in stranger.headers


def test_path_ids_are_decoded_once_under_the_test_client(
    client: Any, admin: Caller
) -> None:
    response = client.http.delete(f"{TOKENS}/{ODD_ID}", headers=admin.headers())
    problem = assert_problem(response, 404)
    assert "a/b cé" in problem["detail"]


def test_path_ids_are_decoded_once_in_an_api_gateway_event(admin: Caller) -> None:
    # API Gateway hands Lambda decoded path parameters (and a requestId).
    event = {
        "resource": "/v1/auth/tokens/{token_id}",
        "path": f"/v1/auth/tokens/{ODD_ID}",
        "httpMethod": "DELETE",
        "headers": admin.headers(),
        "multiValueHeaders": {k: [v] for k, v in admin.headers().items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"token_id": "a/b cé"},
        "stageVariables": None,
        "requestContext": {
            "requestId": "test-request",
            "resourcePath": "/v1/auth/tokens/{token_id}",
            "httpMethod": "DELETE",
            "path": f"/api/v1/auth/tokens/{ODD_ID}",
            "stage": "api",
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": None,
        "isBase64Encoded": False,
    }
    result = app.app(event, None)
    assert result["statusCode"] == 404
    assert "a/b cé" in json.loads(result["body"])["detail"]


def test_repeated_query_parameter_is_400(client: Any, admin: Caller) -> None:
    response = client.http.get("/v1/org/audit?limit=5&limit=6", headers=admin.headers())
    problem = assert_problem(response, 400)
    assert problem["errors"][0]["field"] == "limit"


def test_runtime_log_cursors_are_signed_and_bound(client: Any, admin: Caller) -> None:
    deploy_id = running_deploy(client, admin, "server")
    project_id = _project_of(deploy_id)
    for index in range(3):
        runtime_logs.append(deploy_id, "stdout", f"line {index}")
    path = f"/v1/server/projects/{project_id}/runtime-logs"
    first = body(client.http.get(path + "?limit=2", headers=admin.headers()))
    cursor = first["nextCursor"]
    assert not cursor.isdigit()
    ok = client.http.get(f"{path}?limit=2&cursor={cursor}", headers=admin.headers())
    assert [line["message"] for line in body(ok)["logs"]] == ["line 2"]
    scope = f"runtime-logs:{project_id}:{deploy_id}"
    forged = [
        "2",
        "garbage",
        "a.b",
        cursor[:-3] + "AAA",
        cursors.encode("org_other", scope, {"after": 1}),
        cursors.encode(admin.org_id, "runtime-logs:other:x", {"after": 1}),
        cursors.encode(admin.org_id, scope, {"after": "1"}),
    ]
    for bad in forged:
        response = client.http.get(f"{path}?cursor={bad}", headers=admin.headers())
        assert_problem(response, 400)


def test_idempotency_key_replays_and_refuses_a_different_body(
    client: Any, admin: Caller
) -> None:
    key = {"Idempotency-Key": "create-ci-token-1"}
    first = post_json(client, admin, TOKENS, {"name": "ci"}, **key)
    assert first.status_code == 201, first.body
    again = post_json(client, admin, TOKENS, {"name": "ci"}, **key)
    assert again.status_code == 201
    assert body(again) == body(first)
    assert again.headers["Idempotent-Replayed"] == "true"
    other = post_json(client, admin, TOKENS, {"name": "other"}, **key)
    problem = assert_problem(other, 422)
    assert problem["errors"][0]["field"] == "Idempotency-Key"
    listed = body(client.http.get(TOKENS, headers=admin.headers()))["tokens"]
    assert [t["name"] for t in listed].count("ci") == 1


def test_idempotency_keys_are_per_org_and_errors_are_not_kept(
    client: Any, admin: Caller
) -> None:
    key = {"Idempotency-Key": "project-1"}
    refused = post_json(client, admin, "/v1/studio/projects", {"name": ""}, **key)
    assert_problem(refused, 400)
    created = post_json(client, admin, "/v1/studio/projects", {"name": "P"}, **key)
    assert created.status_code in (200, 201), created.body
    replay = post_json(client, admin, "/v1/studio/projects", {"name": "P"}, **key)
    assert body(replay) == body(created)
    create_project(client, admin, "studio", "Another")
    projects = body(client.http.get("/v1/studio/projects", headers=admin.headers()))
    assert sorted(p["name"] for p in projects["projects"]) == ["Another", "P"]


def test_idempotency_key_must_be_printable(client: Any, admin: Caller) -> None:
    response = post_json(
        client, admin, TOKENS, {"name": "x"}, **{"Idempotency-Key": "k" * 300}
    )
    assert_problem(response, 400)


def test_every_creating_post_is_idempotent() -> None:
    creating = {
        (rule.method, rule.path)
        for rule in ROUTE_RULES
        if rule.method == "POST" and rule.idempotent
    }
    assert {
        ("POST", "/v1/studio/deploys"),
        ("POST", "/v1/server/deploys"),
        ("POST", "/v1/studio/projects"),
        ("POST", "/v1/server/projects"),
        ("POST", "/v1/auth/tokens"),
        ("POST", "/v1/gateway/projects/{project_id}/keys"),
        ("POST", "/v1/org/members/invitations"),
        ("POST", "/v1/gateway/projects/provision"),
    } <= creating
