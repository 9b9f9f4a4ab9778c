"""Deploy logs: server arrays that only grow, studio text with a tail."""

import re
from typing import Any

import pytest

from tests.conftest import Caller, body
from tests.functional.helpers import (
    assert_problem,
    create_deploy,
    create_project,
    run_steps,
    uploaded_deploy,
)

LINE_SHAPE = r"^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] \[[a-z]+\] .+"


def server_logs(client: Any, caller: Caller, deploy_id: str) -> dict:
    response = client.http.get(
        f"/v1/server/deploys/{deploy_id}/logs", headers=caller.headers()
    )
    assert response.status_code == 200, response.body
    return dict(body(response))


def studio_logs(client: Any, caller: Caller, deploy_id: str, query: str = "") -> Any:
    return client.http.get(
        f"/v1/studio/deploys/{deploy_id}/logs{query}", headers=caller.headers()
    )


def test_server_logs_are_present_and_empty_for_a_new_deploy(
    client: Any, admin: Caller
) -> None:
    project_id = create_project(client, admin, "server", "Quiet")
    deploy_id = create_deploy(client, admin, "server", project_id)["id"]
    assert server_logs(client, admin, deploy_id) == {"buildLogs": [], "deployLogs": []}


def test_server_logs_are_string_arrays_that_only_grow(
    client: Any, admin: Caller
) -> None:
    deploy_id = uploaded_deploy(client, admin, "server")
    run_steps(deploy_id, ("validate",))
    first = server_logs(client, admin, deploy_id)
    run_steps(deploy_id, ("build", "start", "health"))
    second = server_logs(client, admin, deploy_id)

    for logs in (first, second):
        assert set(logs) >= {"buildLogs", "deployLogs"}
        for name in ("buildLogs", "deployLogs"):
            assert isinstance(logs[name], list)
            assert all(isinstance(line, str) for line in logs[name])
    assert first["buildLogs"]
    assert second["buildLogs"][: len(first["buildLogs"])] == first["buildLogs"]
    assert second["deployLogs"][: len(first["deployLogs"])] == first["deployLogs"]
    assert len(second["buildLogs"]) > len(first["buildLogs"])
    assert len(second["deployLogs"]) > len(first["deployLogs"])


def test_server_logs_split_build_and_deploy_output(client: Any, admin: Caller) -> None:
    deploy_id = uploaded_deploy(client, admin, "server")
    run_steps(deploy_id)
    logs = server_logs(client, admin, deploy_id)
    assert any("fake install done" in line for line in logs["buildLogs"])
    assert not any("fake install done" in line for line in logs["deployLogs"])
    assert any("App is running at" in line for line in logs["deployLogs"])
    assert not any("App is running at" in line for line in logs["buildLogs"])
    for line in logs["buildLogs"] + logs["deployLogs"]:
        assert re.match(LINE_SHAPE, line), line


def test_studio_logs_are_one_newline_joined_string(client: Any, admin: Caller) -> None:
    deploy_id = uploaded_deploy(client, admin, "studio")
    run_steps(deploy_id)
    response = studio_logs(client, admin, deploy_id)
    assert response.status_code == 200, response.body
    payload = body(response)
    assert set(payload) == {"logs"}
    lines = payload["logs"].split("\n")
    assert len(lines) >= 4
    assert "upload confirmed" in lines[0]
    assert any("App is running at" in line for line in lines)


def test_studio_logs_of_a_new_deploy_are_an_empty_string(
    client: Any, admin: Caller
) -> None:
    project_id = create_project(client, admin, "studio", "Quiet")
    deploy_id = create_deploy(client, admin, "studio", project_id)["id"]
    assert body(studio_logs(client, admin, deploy_id)) == {"logs": ""}


def test_studio_logs_tail_returns_the_last_lines(client: Any, admin: Caller) -> None:
    deploy_id = uploaded_deploy(client, admin, "studio")
    run_steps(deploy_id)
    every = body(studio_logs(client, admin, deploy_id))["logs"].split("\n")
    tail = body(studio_logs(client, admin, deploy_id, "?tail=2"))["logs"].split("\n")
    assert len(every) > 2
    assert tail == every[-2:]
    one = body(studio_logs(client, admin, deploy_id, "?tail=1"))["logs"]
    assert one == every[-1]
    many = body(studio_logs(client, admin, deploy_id, "?tail=10000"))["logs"]
    assert many.split("\n") == every


@pytest.mark.parametrize("tail", ["0", "-1", "abc", "2.5", "10001", ""])
def test_studio_logs_with_a_bad_tail_is_a_400_problem(
    client: Any, admin: Caller, tail: str
) -> None:
    project_id = create_project(client, admin, "studio", "Tail")
    deploy_id = create_deploy(client, admin, "studio", project_id)["id"]
    problem = assert_problem(
        studio_logs(client, admin, deploy_id, f"?tail={tail}"), 400
    )
    assert [error["field"] for error in problem["errors"]] == ["tail"]


def test_logs_of_an_unknown_deploy_are_a_404_problem(
    client: Any, admin: Caller
) -> None:
    assert_problem(studio_logs(client, admin, "dep_aaaaaaaaaaaaaaaa"), 404)
    response = client.http.get(
        "/v1/server/deploys/dep_aaaaaaaaaaaaaaaa/logs", headers=admin.headers()
    )
    assert_problem(response, 404)
