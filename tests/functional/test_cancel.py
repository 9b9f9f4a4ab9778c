"""Cancel and stop: terminal for good, whatever step reports late."""

import json
from typing import Any

import pytest

from chalicelib import aws
from chalicelib.models import Deploy
from chalicelib.settings import get_settings
from tests.conftest import Caller, body
from tests.fakes import FakeRuntime
from tests.functional.helpers import (
    SERVER_ZIP,
    assert_problem,
    create_deploy,
    create_project,
    deploy_view,
    executions,
    put_artifact,
    run_steps,
    running_deploy,
    uploaded_deploy,
    zip_bytes,
)

CANCELLED = {"studio": "stopped", "server": "cancelled"}
PRODUCTS = ["studio", "server"]


def cancel(client: Any, caller: Caller, product: str, deploy_id: str) -> Any:
    return client.http.post(
        f"/v1/{product}/deploys/{deploy_id}/cancel", headers=caller.headers()
    )


def step_messages() -> list[dict]:
    sqs = aws.client("sqs")
    found = sqs.receive_message(
        QueueUrl=get_settings().step_queue_url, MaxNumberOfMessages=10
    )
    return [json.loads(message["Body"]) for message in found.get("Messages", [])]


@pytest.mark.parametrize("product", PRODUCTS)
def test_cancel_while_queued_ends_cancelled(
    client: Any, admin: Caller, product: str
) -> None:
    project_id = create_project(client, admin, product, "Cancel Me")
    deploy_id = create_deploy(client, admin, product, project_id)["id"]
    response = cancel(client, admin, product, deploy_id)
    assert response.status_code == 200, response.body
    view = deploy_view(client, admin, product, deploy_id)
    assert view["status"] == CANCELLED[product]
    assert view["error"] == "Deploy was cancelled."
    assert executions() == []


@pytest.mark.parametrize("product", PRODUCTS)
def test_cancel_while_building_ends_cancelled_and_stops_the_execution(
    client: Any, admin: Caller, product: str
) -> None:
    deploy_id = uploaded_deploy(client, admin, product)
    run_steps(deploy_id, ("validate",))
    response = cancel(client, admin, product, deploy_id)
    assert response.status_code == 200, response.body
    assert (
        deploy_view(client, admin, product, deploy_id)["status"] == (CANCELLED[product])
    )
    [execution] = executions()
    assert execution["status"] == "ABORTED"
    assert {"step": "stop", "deployId": deploy_id} in step_messages()


@pytest.mark.parametrize("product", PRODUCTS)
def test_cancel_during_the_build_is_not_overwritten_by_later_steps(
    client: Any, admin: Caller, product: str
) -> None:
    deploy_id = uploaded_deploy(client, admin, product)
    run_steps(deploy_id, ("validate",))
    replies: list[Any] = []

    def cancel_mid_build(deploy: Deploy) -> None:
        replies.append(cancel(client, admin, product, deploy.id))

    FakeRuntime.during_build = cancel_mid_build
    run_steps(deploy_id, ("build", "start", "health"))

    assert [reply.status_code for reply in replies] == [200]
    view = deploy_view(client, admin, product, deploy_id)
    assert view["status"] == CANCELLED[product]
    assert view["instanceUrl"] is None
    assert view["error"] == "Deploy was cancelled."
    assert FakeRuntime.started == []
    assert deploy_id in FakeRuntime.stopped


@pytest.mark.parametrize("product", PRODUCTS)
def test_a_late_health_result_cannot_revive_a_cancelled_deploy(
    client: Any, admin: Caller, product: str
) -> None:
    deploy_id = uploaded_deploy(client, admin, product)
    run_steps(deploy_id, ("validate", "build", "start"))
    assert deploy_view(client, admin, product, deploy_id)["status"] == "starting"
    assert cancel(client, admin, product, deploy_id).status_code == 200
    run_steps(deploy_id, ("health",))
    view = deploy_view(client, admin, product, deploy_id)
    assert view["status"] == CANCELLED[product]
    assert view["instanceUrl"] is None
    project = body(client.http.get(f"/v1/{product}/projects", headers=admin.headers()))[
        "projects"
    ][0]
    assert project["latestDeployStatus"] == CANCELLED[product]


@pytest.mark.parametrize("product", PRODUCTS)
def test_cancel_twice_is_2xx_both_times(
    client: Any, admin: Caller, product: str
) -> None:
    deploy_id = uploaded_deploy(client, admin, product)
    first = cancel(client, admin, product, deploy_id)
    second = cancel(client, admin, product, deploy_id)
    assert first.status_code == 200, first.body
    assert second.status_code == 200, second.body
    assert (
        deploy_view(client, admin, product, deploy_id)["status"] == (CANCELLED[product])
    )


@pytest.mark.parametrize("product", PRODUCTS)
def test_cancel_on_a_running_deploy_is_a_409_problem(
    client: Any, admin: Caller, product: str
) -> None:
    deploy_id = running_deploy(client, admin, product)
    problem = assert_problem(cancel(client, admin, product, deploy_id), 409)
    assert "running" in problem["detail"]
    assert deploy_view(client, admin, product, deploy_id)["status"] == "running"


def test_cancel_on_a_failed_deploy_leaves_it_failed(client: Any, admin: Caller) -> None:
    FakeRuntime.fail_build = "Dependency install failed"
    deploy_id = uploaded_deploy(client, admin, "server")
    run_steps(deploy_id)
    assert cancel(client, admin, "server", deploy_id).status_code == 200
    view = deploy_view(client, admin, "server", deploy_id)
    assert view["status"] == "failed"
    assert view["error"] == "Dependency install failed"


def test_delete_on_a_running_server_deploy_stops_it(client: Any, admin: Caller) -> None:
    deploy_id = running_deploy(client, admin, "server")
    response = client.http.delete(
        f"/v1/server/deploys/{deploy_id}", headers=admin.headers()
    )
    assert response.status_code == 200, response.body
    stopped = body(response)
    assert stopped["id"] == deploy_id
    assert stopped["status"] == "stopped"
    assert stopped["stoppedAt"] is not None
    assert stopped["instanceUrl"] is None
    assert deploy_view(client, admin, "server", deploy_id)["status"] == "stopped"
    assert {"step": "stop", "deployId": deploy_id} in step_messages()


def test_delete_on_a_queued_server_deploy_cancels_it(
    client: Any, admin: Caller
) -> None:
    project_id = create_project(client, admin, "server", "Early")
    deploy_id = create_deploy(client, admin, "server", project_id)["id"]
    response = client.http.delete(
        f"/v1/server/deploys/{deploy_id}", headers=admin.headers()
    )
    assert response.status_code == 200, response.body
    assert body(response)["status"] == "cancelled"


def test_a_new_running_deploy_stops_the_one_it_replaces(
    client: Any, admin: Caller
) -> None:
    first = running_deploy(client, admin, "server")
    project_id = deploy_view(client, admin, "server", first)["projectId"]
    second = create_deploy(client, admin, "server", project_id)["id"]
    put_artifact(second, zip_bytes(SERVER_ZIP))
    client.http.post(
        f"/v1/server/deploys/{second}/upload-complete", headers=admin.headers()
    )
    run_steps(second)
    assert deploy_view(client, admin, "server", second)["status"] == "running"
    assert deploy_view(client, admin, "server", first)["status"] == "stopped"
