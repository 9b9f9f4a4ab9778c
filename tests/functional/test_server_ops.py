"""Server projects in operation: env vars, domains, runtime logs, redeploy,
restart, pause, always-on, and the scheduled cleanup (in-process moto)."""

import json
from datetime import timedelta
from typing import Any

from chalicelib import aws
from chalicelib.models import Deploy, ProjectEnv
from chalicelib.services import cleanup, deploys, env, runtime_logs
from chalicelib.services.clock import now
from chalicelib.settings import get_settings
from tests.conftest import Caller, body
from tests.fakes import FakeRuntime
from tests.functional.helpers import (
    SERVER_ZIP,
    assert_problem,
    create_deploy,
    create_project,
    deploy_view,
    put_artifact,
    run_steps,
    running_deploy,
    zip_bytes,
)


def _project_of(deploy_id: str) -> str:
    return str(Deploy.get(deploy_id).project_id)


def get_env(client: Any, caller: Caller, project_id: str) -> Any:
    return client.http.get(
        f"/v1/server/projects/{project_id}/env", headers=caller.headers()
    )


def put_env(
    client: Any, caller: Caller, project_id: str, values: dict, **headers: str
) -> Any:
    return client.http.put(
        f"/v1/server/projects/{project_id}/env",
        headers=caller.json_headers(**headers),
        body=json.dumps({"envVars": values}),
    )


def post(client: Any, caller: Caller, path: str, payload: Any = None) -> Any:
    if payload is None:
        return client.http.post(path, headers=caller.headers())
    return client.http.post(
        path, headers=caller.json_headers(), body=json.dumps(payload)
    )


def test_env_round_trip_is_sealed_at_rest(client: Any, admin: Caller) -> None:
    project_id = create_project(client, admin, "server", "Env App")
    first = get_env(client, admin, project_id)
    assert first.status_code == 200
    assert body(first) == {"envVars": {}}
    response = put_env(client, admin, project_id, {"SAMPLE_GREETING": "hej-secret"})
    assert response.status_code == 200, response.body
    assert body(get_env(client, admin, project_id)) == {
        "envVars": {"SAMPLE_GREETING": "hej-secret"}
    }
    stored = ProjectEnv.get(project_id)
    assert b"hej-secret" not in stored.ciphertext
    assert b"SAMPLE_GREETING" not in stored.ciphertext


def test_env_names_are_validated(client: Any, admin: Caller) -> None:
    project_id = create_project(client, admin, "server", "Env Rules")
    bad = {"1ABC": "x", "WITH SPACE": "x", "PORT": "1", "node_env": "x", "A" * 200: "x"}
    problem = assert_problem(put_env(client, admin, project_id, bad), 400)
    fields = {error["field"] for error in problem["errors"]}
    assert fields == {f"envVars.{name}" for name in bad}
    reserved = {e["field"]: e["message"] for e in problem["errors"]}
    assert "reserved" in reserved["envVars.PORT"]
    huge = {"BIG": "x" * (env.MAX_VALUE + 1)}
    assert_problem(put_env(client, admin, project_id, huge), 400)
    # Nothing was half-written.
    assert body(get_env(client, admin, project_id)) == {"envVars": {}}


def test_env_if_match_refuses_a_lost_update(client: Any, admin: Caller) -> None:
    project_id = create_project(client, admin, "server", "Env Race")
    put_env(client, admin, project_id, {"A": "1"})
    tag = get_env(client, admin, project_id).headers["ETag"]
    writer_one = put_env(
        client, admin, project_id, {"A": "1", "B": "2"}, **{"If-Match": tag}
    )
    assert writer_one.status_code == 200
    assert writer_one.headers["ETag"] != tag
    writer_two = put_env(
        client, admin, project_id, {"A": "1", "C": "3"}, **{"If-Match": tag}
    )
    assert_problem(writer_two, 412)
    assert body(get_env(client, admin, project_id))["envVars"] == {"A": "1", "B": "2"}
    # Without If-Match the CLI's read-merge-put simply replaces.
    plain = put_env(client, admin, project_id, {"C": "3"})
    assert plain.status_code == 200
    assert body(get_env(client, admin, project_id))["envVars"] == {"C": "3"}
    assert_problem(
        put_env(client, admin, project_id, {}, **{"If-Match": "garbage"}), 412
    )


def test_env_of_another_org_is_hidden(
    client: Any, admin: Caller, outsider: Caller
) -> None:
    project_id = create_project(client, admin, "server", "Private Env")
    assert_problem(get_env(client, outsider, project_id), 404)
    assert_problem(put_env(client, outsider, project_id, {"A": "1"}), 404)


def test_deploy_gets_stored_env_under_its_own(client: Any, admin: Caller) -> None:
    project_id = create_project(client, admin, "server", "Merge App")
    put_env(client, admin, project_id, {"SAMPLE_A": "stored", "STORED_ONLY": "s"})
    deploy_id = str(create_deploy(client, admin, "server", project_id)["id"])
    put_artifact(deploy_id, zip_bytes(SERVER_ZIP))
    post(client, admin, f"/v1/server/deploys/{deploy_id}/upload-complete")
    run_steps(deploy_id)
    deploy = Deploy.get(deploy_id)
    # create_deploy sends envVars {"SAMPLE_A": "1"}: the deploy's own value wins.
    assert env.runtime_env(deploy, {}) == {"SAMPLE_A": "1", "STORED_ONLY": "s"}
    # A later change does not touch the running deploy's env.
    put_env(client, admin, project_id, {"STORED_ONLY": "changed"})
    assert env.runtime_env(Deploy.get(deploy_id), {})["STORED_ONLY"] == "s"


def test_env_restart_applies_the_change_as_a_new_deploy(
    client: Any, admin: Caller
) -> None:
    old = running_deploy(client, admin, "server")
    project_id = _project_of(old)
    response = post(
        client,
        admin,
        f"/v1/server/projects/{project_id}/env/restart",
        {"envVars": {"SAMPLE_GREETING": "new"}},
    )
    assert response.status_code == 200, response.body
    new_id = body(response)["id"]
    assert new_id != old
    run_steps(new_id)
    assert env.runtime_env(Deploy.get(new_id), {})["SAMPLE_GREETING"] == "new"
    assert deploy_view(client, admin, "server", old)["status"] == "stopped"


def test_restart_and_redeploy_reuse_the_last_good_artifact(
    client: Any, admin: Caller
) -> None:
    old = running_deploy(client, admin, "server")
    project_id = _project_of(old)
    response = post(client, admin, f"/v1/server/projects/{project_id}/restart")
    assert response.status_code == 200, response.body
    payload = body(response)
    assert set(payload) == {"id", "status"} and payload["status"] == "building"
    new_key = Deploy.get(payload["id"]).artifact_key
    s3 = aws.client("s3")
    bucket = get_settings().artifact_bucket
    copied = s3.get_object(Bucket=bucket, Key=new_key)["Body"].read()
    original = s3.get_object(Bucket=bucket, Key=Deploy.get(old).artifact_key)
    assert copied == original["Body"].read()
    # A second restart while that one builds is refused.
    assert_problem(
        post(client, admin, f"/v1/server/projects/{project_id}/restart"), 409
    )
    run_steps(payload["id"])
    again = post(client, admin, f"/v1/server/projects/{project_id}/redeploy")
    assert again.status_code == 200
    assert body(again)["id"] not in (old, payload["id"])


def test_restart_without_a_good_deploy_is_409(client: Any, admin: Caller) -> None:
    project_id = create_project(client, admin, "server", "Never Ran")
    assert_problem(
        post(client, admin, f"/v1/server/projects/{project_id}/restart"), 409
    )
    assert_problem(
        post(client, admin, f"/v1/server/projects/{project_id}/redeploy"), 409
    )


def test_pause_stops_the_running_app_and_409s_after(client: Any, admin: Caller) -> None:
    deploy_id = running_deploy(client, admin, "server")
    project_id = _project_of(deploy_id)
    response = post(client, admin, f"/v1/server/projects/{project_id}/pause")
    assert response.status_code == 200, response.body
    assert deploy_view(client, admin, "server", deploy_id)["status"] == "stopped"
    problem = assert_problem(
        post(client, admin, f"/v1/server/projects/{project_id}/pause"), 409
    )
    assert "not running" in problem["detail"]
    # Restart brings a paused server back.
    restarted = post(client, admin, f"/v1/server/projects/{project_id}/restart")
    assert restarted.status_code == 200


def test_always_on_is_stored(client: Any, admin: Caller) -> None:
    project_id = create_project(client, admin, "server", "Always")
    path = f"/v1/server/projects/{project_id}/always-on"
    assert body(post(client, admin, path)) == {"alwaysOn": True}
    detail = client.http.get(
        f"/v1/server/projects/{project_id}", headers=admin.headers()
    )
    assert body(detail)["project"]["alwaysOn"] is True
    off = client.http.delete(path, headers=admin.headers())
    assert body(off) == {"alwaysOn": False}


def test_runtime_logs_are_paginated_in_order(client: Any, admin: Caller) -> None:
    deploy_id = running_deploy(client, admin, "server")
    project_id = _project_of(deploy_id)
    for index in range(5):
        runtime_logs.append(deploy_id, "stdout", f"line {index}")
    runtime_logs.append(deploy_id, "stderr", "boom")
    path = f"/v1/server/projects/{project_id}/runtime-logs"
    first = body(client.http.get(path + "?limit=4", headers=admin.headers()))
    assert [line["message"] for line in first["logs"]] == [
        f"line {i}" for i in range(4)
    ]
    assert first["nextCursor"]
    rest = body(
        client.http.get(
            f"{path}?limit=4&cursor={first['nextCursor']}", headers=admin.headers()
        )
    )
    assert [line["message"] for line in rest["logs"]] == ["line 4", "boom"]
    assert rest["logs"][1]["severity"] == "error"
    assert rest["logs"][0]["severity"] == "info"
    assert rest["nextCursor"] is None
    assert all(line["timestamp"].endswith("Z") for line in rest["logs"])
    assert_problem(client.http.get(path + "?limit=x", headers=admin.headers()), 400)


def test_cleanup_fails_overdue_and_expires_unused_uploads(
    client: Any, admin: Caller
) -> None:
    project_id = create_project(client, admin, "server", "Sweep")
    stuck = str(create_deploy(client, admin, "server", project_id)["id"])
    put_artifact(stuck, zip_bytes(SERVER_ZIP))
    post(client, admin, f"/v1/server/deploys/{stuck}/upload-complete")
    run_steps(stuck, ("validate",))  # then its worker died: no further step
    old = now() - timedelta(seconds=get_settings().deploy_budget_seconds + 5)
    Deploy.get(stuck).update(actions=[Deploy.uploaded_at.set(old)])
    unused = str(create_deploy(client, admin, "server", project_id)["id"])
    Deploy.get(unused).update(
        actions=[Deploy.upload_expires_at.set(now() - timedelta(seconds=1))]
    )
    report = cleanup.run()
    assert report.overdue == [stuck]
    assert report.expired == [unused]
    view = deploy_view(client, admin, "server", stuck)
    assert view["status"] == "failed" and "time budget" in view["error"]
    view = deploy_view(client, admin, "server", unused)
    assert view["status"] == "failed" and "upload" in view["error"]
    # A late upload to the dead URL cannot start it, and the sweep removes it.
    put_artifact(unused, zip_bytes(SERVER_ZIP))
    assert_problem(
        post(client, admin, f"/v1/server/deploys/{unused}/upload-complete"), 409
    )
    second = cleanup.run()
    assert second.overdue == [] and second.expired == []
    assert second.artifacts_removed == [deploys.artifact_key(unused)]
    assert cleanup.run().artifacts_removed == []


def test_cleanup_removes_orphaned_artifacts_and_folders(
    client: Any, admin: Caller
) -> None:
    live = running_deploy(client, admin, "server")
    put_artifact("dep_gone", b"zip")
    folder = FakeRuntime().root / "dep_gone"
    folder.mkdir(parents=True, exist_ok=True)
    report = cleanup.run()
    assert "deploys/dep_gone/artifact.zip" in report.artifacts_removed
    assert "dep_gone" in report.folders_removed
    assert live not in report.folders_removed
    assert (FakeRuntime().root / live).exists()
