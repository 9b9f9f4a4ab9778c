"""A deploy from creation to running, through the routes and step handlers."""

from typing import Any

from tests.conftest import Caller, body
from tests.functional.helpers import (
    SERVER_ZIP,
    create_deploy,
    create_project,
    executions,
    put_artifact,
    run_steps,
    zip_bytes,
)


def test_server_deploy_reaches_running(client: Any, admin: Caller) -> None:
    project_id = create_project(client, admin, "server", "My App")
    deploy = create_deploy(client, admin, "server", project_id)
    assert deploy["status"] == "queued"
    assert (
        deploy["uploadUrl"].startswith("https://")
        or "artifact.zip" in deploy["uploadUrl"]
    )
    put_artifact(deploy["id"], zip_bytes(SERVER_ZIP))

    response = client.http.post(
        f"/v1/server/deploys/{deploy['id']}/upload-complete", headers=admin.headers()
    )
    assert response.status_code == 200, response.body
    run_steps(deploy["id"])

    status = body(
        client.http.get(f"/v1/server/deploys/{deploy['id']}", headers=admin.headers())
    )
    assert status["status"] == "running"
    assert status["instanceUrl"].endswith(deploy["id"])
    assert [e["name"] for e in executions()] == [f"deploy-{deploy['id']}"]
