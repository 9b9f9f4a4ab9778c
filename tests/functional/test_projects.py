"""Studio and Server projects: envelopes, contract fields, slugs, org isolation."""

import json
from typing import Any

import pytest

from tests.conftest import Caller, body
from tests.functional.helpers import (
    assert_problem,
    create_deploy,
    create_project,
    running_deploy,
)

STUDIO_PROJECT_FIELDS = {
    "id",
    "slug",
    "name",
    "organizationId",
    "studioEnabled",
    "serverEnabled",
    "latestDeployId",
    "latestDeployStatus",
    "latestDeployCreatedAt",
    "instanceUrl",
    "createdAt",
    "updatedAt",
}
SERVER_PROJECT_FIELDS = {
    "id",
    "name",
    "slug",
    "organizationId",
    "studioEnabled",
    "serverEnabled",
    "alwaysOn",
    "latestDeployId",
    "latestDeployStatus",
    "instanceUrl",
    "createdAt",
    "updatedAt",
}
STUDIO_DEPLOY_FIELDS = {
    "id",
    "status",
    "instanceUrl",
    "error",
    "projectName",
    "createdAt",
    "projectId",
    "organizationId",
}
SERVER_DEPLOY_ROW_FIELDS = {
    "id",
    "projectId",
    "organizationId",
    "projectName",
    "status",
    "instanceUrl",
    "error",
    "startedAt",
    "stoppedAt",
    "createdAt",
    "updatedAt",
}
PRODUCTS = ["studio", "server"]


def post_project(client: Any, caller: Caller, product: str, payload: dict) -> Any:
    return client.http.post(
        f"/v1/{product}/projects",
        headers=caller.json_headers(),
        body=json.dumps(payload),
    )


def test_studio_project_create_is_wrapped_with_contract_fields(
    client: Any, admin: Caller
) -> None:
    response = post_project(client, admin, "studio", {"name": "My Agent"})
    assert response.status_code == 200, response.body
    payload = body(response)
    assert set(payload) == {"project"}
    project = payload["project"]
    assert set(project) >= STUDIO_PROJECT_FIELDS
    assert project["name"] == "My Agent"
    assert project["slug"] == "my-agent"
    assert project["organizationId"] == admin.org_id
    assert project["studioEnabled"] is True
    assert project["serverEnabled"] is False
    assert project["latestDeployId"] is None
    assert project["latestDeployStatus"] is None
    assert project["latestDeployCreatedAt"] is None
    assert project["instanceUrl"] is None
    assert project["createdAt"].endswith("Z")


def test_server_project_create_returns_project_and_empty_deploys(
    client: Any, admin: Caller
) -> None:
    response = post_project(client, admin, "server", {"name": "My Server"})
    assert response.status_code == 200, response.body
    payload = body(response)
    assert set(payload) == {"project", "deploys"}
    assert payload["deploys"] == []
    project = payload["project"]
    assert set(project) >= SERVER_PROJECT_FIELDS
    assert project["slug"] == "my-server"
    assert project["serverEnabled"] is True
    assert project["studioEnabled"] is False
    assert project["alwaysOn"] is False
    assert project["organizationId"] == admin.org_id


def test_observability_project_keeps_both_products_off(
    client: Any, admin: Caller
) -> None:
    payload = {"name": "Obs", "studioEnabled": False, "serverEnabled": False}
    project = body(post_project(client, admin, "studio", payload))["project"]
    assert project["studioEnabled"] is False
    assert project["serverEnabled"] is False


@pytest.mark.parametrize("product", PRODUCTS)
def test_project_list_is_wrapped_and_holds_only_the_org_projects(
    client: Any, admin: Caller, outsider: Caller, product: str
) -> None:
    mine = create_project(client, admin, product, "Mine")
    create_project(client, outsider, product, "Theirs")
    response = client.http.get(f"/v1/{product}/projects", headers=admin.headers())
    assert response.status_code == 200, response.body
    payload = body(response)
    assert set(payload) == {"projects"}
    assert [project["id"] for project in payload["projects"]] == [mine]
    fields = STUDIO_PROJECT_FIELDS if product == "studio" else SERVER_PROJECT_FIELDS
    assert fields <= set(payload["projects"][0])


@pytest.mark.parametrize("product", PRODUCTS)
def test_two_projects_with_the_same_name_get_different_slugs(
    client: Any, admin: Caller, product: str
) -> None:
    first = body(post_project(client, admin, product, {"name": "Twin"}))["project"]
    second = body(post_project(client, admin, product, {"name": "Twin"}))["project"]
    assert first["id"] != second["id"]
    assert first["slug"] == "twin"
    assert second["slug"] != first["slug"]
    assert second["slug"].startswith("twin")


def test_slugs_are_unique_per_org_not_globally(
    client: Any, admin: Caller, outsider: Caller
) -> None:
    mine = body(post_project(client, admin, "studio", {"name": "Shared"}))
    theirs = body(post_project(client, outsider, "studio", {"name": "Shared"}))
    assert mine["project"]["slug"] == theirs["project"]["slug"] == "shared"


@pytest.mark.parametrize("product", PRODUCTS)
def test_a_blank_project_name_is_a_400_problem(
    client: Any, admin: Caller, product: str
) -> None:
    for payload in ({"name": "   "}, {"name": ""}, {}):
        problem = assert_problem(post_project(client, admin, product, payload), 400)
        assert [error["field"] for error in problem["errors"]] == ["name"]


def test_studio_project_detail_lists_its_deploys(client: Any, admin: Caller) -> None:
    project_id = create_project(client, admin, "studio", "Detailed")
    deploy = create_deploy(client, admin, "studio", project_id)
    response = client.http.get(
        f"/v1/studio/projects/{project_id}", headers=admin.headers()
    )
    assert response.status_code == 200, response.body
    payload = body(response)
    assert set(payload) == {"project", "deploys"}
    assert payload["project"]["latestDeployId"] == deploy["id"]
    assert payload["project"]["latestDeployStatus"] == "queued"
    assert payload["project"]["latestDeployCreatedAt"] is not None
    [row] = payload["deploys"]
    assert set(row) >= STUDIO_DEPLOY_FIELDS
    assert row["id"] == deploy["id"]
    assert row["status"] == "queued"
    assert row["projectName"] == "Detailed"


def test_server_project_detail_lists_its_deploys_as_rows(
    client: Any, admin: Caller
) -> None:
    deploy_id = running_deploy(client, admin, "server")
    listed = body(client.http.get("/v1/server/projects", headers=admin.headers()))
    project_id = listed["projects"][0]["id"]
    response = client.http.get(
        f"/v1/server/projects/{project_id}", headers=admin.headers()
    )
    assert response.status_code == 200, response.body
    payload = body(response)
    assert payload["project"]["latestDeployId"] == deploy_id
    assert payload["project"]["latestDeployStatus"] == "running"
    assert payload["project"]["instanceUrl"].endswith(deploy_id)
    [row] = payload["deploys"]
    assert set(row) >= SERVER_DEPLOY_ROW_FIELDS
    assert row["id"] == deploy_id
    assert row["status"] == "running"
    assert row["startedAt"] is not None
    assert row["stoppedAt"] is None


def test_studio_and_server_deploys_stay_in_their_own_product(
    client: Any, admin: Caller
) -> None:
    project_id = create_project(client, admin, "studio", "Both")
    studio = create_deploy(client, admin, "studio", project_id)
    server = create_deploy(client, admin, "server", project_id)
    studio_rows = body(
        client.http.get(f"/v1/studio/projects/{project_id}", headers=admin.headers())
    )["deploys"]
    server_rows = body(
        client.http.get(f"/v1/server/projects/{project_id}", headers=admin.headers())
    )["deploys"]
    assert [row["id"] for row in studio_rows] == [studio["id"]]
    assert [row["id"] for row in server_rows] == [server["id"]]
    response = client.http.get(
        f"/v1/server/deploys/{studio['id']}", headers=admin.headers()
    )
    assert_problem(response, 404)


@pytest.mark.parametrize("product", PRODUCTS)
def test_project_delete_removes_it_and_its_deploys(
    client: Any, admin: Caller, product: str
) -> None:
    project_id = create_project(client, admin, product, "Doomed")
    deploy = create_deploy(client, admin, product, project_id)
    response = client.http.delete(
        f"/v1/{product}/projects/{project_id}", headers=admin.headers()
    )
    assert response.status_code == 200, response.body
    assert body(response) == {"ok": True}
    gone = client.http.get(
        f"/v1/{product}/projects/{project_id}", headers=admin.headers()
    )
    assert_problem(gone, 404)
    deploy_gone = client.http.get(
        f"/v1/{product}/deploys/{deploy['id']}", headers=admin.headers()
    )
    assert_problem(deploy_gone, 404)
    listed = body(client.http.get(f"/v1/{product}/projects", headers=admin.headers()))
    assert listed["projects"] == []


def test_deleting_a_project_frees_its_slug(client: Any, admin: Caller) -> None:
    project_id = create_project(client, admin, "studio", "Again")
    client.http.delete(f"/v1/studio/projects/{project_id}", headers=admin.headers())
    again = body(post_project(client, admin, "studio", {"name": "Again"}))
    assert again["project"]["slug"] == "again"


@pytest.mark.parametrize("product", PRODUCTS)
def test_a_project_of_another_org_is_404(
    client: Any, admin: Caller, outsider: Caller, product: str
) -> None:
    theirs = create_project(client, outsider, product, "Private")
    for method in ("GET", "DELETE"):
        response = client.http.request(
            method, f"/v1/{product}/projects/{theirs}", headers=admin.headers()
        )
        assert_problem(response, 404)
    still_there = client.http.get(
        f"/v1/{product}/projects/{theirs}", headers=outsider.headers()
    )
    assert still_there.status_code == 200


def test_a_deploy_into_a_project_of_another_org_is_404(
    client: Any, admin: Caller, outsider: Caller
) -> None:
    theirs = create_project(client, outsider, "server", "Private")
    response = client.http.post(
        "/v1/server/deploys",
        headers=admin.json_headers(),
        body=json.dumps({"projectId": theirs}),
    )
    assert_problem(response, 404)
    response = client.http.post(
        "/v1/studio/deploys",
        headers=admin.json_headers(**{"x-project-id": theirs}),
        body=json.dumps({}),
    )
    assert_problem(response, 404)


def test_a_deploy_of_another_org_is_404(
    client: Any, admin: Caller, outsider: Caller
) -> None:
    theirs = create_project(client, outsider, "studio", "Private")
    deploy = create_deploy(client, outsider, "studio", theirs)
    for path in ("", "/logs", "/diagnosis"):
        response = client.http.get(
            f"/v1/studio/deploys/{deploy['id']}{path}", headers=admin.headers()
        )
        assert_problem(response, 404)
    for path in ("/upload-complete", "/cancel"):
        response = client.http.post(
            f"/v1/studio/deploys/{deploy['id']}{path}", headers=admin.headers()
        )
        assert_problem(response, 404)
