"""Apps without always-on sleep when idle and wake on the next request."""

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.apps import HEALTHY, artifact
from tests.integration.test_deploys_over_http import (
    api,
    deploy,
    new_project,
    wait_terminal,
)
from tests.local_platform import RunningPlatform, local_platform

pytestmark = pytest.mark.integration
IDLE_SECONDS = 2


@pytest.fixture(scope="module")
def sleepy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    state = Path(tmp_path_factory.mktemp("sleepy-state"))
    with local_platform(state, {"PLATFORM_IDLE_STOP_SECONDS": str(IDLE_SECONDS)}) as p:
        yield p


def _runtime_lines(client: httpx.Client, project_id: str) -> list[str]:
    answer = client.get(f"/v1/server/projects/{project_id}/runtime-logs?limit=200")
    assert answer.status_code == 200, answer.text
    return [entry["message"] for entry in answer.json()["logs"]]


def _wait_for_line(client: httpx.Client, project_id: str, text: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(text in line for line in _runtime_lines(client, project_id)):
            return
        time.sleep(0.5)
    raise AssertionError(f"{text!r} never logged: {_runtime_lines(client, project_id)}")


def test_idle_app_sleeps_and_the_next_request_wakes_it(sleepy: RunningPlatform) -> None:
    with api(sleepy) as client:
        project_id = new_project(client, "server", "sleepy app")
        status = wait_terminal(
            client, deploy(client, "server", project_id, artifact(HEALTHY))
        )
        assert status["status"] == "running", status

        _wait_for_line(client, project_id, "stopped while idle")
        pid_file = sleepy.state_dir / "apps" / status["id"] / "app.pid"
        assert not pid_file.exists(), "an asleep app left its pid file"
        woken = httpx.get(status["instanceUrl"] + "/health", timeout=60)

        assert woken.status_code == 200
        assert pid_file.exists()
        after = client.get(f"/v1/server/deploys/{status['id']}").json()
        assert after["status"] == "running"
        listening = [
            line
            for line in _runtime_lines(client, project_id)
            if "listening on" in line
        ]
        assert listening, "the woken app printed nothing after the idle stop"


def test_always_on_app_is_never_put_to_sleep(sleepy: RunningPlatform) -> None:
    with api(sleepy) as client:
        project_id = new_project(client, "server", "awake app")
        enabled = client.post(f"/v1/server/projects/{project_id}/always-on")
        assert enabled.status_code == 200, enabled.text
        status = wait_terminal(
            client, deploy(client, "server", project_id, artifact(HEALTHY))
        )
        assert status["status"] == "running", status

        # Several idle periods pass with no request at all.
        time.sleep(IDLE_SECONDS * 4)

        lines = _runtime_lines(client, project_id)
        assert not any("stopped while idle" in line for line in lines), lines
