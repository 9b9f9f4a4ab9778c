"""Request bodies: bodyless POSTs, JSON media types, invalid JSON, wrong types."""

import json
from typing import Any

import pytest

from tests.conftest import Caller, body
from tests.fakes import FakeRuntime
from tests.functional.helpers import (
    SERVER_ZIP,
    assert_problem,
    create_deploy,
    create_project,
    put_artifact,
    run_steps,
    zip_bytes,
)


def bare_post(client: Any, caller: Caller, path: str) -> Any:
    """Exactly what the CLI sends: auth headers, no Content-Type, no body."""
    headers = caller.headers()
    assert not any(name.lower() == "content-type" for name in headers)
    return client.http.post(path, headers=headers)


@pytest.mark.parametrize("product", ["studio", "server"])
def test_bodyless_upload_complete_without_content_type_is_accepted(
    client: Any, admin: Caller, product: str
) -> None:
    project_id = create_project(client, admin, product, "Bare")
    deploy_id = create_deploy(client, admin, product, project_id)["id"]
    put_artifact(deploy_id, zip_bytes(SERVER_ZIP))
    response = bare_post(
        client, admin, f"/v1/{product}/deploys/{deploy_id}/upload-complete"
    )
    assert response.status_code == 200, response.body
    assert body(response) == {"status": "ok"}


@pytest.mark.parametrize("product", ["studio", "server"])
def test_bodyless_cancel_without_content_type_is_accepted(
    client: Any, admin: Caller, product: str
) -> None:
    project_id = create_project(client, admin, product, "Bare")
    deploy_id = create_deploy(client, admin, product, project_id)["id"]
    response = bare_post(client, admin, f"/v1/{product}/deploys/{deploy_id}/cancel")
    assert response.status_code == 200, response.body
    assert body(response) == {"ok": True}


@pytest.mark.parametrize("product", ["studio", "server"])
def test_bodyless_diagnosis_post_without_content_type_is_accepted(
    client: Any, admin: Caller, product: str
) -> None:
    FakeRuntime.fail_build = "Dependency install failed: npm ERR! 404"
    project_id = create_project(client, admin, product, "Bare")
    deploy_id = create_deploy(client, admin, product, project_id)["id"]
    put_artifact(deploy_id, zip_bytes(SERVER_ZIP))
    bare_post(client, admin, f"/v1/{product}/deploys/{deploy_id}/upload-complete")
    run_steps(deploy_id)
    response = bare_post(client, admin, f"/v1/{product}/deploys/{deploy_id}/diagnosis")
    assert response.status_code == 201, response.body


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON;charset=UTF-8",
        "application/problem+json",
    ],
)
def test_json_media_types_with_parameters_are_json(
    client: Any, admin: Caller, content_type: str
) -> None:
    response = client.http.post(
        "/v1/studio/projects",
        headers=admin.headers(**{"Content-Type": content_type}),
        body=json.dumps({"name": "Typed"}),
    )
    assert response.status_code == 200, response.body
    assert body(response)["project"]["name"] == "Typed"


@pytest.mark.parametrize("raw", ['{"name": ', "not json at all", '{"name": "x",}'])
def test_invalid_json_is_a_400_problem_with_field_errors(
    client: Any, admin: Caller, raw: str
) -> None:
    response = client.http.post(
        "/v1/studio/projects", headers=admin.json_headers(), body=raw
    )
    problem = assert_problem(response, 400)
    assert problem["errors"] == [{"field": "body", "message": "is not valid JSON"}]


def test_a_json_body_that_is_not_an_object_is_a_400_problem(
    client: Any, admin: Caller
) -> None:
    response = client.http.post(
        "/v1/server/projects", headers=admin.json_headers(), body="[1, 2]"
    )
    problem = assert_problem(response, 400)
    assert problem["errors"] and all(
        set(error) == {"field", "message"} for error in problem["errors"]
    )


def test_a_wrongly_typed_field_names_the_field(client: Any, admin: Caller) -> None:
    response = client.http.post(
        "/v1/server/deploys",
        headers=admin.json_headers(),
        body=json.dumps({"projectId": "prj_x", "envVars": {"A": 1}}),
    )
    problem = assert_problem(response, 400)
    assert [error["field"] for error in problem["errors"]] == ["envVars.A"]
    assert all(error["message"] for error in problem["errors"])


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/xml", "text/csv", "application/x-www-form-urlencoded"],
)
def test_a_body_with_a_wrong_content_type_is_a_415_problem(
    client: Any, admin: Caller, content_type: str
) -> None:
    response = client.http.post(
        "/v1/studio/projects",
        headers=admin.headers(**{"Content-Type": content_type}),
        body=json.dumps({"name": "Typed"}),
    )
    problem = assert_problem(response, 415)
    assert "application/json" in problem["detail"]
    listed = body(client.http.get("/v1/studio/projects", headers=admin.headers()))
    assert listed["projects"] == []


def test_every_2xx_body_is_json(client: Any, admin: Caller) -> None:
    project_id = create_project(client, admin, "server", "Json")
    deploy_id = create_deploy(client, admin, "server", project_id)["id"]
    put_artifact(deploy_id, zip_bytes(SERVER_ZIP))
    for response in (
        bare_post(client, admin, f"/v1/server/deploys/{deploy_id}/upload-complete"),
        client.http.get(
            f"/v1/server/deploys/{deploy_id}/logs", headers=admin.headers()
        ),
        bare_post(client, admin, f"/v1/server/deploys/{deploy_id}/cancel"),
    ):
        assert 200 <= response.status_code < 300
        assert response.headers["Content-Type"].startswith("application/json")
        assert isinstance(json.loads(response.body), dict)
