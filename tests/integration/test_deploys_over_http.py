"""Deploys through the running stack: HTTP API, moto server, workers, runtime."""

import time
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse

from tests.integration.apps import CRASHES, HEALTHY, NEVER_LISTENS, artifact
from tests.local_platform import RunningPlatform

pytestmark = pytest.mark.integration
SERVER_TERMINAL = {"running", "failed", "crashed", "cancelled", "stopped"}


def api(running: RunningPlatform) -> httpx.Client:
    return httpx.Client(base_url=running.url, headers=running.headers(), timeout=30)


def new_project(client: httpx.Client, product: str, name: str) -> str:
    response = client.post(f"/v1/{product}/projects", json={"name": name})
    assert response.status_code == 200, response.text
    return str(response.json()["project"]["id"])


def deploy(
    client: httpx.Client,
    product: str,
    project_id: str,
    zip_bytes: bytes,
    env: dict | None = None,
) -> str:
    if product == "server":
        created = client.post(
            "/v1/server/deploys", json={"projectId": project_id, "envVars": env or {}}
        ).json()
    else:
        created = client.post(
            "/v1/studio/deploys",
            headers={"x-project-id": project_id},
            json={"envVars": env or {}, "disablePlatformObservability": False},
        ).json()["deploy"]
    upload = httpx.put(
        created["uploadUrl"],
        content=zip_bytes,
        headers={"Content-Type": "application/zip"},
    )
    assert upload.status_code == 200, upload.text
    # Bodyless, no Content-Type: exactly what the CLI sends.
    confirmed = client.post(f"/v1/{product}/deploys/{created['id']}/upload-complete")
    assert confirmed.status_code == 200, confirmed.text
    return str(created["id"])


def wait_terminal(
    client: httpx.Client, deploy_id: str, timeout: float = 120
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/v1/server/deploys/{deploy_id}").json()
        if status["status"] in SERVER_TERMINAL:
            return dict(status)
        time.sleep(0.5)
    raise AssertionError(f"deploy {deploy_id} did not finish: {status}")


def test_server_deploy_runs_the_app_with_its_env(running: RunningPlatform) -> None:
    with api(running) as client:
        project_id = new_project(client, "server", "tiny healthy")
        deploy_id = deploy(
            client, "server", project_id, artifact(HEALTHY), {"SAMPLE_GREETING": "hi"}
        )
        status = wait_terminal(client, deploy_id)
        assert status["status"] == "running", status
        answer = httpx.get(status["instanceUrl"] + "/env").json()
        assert answer == {"greeting": "hi"}
        logs = client.get(f"/v1/server/deploys/{deploy_id}/logs").json()
        assert any("Artifact accepted" in line for line in logs["buildLogs"])
        assert any("listening on" in line for line in logs["deployLogs"])

        stopped = client.delete(f"/v1/server/deploys/{deploy_id}")
        assert stopped.json()["status"] == "stopped"
        _wait_unreachable(status["instanceUrl"])


def _wait_unreachable(url: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/health", timeout=1)
        except httpx.HTTPError:
            return
        time.sleep(0.3)
    raise AssertionError(f"{url} still answers after stop")


def test_crash_at_start_fails_with_exit_code(running: RunningPlatform) -> None:
    with api(running) as client:
        project_id = new_project(client, "server", "tiny crash")
        status = wait_terminal(
            client, deploy(client, "server", project_id, artifact(CRASHES))
        )
        assert status["status"] == "failed"
        assert "exited during start with code 3" in status["error"]
        logs = client.get(f"/v1/server/deploys/{status['id']}/logs").json()
        assert any("boom: missing configuration" in line for line in logs["deployLogs"])


def test_app_that_never_listens_fails_the_health_check(
    running: RunningPlatform,
) -> None:
    with api(running) as client:
        project_id = new_project(client, "server", "tiny deaf")
        status = wait_terminal(
            client, deploy(client, "server", project_id, artifact(NEVER_LISTENS))
        )
        assert status["status"] == "failed"
        assert "Health check timed out" in status["error"]


def test_broken_zip_fails_validation(running: RunningPlatform) -> None:
    with api(running) as client:
        project_id = new_project(client, "server", "tiny broken")
        status = wait_terminal(
            client, deploy(client, "server", project_id, b"not a zip")
        )
        assert status["status"] == "failed"
        assert "not a valid zip" in status["error"]


def test_studio_log_stream_replays_and_closes_when_done(
    running: RunningPlatform,
) -> None:
    with api(running) as client:
        project_id = new_project(client, "studio", "tiny studio")
        deploy_id = deploy(
            client, "studio", project_id, artifact(HEALTHY, layout="studio")
        )
        lines = []
        ids = []
        # No Accept header, as the CLI's own stream request; the server closes it.
        with connect_sse(
            client, "GET", f"/v1/studio/deploys/{deploy_id}/logs/stream", timeout=120
        ) as source:
            for event in source.iter_sse():
                lines.append(event.data)
                ids.append(int(event.id))
        assert any("App is running at" in line for line in lines)
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        status = client.get(f"/v1/studio/deploys/{deploy_id}").json()["deploy"]
        assert status["status"] == "running"

        # A second connection replays from the first line; Last-Event-ID resumes.
        with connect_sse(
            client, "GET", f"/v1/studio/deploys/{deploy_id}/logs/stream"
        ) as again:
            assert [e.data for e in again.iter_sse()] == lines
        with connect_sse(
            client,
            "GET",
            f"/v1/studio/deploys/{deploy_id}/logs/stream",
            headers={"Last-Event-ID": str(ids[-3])},
        ) as resumed:
            assert [e.data for e in resumed.iter_sse()] == lines[-2:]
        client.delete(f"/v1/studio/projects/{project_id}")


def test_every_route_refuses_a_bad_token_with_problem_json(
    running: RunningPlatform,
) -> None:
    for path in (
        "/v1/auth/verify",
        "/v1/studio/projects",
        "/v1/server/projects",
        "/v1/studio/deploys/x/logs/stream",
    ):
        response = httpx.get(
            running.url + path, headers={"Authorization": "Bearer nope"}
        )
        assert response.status_code == 401
        assert response.json()["status"] == 401
        assert response.json()["detail"]


def test_double_slash_paths_from_a_trailing_slash_base_url_work(
    running: RunningPlatform,
) -> None:
    response = httpx.get(running.url + "//v1/auth/verify", headers=running.headers())
    assert response.status_code == 200
    assert response.json()["organizationId"] == running.org_id


def test_dashboard_base_url_without_slash_leads_to_the_dashboard(
    running: RunningPlatform,
) -> None:
    response = httpx.get(running.url + "/dashboard")
    assert response.status_code == 307
    assert response.headers["location"] == "/dashboard/"
