"""Building blocks for functional tests: artifacts, uploads, step runs."""

import io
import json
import zipfile
from typing import Any

from chalicelib import aws
from chalicelib.services import pipeline
from chalicelib.settings import get_settings
from tests.conftest import Caller, body


def zip_bytes(files: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


SERVER_ZIP = {
    "package.json": '{"name": "sample"}',
    ".mastra/output/index.mjs": "console.log('hi')",
    ".mastra/output/package.json": '{"name": "server"}',
}
STUDIO_ZIP = {
    "output/index.mjs": "console.log('hi')",
    "output/package.json": '{"name": "server"}',
}


def create_project(client: Any, caller: Caller, product: str, name: str) -> str:
    response = client.http.post(
        f"/v1/{product}/projects",
        headers=caller.json_headers(),
        body=json.dumps({"name": name}),
    )
    assert response.status_code == 200, response.body
    return str(body(response)["project"]["id"])


def create_deploy(client: Any, caller: Caller, product: str, project_id: str) -> dict:
    if product == "studio":
        response = client.http.post(
            "/v1/studio/deploys",
            headers=caller.json_headers(**{"x-project-id": project_id}),
            body=json.dumps({"disablePlatformObservability": False}),
        )
        assert response.status_code == 202, response.body
        return dict(body(response)["deploy"])
    response = client.http.post(
        "/v1/server/deploys",
        headers=caller.json_headers(),
        body=json.dumps({"projectId": project_id, "envVars": {"SAMPLE_A": "1"}}),
    )
    assert response.status_code == 202, response.body
    return dict(body(response))


def put_artifact(deploy_id: str, content: bytes) -> None:
    aws.client("s3").put_object(
        Bucket=get_settings().artifact_bucket,
        Key=f"deploys/{deploy_id}/artifact.zip",
        Body=content,
        ContentType="application/zip",
    )


def executions() -> list[dict]:
    sfn = aws.client("stepfunctions")
    found = sfn.list_executions(stateMachineArn=get_settings().state_machine_arn)
    return list(found["executions"])


def run_steps(
    deploy_id: str, steps: tuple[str, ...] = ("validate", "build", "start", "health")
) -> None:
    """Run the steps as the workers would, without a task token."""
    for step in steps:
        pipeline.run({"step": step, "deployId": deploy_id})
