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


def upload_complete(client: Any, caller: Caller, product: str, deploy_id: str) -> Any:
    """POST upload-complete the way the CLI does: no body, no Content-Type."""
    return client.http.post(
        f"/v1/{product}/deploys/{deploy_id}/upload-complete", headers=caller.headers()
    )


def uploaded_deploy(
    client: Any,
    caller: Caller,
    product: str,
    content: bytes | None = None,
    name: str = "Sample App",
) -> str:
    """A deploy whose artifact is in the bucket, confirmed by the client."""
    project_id = create_project(client, caller, product, name)
    deploy_id = str(create_deploy(client, caller, product, project_id)["id"])
    files = SERVER_ZIP if product == "server" else STUDIO_ZIP
    put_artifact(deploy_id, zip_bytes(files) if content is None else content)
    response = upload_complete(client, caller, product, deploy_id)
    assert response.status_code == 200, response.body
    return deploy_id


def running_deploy(client: Any, caller: Caller, product: str) -> str:
    deploy_id = uploaded_deploy(client, caller, product)
    run_steps(deploy_id)
    assert deploy_view(client, caller, product, deploy_id)["status"] == "running"
    return deploy_id


def deploy_view(client: Any, caller: Caller, product: str, deploy_id: str) -> dict:
    """The deploy as the CLI reads it: studio unwrapped from `{deploy}`."""
    response = client.http.get(
        f"/v1/{product}/deploys/{deploy_id}", headers=caller.headers()
    )
    assert response.status_code == 200, response.body
    payload = body(response)
    return dict(payload["deploy"] if product == "studio" else payload)


def s3_notification(*keys: str, event_name: str = "ObjectCreated:Put") -> str:
    """The SQS message body S3 sends for created objects (keys URL-encoded)."""
    bucket = get_settings().artifact_bucket
    records = [
        {
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "us-east-1",
            "eventTime": "2026-01-01T00:00:00.000Z",
            "eventName": event_name,
            "s3": {
                "s3SchemaVersion": "1.0",
                "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                "object": {"key": key, "size": 1, "eTag": "0"},
            },
        }
        for key in keys
    ]
    return json.dumps({"Records": records})


def encoded_key(deploy_id: str) -> str:
    """An artifact key as S3 writes it into events: slashes URL-encoded."""
    return f"deploys%2F{deploy_id}%2Fartifact.zip"


def sqs_event(*bodies: str) -> dict:
    """The Lambda event SQS delivers for a batch of message bodies."""
    return {
        "Records": [
            {
                "messageId": f"msg-{index}",
                "receiptHandle": f"handle-{index}",
                "body": message,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "0",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:uploads",
                "awsRegion": "us-east-1",
            }
            for index, message in enumerate(bodies)
        ]
    }


def assert_problem(response: Any, status: int) -> dict:
    """A non-empty problem+json body with the RFC 9457 members."""
    assert response.status_code == status, response.body
    assert response.headers["Content-Type"].startswith("application/problem+json")
    problem = body(response)
    assert isinstance(problem, dict), response.body
    assert problem["status"] == status
    assert isinstance(problem["type"], str) and problem["type"]
    assert isinstance(problem["title"], str) and problem["title"]
    assert isinstance(problem["detail"], str) and problem["detail"]
    return problem
