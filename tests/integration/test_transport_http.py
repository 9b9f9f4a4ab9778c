"""Transport edge cases over a real socket, and schemathesis against the document.

A platform process of this module's own: schemathesis creates projects,
tokens and invitations at random, which must not show in other modules.
"""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.local_platform import RunningPlatform, local_platform

pytestmark = pytest.mark.integration

TOKENS = "/v1/auth/tokens"
ORIGIN = "http://localhost:4111"
# Not fuzzed: the LLM proxy needs an upstream provider per request, and the
# log stream stays open until its deploy ends (both have their own tests).
NOT_FUZZED = ("/v1/chat/completions", "/v1/responses", "/v1/messages", "/v1/models")


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    state = Path(tmp_path_factory.mktemp("transport-state"))
    with local_platform(state, {"PLATFORM_START_TIMEOUT_SECONDS": "8"}) as platform:
        yield platform


@pytest.fixture(scope="module")
def http(own: RunningPlatform) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=own.url, headers=own.headers(), timeout=30) as client:
        yield client


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status and problem["detail"]
    return problem


def test_document_is_served_without_auth(own: RunningPlatform) -> None:
    response = httpx.get(f"{own.url}/openapi.json")
    assert response.status_code == 200
    assert response.json()["openapi"] == "3.1.0"


def test_json_with_charset_is_accepted(http: httpx.Client) -> None:
    response = http.post(
        TOKENS,
        content=json.dumps({"name": "charset"}),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("raw", [b"{", b"", b"null"])
def test_malformed_or_empty_json_is_400(http: httpx.Client, raw: bytes) -> None:
    response = http.post(
        TOKENS, content=raw, headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 400)


@pytest.mark.parametrize("content_type", [None, "text/plain"])
def test_a_body_without_a_json_type_is_415(
    http: httpx.Client, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    request = http.build_request("POST", TOKENS, content=b'{"name":"x"}')
    request.headers.pop("content-type", None)
    request.headers.update(headers)
    assert_problem(http.send(request), 415)


def test_a_body_over_the_limit_is_413(http: httpx.Client) -> None:
    response = http.post(
        TOKENS,
        content=b"x" * (1024 * 1024 + 1),
        headers={"Content-Type": "application/json"},
    )
    assert_problem(response, 413)


def test_unknown_path_is_404_problem_with_cors(http: httpx.Client) -> None:
    response = http.get("/v1/nothing/here", headers={"Origin": ORIGIN})
    assert_problem(response, 404)
    assert response.headers["access-control-allow-origin"] == ORIGIN


@pytest.mark.parametrize(
    "method,path,allow",
    [
        ("PUT", TOKENS, {"GET", "POST"}),
        ("GET", "/v1/chat/completions", {"POST"}),
    ],
)
def test_wrong_method_is_405_with_allow(
    http: httpx.Client, method: str, path: str, allow: set[str]
) -> None:
    response = http.request(method, path)
    assert_problem(response, 405)
    assert set(response.headers["allow"].split(", ")) == allow


def test_path_ids_are_decoded_once(http: httpx.Client) -> None:
    response = http.delete(f"{TOKENS}/a%2Fb%20c%C3%A9")
    assert "a/b cé" in assert_problem(response, 404)["detail"]


def test_repeated_query_parameter_is_400(http: httpx.Client) -> None:
    assert_problem(http.get("/v1/org/audit?limit=1&limit=2"), 400)


def test_a_garbled_cursor_is_400(http: httpx.Client) -> None:
    created = http.post("/v1/server/projects", json={"name": "Cursor"})
    assert created.status_code in (200, 201), created.text
    project_id = created.json()["project"]["id"]
    path = f"/v1/server/projects/{project_id}/runtime-logs"
    for cursor in ("7", "x.y", "%00", "eyJ9.AAAA"):
        assert_problem(http.get(path, params={"cursor": cursor}), 400)


def test_idempotency_key_over_http(http: httpx.Client) -> None:
    headers = {"Idempotency-Key": "http-token-1"}
    first = http.post(TOKENS, json={"name": "idem"}, headers=headers)
    again = http.post(TOKENS, json={"name": "idem"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    other = http.post(TOKENS, json={"name": "else"}, headers=headers)
    assert_problem(other, 422)


def test_the_api_keeps_to_its_document(own: RunningPlatform) -> None:
    """No 5xx and no response the document does not describe.

    Driven through hypothesis here rather than schemathesis' pytest plugin,
    which does not load under this pytest.
    """
    schema = schemathesis.openapi.from_url(f"{own.url}/openapi.json")
    schema = schema.exclude(path=list(NOT_FUZZED)).exclude(path_regex=r"/stream$")
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 50
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=6,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def fuzz(case: Any) -> None:
            case.call_and_validate(headers=own.headers(), checks=checks)

        try:
            fuzz()
        except Exception as exc:  # one line per failing operation
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)
