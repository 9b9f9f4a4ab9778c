"""The AWS runtime: CodeBuild (botocore Stubber) and Lambda, S3, IAM (moto)."""

import io
import json
import threading
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from chalicelib import aws
from chalicelib.models import Deploy
from chalicelib.services import aws_runtime
from chalicelib.services.artifacts import Layout
from chalicelib.services.aws_runtime import AwsRuntime, build_key
from chalicelib.services.runtime import StepFailed, get_runtime
from tests.conftest import reset_caches

BUCKET = "mastra-test-artifacts"
PROJECT = "mastra-test-app-build"
LOG_GROUP = "/mastra/test/apps"


class Clock:
    def __init__(self, step: float = 1.0) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@pytest.fixture
def env(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    with mock_aws():
        iam = boto3.client("iam")
        role = iam.create_role(
            RoleName="mastra-test-app",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )["Role"]["Arn"]
        # The web adapter layer, published in the emulated account.
        layer = boto3.client("lambda").publish_layer_version(
            LayerName="LambdaAdapterLayerX86",
            Content={"ZipFile": _zip({"extensions/lambda-adapter": "binary"})},
        )["LayerVersionArn"]
        settings = {
            "PLATFORM_ARTIFACT_BUCKET": BUCKET,
            "PLATFORM_STEP_QUEUE_URL": "unused",
            "PLATFORM_STATE_MACHINE_ARN": "unused",
            "PLATFORM_KMS_KEY_ID": "unused",
            "PLATFORM_TABLE_PREFIX": "mastra-test-",
            "PLATFORM_RUNTIME": "chalicelib.services.aws_runtime:AwsRuntime",
            "PLATFORM_AWS_BUILD_PROJECT": PROJECT,
            "PLATFORM_AWS_APP_ROLE_ARN": role,
            "PLATFORM_AWS_APP_LAYER_ARN": layer,
            "PLATFORM_AWS_APP_LOG_GROUP": LOG_GROUP,
            "PLATFORM_AWS_APP_FUNCTION_PREFIX": "mastra-test-app-",
            "PLATFORM_BUILD_TIMEOUT_SECONDS": "600",
        }
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        reset_caches()
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        yield settings
        reset_caches()


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def _deploy(deploy_id: str = "dep_abc", url: str | None = None) -> Deploy:
    stamp = datetime(2026, 1, 1, tzinfo=UTC)
    return Deploy(
        deploy_id,
        product="server",
        org_id="org_1",
        project_id="prj_1",
        project_name="app",
        status="building",
        artifact_key=f"deploys/{deploy_id}/artifact.zip",
        instance_url=url,
        upload_expires_at=stamp,
        created_at=stamp,
        updated_at=stamp,
    )


def _stubbed(monkeypatch: pytest.MonkeyPatch, *services: str) -> dict[str, Stubber]:
    real = aws.client
    clients = {name: boto3.client(name, region_name="us-east-1") for name in services}
    stubs = {name: Stubber(client) for name, client in clients.items()}
    for stub in stubs.values():
        stub.activate()
    monkeypatch.setattr(
        aws_runtime,
        "aws",
        SimpleNamespace(
            client=lambda name: clients[name] if name in clients else real(name)
        ),
    )
    return stubs


class Lines:
    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def __call__(self, phase: str, line: str) -> None:
        self.items.append((phase, line))

    def text(self) -> str:
        return "\n".join(line for _, line in self.items)


LAYOUT = Layout(".mastra/output/", entries=3, unpacked_bytes=100)
BUILD_LOGS = {"groupName": "/mastra/test/builds", "streamName": "abc/123"}


def test_build_runs_codebuild_on_the_uploaded_artifact_and_streams_its_log(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stubs = _stubbed(monkeypatch, "codebuild", "logs")
    build_id = f"{PROJECT}:1"
    stubs["codebuild"].add_response(
        "start_build",
        {"build": {"id": build_id, "buildStatus": "IN_PROGRESS"}},
        {
            "projectName": PROJECT,
            "sourceTypeOverride": "S3",
            "sourceLocationOverride": f"{BUCKET}/deploys/dep_abc/artifact.zip",
            "environmentVariablesOverride": [
                {"name": "APP_DIR", "value": ".mastra/output/", "type": "PLAINTEXT"},
                {"name": "OUTPUT_BUCKET", "value": BUCKET, "type": "PLAINTEXT"},
                {
                    "name": "OUTPUT_KEY",
                    "value": "builds/dep_abc/app.zip",
                    "type": "PLAINTEXT",
                },
            ],
            "timeoutInMinutesOverride": 10,
        },
    )
    stubs["codebuild"].add_response(
        "batch_get_builds",
        {
            "builds": [
                {"id": build_id, "buildStatus": "IN_PROGRESS", "logs": BUILD_LOGS}
            ]
        },
        {"ids": [build_id]},
    )
    stubs["logs"].add_response(
        "get_log_events",
        {"events": [{"message": "added 12 packages\n"}], "nextForwardToken": "f/1"},
        {
            "logGroupName": BUILD_LOGS["groupName"],
            "logStreamName": "abc/123",
            "startFromHead": True,
        },
    )
    stubs["logs"].add_response(
        "get_log_events",
        {"events": [], "nextForwardToken": "f/1"},
        {
            "logGroupName": BUILD_LOGS["groupName"],
            "logStreamName": "abc/123",
            "startFromHead": True,
            "nextToken": "f/1",
        },
    )
    stubs["codebuild"].add_response(
        "batch_get_builds",
        {"builds": [{"id": build_id, "buildStatus": "SUCCEEDED", "logs": BUILD_LOGS}]},
        {"ids": [build_id]},
    )
    stubs["logs"].add_response(
        "get_log_events",
        {"events": [{"message": "upload: app.zip"}], "nextForwardToken": "f/2"},
        {
            "logGroupName": BUILD_LOGS["groupName"],
            "logStreamName": "abc/123",
            "startFromHead": True,
            "nextToken": "f/1",
        },
    )
    stubs["logs"].add_response(
        "get_log_events",
        {"events": [], "nextForwardToken": "f/2"},
        {
            "logGroupName": BUILD_LOGS["groupName"],
            "logStreamName": "abc/123",
            "startFromHead": True,
            "nextToken": "f/2",
        },
    )
    sleeps: list[float] = []
    lines = Lines()
    AwsRuntime(sleep=sleeps.append, clock=Clock()).build(
        _deploy(), Path("unused.zip"), LAYOUT, lines
    )
    assert "added 12 packages" in lines.text()
    assert "upload: app.zip" in lines.text()
    assert lines.items[-1] == ("build", "Dependencies installed")
    assert sleeps == [aws_runtime.BUILD_POLL_SECONDS]
    for stub in stubs.values():
        stub.assert_no_pending_responses()


def test_failed_build_is_a_readable_step_error(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stubs = _stubbed(monkeypatch, "codebuild", "logs")
    stubs["codebuild"].add_response("start_build", {"build": {"id": "b:2"}})
    stubs["codebuild"].add_response(
        "batch_get_builds",
        {"builds": [{"id": "b:2", "buildStatus": "FAILED", "currentPhase": "BUILD"}]},
    )
    with pytest.raises(StepFailed, match="failed in phase build"):
        AwsRuntime(sleep=lambda _: None, clock=Clock()).build(
            _deploy(), Path("unused.zip"), LAYOUT, Lines()
        )


def test_refused_build_start_is_a_step_error(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stubs = _stubbed(monkeypatch, "codebuild")
    stubs["codebuild"].add_client_error(
        "start_build", service_error_code="ResourceNotFoundException"
    )
    with pytest.raises(StepFailed, match="could not start"):
        AwsRuntime(sleep=lambda _: None, clock=Clock()).build(
            _deploy(), Path("unused.zip"), LAYOUT, Lines()
        )


def test_build_past_its_timeout_is_stopped(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stubs = _stubbed(monkeypatch, "codebuild")
    stubs["codebuild"].add_response("start_build", {"build": {"id": "b:3"}})
    stubs["codebuild"].add_response(
        "batch_get_builds", {"builds": [{"id": "b:3", "buildStatus": "IN_PROGRESS"}]}
    )
    stubs["codebuild"].add_response("stop_build", {}, {"id": "b:3"})
    with pytest.raises(StepFailed, match="timed out after 600s"):
        AwsRuntime(sleep=lambda _: None, clock=Clock(step=700)).build(
            _deploy(), Path("unused.zip"), LAYOUT, Lines()
        )
    stubs["codebuild"].assert_no_pending_responses()


def _put_build(deploy_id: str) -> None:
    body = _zip(
        {
            "index.mjs": "console.log('hi')\n",
            "run.sh": "#!/bin/sh\nexec node index.mjs\n",
        }
    )
    boto3.client("s3").put_object(Bucket=BUCKET, Key=build_key(deploy_id), Body=body)


def test_start_runs_the_build_as_a_function_with_the_web_adapter(
    env: dict[str, str],
) -> None:
    _put_build("dep_abc")
    lines = Lines()
    runtime = AwsRuntime(sleep=lambda _: None, clock=Clock())
    url = runtime.start(_deploy(), {"OPENAI_API_KEY": "sk-test"}, lines)
    lam = boto3.client("lambda")
    config = lam.get_function_configuration(FunctionName="mastra-test-app-dep_abc")
    assert config["Handler"] == "run.sh"
    assert config["Runtime"] == aws_runtime.APP_RUNTIME
    assert config["Role"] == env["PLATFORM_AWS_APP_ROLE_ARN"]
    assert [layer["Arn"] for layer in config["Layers"]] == [
        env["PLATFORM_AWS_APP_LAYER_ARN"]
    ]
    variables = config["Environment"]["Variables"]
    assert variables["OPENAI_API_KEY"] == "sk-test"
    assert variables["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/bootstrap"
    assert variables["AWS_LWA_INVOKE_MODE"] == "response_stream"
    assert variables["PORT"] == aws_runtime.APP_PORT
    url_config = lam.get_function_url_config(FunctionName="mastra-test-app-dep_abc")
    assert url_config["AuthType"] == "NONE"
    assert url_config["InvokeMode"] == "RESPONSE_STREAM"
    assert url == url_config["FunctionUrl"].rstrip("/")
    policy = json.loads(
        lam.get_policy(FunctionName="mastra-test-app-dep_abc")["Policy"]
    )
    actions = {s["Action"] for s in policy["Statement"]}
    assert actions == {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"}
    assert "sk-test" not in lines.text()


def test_starting_again_updates_the_same_function(env: dict[str, str]) -> None:
    _put_build("dep_abc")
    runtime = AwsRuntime(sleep=lambda _: None, clock=Clock())
    first = runtime.start(_deploy(), {"A": "1"}, Lines())
    lines = Lines()
    second = runtime.start(_deploy(), {"A": "2"}, lines)
    assert first == second
    assert "Updated Lambda function" in lines.text()
    config = boto3.client("lambda").get_function_configuration(
        FunctionName="mastra-test-app-dep_abc"
    )
    assert config["Environment"]["Variables"]["A"] == "2"


def test_missing_build_is_a_step_error(env: dict[str, str]) -> None:
    with pytest.raises(StepFailed, match="build output is missing"):
        AwsRuntime(sleep=lambda _: None, clock=Clock()).start(
            _deploy("dep_nobuild"), {}, Lines()
        )


def test_stop_and_prune_remove_functions_and_builds(env: dict[str, str]) -> None:
    runtime = AwsRuntime(sleep=lambda _: None, clock=Clock())
    for deploy_id in ("dep_keep", "dep_old"):
        _put_build(deploy_id)
        runtime.start(_deploy(deploy_id), {}, Lines())
    runtime.mark_running("dep_keep")
    lam = boto3.client("lambda")
    arn = lam.get_function_configuration(FunctionName="mastra-test-app-dep_keep")[
        "FunctionArn"
    ]
    assert lam.list_tags(Resource=arn)["Tags"][aws_runtime.STATE_TAG] == "running"
    assert runtime.prune({"dep_keep"}) == ["dep_old"]
    names = {f["FunctionName"] for f in lam.list_functions()["Functions"]}
    assert names == {"mastra-test-app-dep_keep"}
    keys = {
        o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]
    }
    assert keys == {build_key("dep_keep")}
    runtime.stop("dep_keep")
    runtime.stop("dep_keep")
    assert lam.list_functions()["Functions"] == []


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/health" else 404)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def health_server() -> Iterator[tuple[str, type[_Health]]]:
    handler = type("Health", (_Health,), {"status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_wait_healthy_accepts_an_answering_app(
    env: dict[str, str], health_server: tuple[str, type[_Health]]
) -> None:
    url, _ = health_server
    lines = Lines()
    AwsRuntime(sleep=lambda _: None, clock=Clock()).wait_healthy(
        _deploy(url=url), 30, lines
    )
    assert lines.items == [("deploy", "Health check answered 200")]


def test_wait_healthy_gives_up_on_server_errors(
    env: dict[str, str], health_server: tuple[str, type[_Health]]
) -> None:
    url, handler = health_server
    handler.status = 503
    with pytest.raises(StepFailed, match="Health check timed out"):
        AwsRuntime(sleep=lambda _: None, clock=Clock(step=10)).wait_healthy(
            _deploy(url=url), 30, Lines()
        )


def test_the_setting_selects_the_aws_runtime(env: dict[str, str]) -> None:
    assert isinstance(get_runtime(), AwsRuntime)
