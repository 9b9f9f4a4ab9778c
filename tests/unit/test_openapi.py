"""The generated OpenAPI document: valid, complete, derived from the code."""

from typing import Any

import pytest
from openapi_spec_validator import validate

import app
from chalicelib import openapi
from chalicelib.http import ROUTE_RULES, RouteRule
from chalicelib.routes.fallback import FALLBACK_ROUTES


@pytest.fixture
def document(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    for name in (
        "ARTIFACT_BUCKET",
        "STEP_QUEUE_URL",
        "STATE_MACHINE_ARN",
        "KMS_KEY_ID",
    ):
        monkeypatch.setenv(f"PLATFORM_{name}", "unit")
    from chalicelib.settings import reset_settings

    reset_settings()
    yield openapi.document()
    reset_settings()


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"] == "3.1.0"


def test_every_chalice_and_streaming_route_is_in_the_document(
    document: dict[str, Any],
) -> None:
    chalice_routes = {
        (method, path)
        for path, methods in app.app.routes.items()
        for method in methods
        if (method, path) not in FALLBACK_ROUTES
    }
    streaming = set(openapi.streaming_routes())
    assert streaming, "the streaming routes are listed"
    documented = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }
    assert chalice_routes | streaming == documented


def test_a_route_without_metadata_fails_the_document(
    monkeypatch: pytest.MonkeyPatch, document: dict[str, Any]
) -> None:
    def untyped(call):  # type: ignore[no-untyped-def]
        return {}

    monkeypatch.setattr(
        "chalicelib.openapi.ROUTE_RULES",
        [*ROUTE_RULES, RouteRule("/v1/new", "GET", True, handler=untyped)],
    )
    with pytest.raises(openapi.MissingMetadata):
        openapi.document()


def test_auth_request_and_errors_are_described(document: dict[str, Any]) -> None:
    create = document["paths"]["/v1/auth/tokens"]["post"]
    assert create["security"] == [{"bearerAuth": []}]
    schema_ref = create["requestBody"]["content"]["application/json"]["schema"]
    assert schema_ref["$ref"].startswith("#/components/schemas/")
    for status in ("201", "400", "401", "403", "413", "415", "422"):
        assert status in create["responses"], status
    problem = create["responses"]["401"]["content"]["application/problem+json"]
    assert problem["schema"] == {"$ref": "#/components/schemas/Problem"}
    names = {p["name"] for p in create["parameters"]}
    assert {"Idempotency-Key", "x-organization-id"} <= names
    proxy = document["paths"]["/v1/chat/completions"]["post"]
    assert {"gatewayKey": []} in proxy["security"]
    assert document["paths"]["/openapi.json"]["get"]["security"] == []
    logs = document["paths"]["/v1/server/projects/{project_id}/runtime-logs"]["get"]
    assert {"cursor", "limit"} <= {p["name"] for p in logs["parameters"]}


def test_the_request_schema_is_the_handlers_body_model(
    document: dict[str, Any],
) -> None:
    schemas = document["components"]["schemas"]
    create = document["paths"]["/v1/auth/tokens"]["post"]
    name = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    token_create = schemas[name.rsplit("/", 1)[1]]
    assert token_create["required"] == ["name"]


def test_usage_filters_are_described_as_query_parameters(
    document: dict[str, Any],
) -> None:
    logs = document["paths"]["/v1/gateway/projects/{project_id}/usage/logs"]["get"]
    names = {p["name"] for p in logs["parameters"] if p["in"] == "query"}
    assert {"from", "to", "limit", "offset"} <= names
    assert {"model", "status_code", "has_error", "is_stream", "thread_id"} <= names
