"""Deploy creation, the signed upload URL, and upload confirmation from two sides."""

import json
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from chalicelib import aws
from chalicelib.events import uploads
from chalicelib.models import Deploy
from chalicelib.services import deploy_logs, deploys
from chalicelib.settings import get_settings
from tests.conftest import Caller, body
from tests.fakes import FakeRuntime
from tests.functional.helpers import (
    SERVER_ZIP,
    STUDIO_ZIP,
    assert_problem,
    create_deploy,
    create_project,
    deploy_view,
    encoded_key,
    executions,
    put_artifact,
    run_steps,
    s3_notification,
    sqs_event,
    upload_complete,
    zip_bytes,
)

PRODUCTS = ["studio", "server"]
ZIPS = {"studio": STUDIO_ZIP, "server": SERVER_ZIP}


def queued(client: Any, caller: Caller, product: str) -> str:
    project_id = create_project(client, caller, product, "Upload App")
    return str(create_deploy(client, caller, product, project_id)["id"])


def stored(deploy_id: str) -> Deploy:
    return Deploy.get(deploy_id, consistent_read=True)


def execution_names() -> list[str]:
    return [execution["name"] for execution in executions()]


def test_studio_deploy_create_is_202_wrapped_with_upload_url(
    client: Any, admin: Caller
) -> None:
    project_id = create_project(client, admin, "studio", "Wrapped")
    response = client.http.post(
        "/v1/studio/deploys",
        headers=admin.json_headers(
            **{
                "x-project-id": project_id,
                "x-project-name": project_id,
                "x-git-branch": "main",
                "x-mastra-version": "1.31.0",
            }
        ),
        body=json.dumps({"disablePlatformObservability": False}),
    )
    assert response.status_code == 202, response.body
    payload = body(response)
    assert set(payload) == {"deploy"}
    assert set(payload["deploy"]) == {"id", "status", "uploadUrl"}
    assert payload["deploy"]["status"] == "queued"
    deploy = stored(payload["deploy"]["id"])
    assert deploy.git_branch == "main"
    assert deploy.mastra_version == "1.31.0"
    # Headless deploys send the project id as its name; the name stays.
    assert deploy.project_name == "Wrapped"


def test_server_deploy_create_is_202_flat_with_upload_url(
    client: Any, admin: Caller
) -> None:
    project_id = create_project(client, admin, "server", "Flat")
    response = client.http.post(
        "/v1/server/deploys",
        headers=admin.json_headers(),
        body=json.dumps(
            {"projectId": project_id, "disablePlatformObservability": True}
        ),
    )
    assert response.status_code == 202, response.body
    payload = body(response)
    assert set(payload) == {"id", "status", "uploadUrl"}
    assert payload["status"] == "queued"


def test_studio_deploy_create_without_project_header_is_a_400_problem(
    client: Any, admin: Caller
) -> None:
    response = client.http.post(
        "/v1/studio/deploys", headers=admin.json_headers(), body=json.dumps({})
    )
    problem = assert_problem(response, 400)
    assert problem["errors"] == [{"field": "x-project-id", "message": "is required"}]


def test_server_deploy_create_without_project_id_is_a_400_problem(
    client: Any, admin: Caller
) -> None:
    response = client.http.post(
        "/v1/server/deploys", headers=admin.json_headers(), body=json.dumps({})
    )
    problem = assert_problem(response, 400)
    assert [error["field"] for error in problem["errors"]] == ["projectId"]


@pytest.mark.parametrize("product", PRODUCTS)
def test_upload_url_is_a_presigned_put_for_the_artifact_key_with_zip_type(
    client: Any, admin: Caller, product: str
) -> None:
    project_id = create_project(client, admin, product, "Signed")
    created = create_deploy(client, admin, product, project_id)
    url = urlparse(created["uploadUrl"])
    query = parse_qs(url.query)
    settings = get_settings()
    assert url.path.endswith(
        f"/{settings.artifact_bucket}/deploys/{created['id']}/artifact.zip"
    )
    assert query["X-Amz-Expires"] == [str(settings.upload_url_ttl_seconds)]
    assert "content-type" in query["X-Amz-SignedHeaders"][0].split(";")
    assert query["X-Amz-Signature"][0]
    assert stored(created["id"]).artifact_key == (
        f"deploys/{created['id']}/artifact.zip"
    )


@pytest.mark.parametrize("product", PRODUCTS)
def test_env_vars_are_stored_encrypted_and_reach_the_app(
    client: Any, admin: Caller, product: str
) -> None:
    project_id = create_project(client, admin, product, "Secretive")
    plaintext = "sk-live-very-secret-value-123"
    payload: dict[str, Any] = {"envVars": {"OPENAI_API_KEY": plaintext}}
    if product == "server":
        payload["projectId"] = project_id
        headers = admin.json_headers()
    else:
        headers = admin.json_headers(**{"x-project-id": project_id})
    response = client.http.post(
        f"/v1/{product}/deploys", headers=headers, body=json.dumps(payload)
    )
    assert response.status_code == 202, response.body
    created = body(response)
    deploy_id = created["deploy"]["id"] if product == "studio" else created["id"]

    item = aws.client("dynamodb").get_item(
        TableName=Deploy.table_name(), Key={"id": {"S": deploy_id}}
    )["Item"]
    ciphertext = item["env_ciphertext"]["B"]
    assert plaintext.encode() not in ciphertext
    assert b"OPENAI_API_KEY" not in ciphertext
    assert plaintext not in json.dumps(item, default=str)
    assert deploys.env_vars(stored(deploy_id)) == {"OPENAI_API_KEY": plaintext}

    put_artifact(deploy_id, zip_bytes(ZIPS[product]))
    upload_complete(client, admin, product, deploy_id)
    run_steps(deploy_id)
    assert FakeRuntime.started == [deploy_id]
    assert any(
        "OPENAI_API_KEY" in line.text and plaintext not in line.text
        for line in deploy_logs.read(deploy_id)
    )


@pytest.mark.parametrize("product", PRODUCTS)
def test_upload_complete_twice_starts_one_execution(
    client: Any, admin: Caller, product: str
) -> None:
    deploy_id = queued(client, admin, product)
    put_artifact(deploy_id, zip_bytes(ZIPS[product]))
    first = upload_complete(client, admin, product, deploy_id)
    second = upload_complete(client, admin, product, deploy_id)
    assert first.status_code == 200, first.body
    assert second.status_code == 200, second.body
    assert body(first) == body(second) == {"status": "ok"}
    assert execution_names() == [f"deploy-{deploy_id}"]
    assert stored(deploy_id).status == "building"
    confirmations = [
        line for line in deploy_logs.read(deploy_id) if "upload confirmed" in line.text
    ]
    assert len(confirmations) == 1


def test_execution_input_names_the_deploy(client: Any, admin: Caller) -> None:
    deploy_id = queued(client, admin, "server")
    put_artifact(deploy_id, zip_bytes(SERVER_ZIP))
    upload_complete(client, admin, "server", deploy_id)
    [execution] = executions()
    described = aws.client("stepfunctions").describe_execution(
        executionArn=execution["executionArn"]
    )
    assert json.loads(described["input"]) == {"deployId": deploy_id}
    assert stored(deploy_id).execution_arn == execution["executionArn"]


def test_upload_complete_before_the_artifact_is_a_400_and_the_deploy_stays_queued(
    client: Any, admin: Caller
) -> None:
    deploy_id = queued(client, admin, "server")
    problem = assert_problem(upload_complete(client, admin, "server", deploy_id), 400)
    assert "uploadUrl" in problem["detail"]
    assert deploy_view(client, admin, "server", deploy_id)["status"] == "queued"
    assert executions() == []
    # Once the zip is there the same call succeeds.
    put_artifact(deploy_id, zip_bytes(SERVER_ZIP))
    assert upload_complete(client, admin, "server", deploy_id).status_code == 200
    assert execution_names() == [f"deploy-{deploy_id}"]


def test_upload_complete_for_an_unknown_deploy_is_a_404_problem(
    client: Any, admin: Caller
) -> None:
    response = upload_complete(client, admin, "server", "dep_aaaaaaaaaaaaaaaa")
    assert_problem(response, 404)


def test_upload_complete_after_cancel_is_a_409_problem(
    client: Any, admin: Caller
) -> None:
    deploy_id = queued(client, admin, "server")
    client.http.post(f"/v1/server/deploys/{deploy_id}/cancel", headers=admin.headers())
    put_artifact(deploy_id, zip_bytes(SERVER_ZIP))
    assert_problem(upload_complete(client, admin, "server", deploy_id), 409)
    assert executions() == []
    assert deploy_view(client, admin, "server", deploy_id)["status"] == "cancelled"


def test_s3_event_before_upload_complete_starts_one_execution(
    client: Any, admin: Caller
) -> None:
    deploy_id = queued(client, admin, "studio")
    put_artifact(deploy_id, zip_bytes(STUDIO_ZIP))
    uploads.on_artifact_uploaded(
        sqs_event(s3_notification(encoded_key(deploy_id))), None
    )
    assert stored(deploy_id).status == "building"
    assert execution_names() == [f"deploy-{deploy_id}"]
    response = upload_complete(client, admin, "studio", deploy_id)
    assert response.status_code == 200, response.body
    assert execution_names() == [f"deploy-{deploy_id}"]


def test_s3_event_after_upload_complete_starts_no_second_execution(
    client: Any, admin: Caller
) -> None:
    deploy_id = queued(client, admin, "server")
    put_artifact(deploy_id, zip_bytes(SERVER_ZIP))
    upload_complete(client, admin, "server", deploy_id)
    uploads.on_artifact_uploaded(
        sqs_event(s3_notification(encoded_key(deploy_id))), None
    )
    assert execution_names() == [f"deploy-{deploy_id}"]
    assert stored(deploy_id).status == "building"


def test_the_notifications_the_bucket_really_sends_confirm_the_upload(
    client: Any, admin: Caller
) -> None:
    # moto delivers S3's own ObjectCreated message to the upload queue,
    # exactly as the bucket notification is configured.
    deploy_id = queued(client, admin, "server")
    put_artifact(deploy_id, zip_bytes(SERVER_ZIP))
    sqs = aws.client("sqs")
    queue = sqs.get_queue_url(QueueName=uploads.UPLOAD_QUEUE_NAME)["QueueUrl"]
    messages = sqs.receive_message(
        QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=2
    ).get("Messages", [])
    assert any(deploy_id in message["Body"] for message in messages)
    uploads.on_artifact_uploaded(
        sqs_event(*(message["Body"] for message in messages)), None
    )
    assert execution_names() == [f"deploy-{deploy_id}"]


def test_s3_test_event_is_ignored(client: Any, admin: Caller) -> None:
    deploy_id = queued(client, admin, "server")
    put_artifact(deploy_id, zip_bytes(SERVER_ZIP))
    test_event = json.dumps(
        {
            "Service": "Amazon S3",
            "Event": "s3:TestEvent",
            "Bucket": get_settings().artifact_bucket,
            # Even if it carried records, a test event is not an upload.
            "Records": json.loads(s3_notification(encoded_key(deploy_id)))["Records"],
        }
    )
    uploads.handle_message(test_event)
    assert stored(deploy_id).status == "queued"
    assert executions() == []


def test_non_create_events_are_ignored(client: Any, admin: Caller) -> None:
    deploy_id = queued(client, admin, "server")
    put_artifact(deploy_id, zip_bytes(SERVER_ZIP))
    uploads.handle_message(
        s3_notification(encoded_key(deploy_id), event_name="ObjectRemoved:Delete")
    )
    assert stored(deploy_id).status == "queued"
    assert executions() == []


def test_duplicate_s3_event_changes_nothing(client: Any, admin: Caller) -> None:
    deploy_id = queued(client, admin, "server")
    put_artifact(deploy_id, zip_bytes(SERVER_ZIP))
    message = s3_notification(encoded_key(deploy_id))
    uploads.handle_message(message)
    before = stored(deploy_id)
    lines_before = deploy_logs.line_count(deploy_id)

    uploads.handle_message(message)
    after = stored(deploy_id)
    assert after.version == before.version
    assert after.updated_at == before.updated_at
    assert after.status == "building"
    assert deploy_logs.line_count(deploy_id) == lines_before
    assert execution_names() == [f"deploy-{deploy_id}"]


def test_event_key_is_url_decoded_as_s3_encodes_it(client: Any, admin: Caller) -> None:
    # A space arrives as "+", a literal plus as "%2B", slashes as "%2F".
    deploy_id = queued(client, admin, "server")
    put_artifact(deploy_id, zip_bytes(SERVER_ZIP))
    key = "deploys%2F" + deploy_id.replace("_", "%5F") + "%2Fartifact.zip"
    uploads.handle_message(s3_notification(key))
    assert stored(deploy_id).status == "building"
    assert execution_names() == [f"deploy-{deploy_id}"]


@pytest.mark.parametrize(
    "key",
    [
        "deploys%2Fdep_aaaaaaaaaaaaaaaa%2Fartifact.zip",
        "deploys%2Fdep+with+space%2Fartifact.zip",
        "deploys%2Fdep%2Bplus%2Fartifact.zip",
        "other%2Fthing.zip",
        "deploys%2Fdep_x%2Fnested%2Fartifact.zip",
        "",
    ],
)
def test_event_for_an_unknown_key_or_deploy_is_dropped_without_raising(
    client: Any, admin: Caller, key: str
) -> None:
    bystander = queued(client, admin, "server")
    put_artifact(bystander, zip_bytes(SERVER_ZIP))
    uploads.on_artifact_uploaded(sqs_event(s3_notification(key)), None)
    assert executions() == []
    assert stored(bystander).status == "queued"


@pytest.mark.parametrize("message", ["not json", "[]", "{}", '{"Records": null}'])
def test_unreadable_upload_messages_are_dropped_without_raising(
    platform: dict[str, str], message: str
) -> None:
    uploads.handle_message(message)
    assert executions() == []


def test_event_for_a_cancelled_deploy_is_dropped_without_raising(
    client: Any, admin: Caller
) -> None:
    deploy_id = queued(client, admin, "server")
    client.http.post(f"/v1/server/deploys/{deploy_id}/cancel", headers=admin.headers())
    put_artifact(deploy_id, zip_bytes(SERVER_ZIP))
    uploads.handle_message(s3_notification(encoded_key(deploy_id)))
    assert stored(deploy_id).status == "cancelled"
    assert executions() == []


def test_one_batch_confirms_every_deploy_it_names(client: Any, admin: Caller) -> None:
    first = queued(client, admin, "server")
    second = queued(client, admin, "studio")
    put_artifact(first, zip_bytes(SERVER_ZIP))
    put_artifact(second, zip_bytes(STUDIO_ZIP))
    uploads.on_artifact_uploaded(
        sqs_event(
            s3_notification(encoded_key(first)),
            "garbage",
            s3_notification(encoded_key(second)),
        ),
        None,
    )
    assert sorted(execution_names()) == sorted([f"deploy-{first}", f"deploy-{second}"])
