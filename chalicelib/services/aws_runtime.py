"""Built apps on AWS: CodeBuild installs dependencies, Lambda runs the app.

The build runs `npm ci --omit=dev` on the artifact in a CodeBuild project
(defined in infra/) and uploads a Lambda-ready zip under `builds/`. Each
deploy then becomes one Lambda function with the Lambda Web Adapter layer
in front of `node index.mjs`, reachable at its own function URL.
"""

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from botocore.exceptions import ClientError

from chalicelib import aws
from chalicelib.log import logger
from chalicelib.models import Deploy
from chalicelib.services.artifacts import Layout
from chalicelib.services.runtime import LogSink, StepFailed
from chalicelib.settings import get_settings

HEALTH_PATH = "/health"
APP_RUNTIME = "nodejs22.x"
# Written by the CodeBuild buildspec next to index.mjs: `exec node index.mjs`.
APP_HANDLER = "run.sh"
APP_PORT = "8080"
BUILD_POLL_SECONDS = 5.0
ACTIVE_POLL_SECONDS = 2.0
HEALTH_POLL_SECONDS = 1.0
URL_STATEMENT = "public-function-url"
INVOKE_STATEMENT = "public-function-url-invoke"
DEPLOY_TAG = "mastra:deploy"
STATE_TAG = "mastra:state"


def build_key(deploy_id: str) -> str:
    """Where the build puts the installed app, in the artifact bucket."""
    return f"builds/{deploy_id}/app.zip"


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class AwsRuntime:
    """The Runtime interface over CodeBuild and Lambda function URLs."""

    def __init__(
        self,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sleep = sleep
        self._clock = clock

    def function_name(self, deploy_id: str) -> str:
        return f"{get_settings().aws_app_function_prefix}{deploy_id}"

    def build(
        self, deploy: Deploy, artifact: Path, layout: Layout, log: LogSink
    ) -> None:
        settings = get_settings()
        codebuild = aws.client("codebuild")
        timeout = settings.build_timeout_seconds
        try:
            started = codebuild.start_build(
                projectName=settings.aws_build_project,
                sourceTypeOverride="S3",
                sourceLocationOverride=f"{settings.artifact_bucket}/{deploy.artifact_key}",
                environmentVariablesOverride=[
                    _variable("APP_DIR", layout.prefix),
                    _variable("OUTPUT_BUCKET", settings.artifact_bucket),
                    _variable("OUTPUT_KEY", build_key(deploy.id)),
                ],
                timeoutInMinutesOverride=max(5, math.ceil(timeout / 60)),
            )
        except ClientError as exc:
            logger.warning("Build start refused", deploy_id=deploy.id, code=_code(exc))
            raise StepFailed(f"The build could not start ({_code(exc)}).") from None
        build_id = started["build"]["id"]
        log("build", f"Installing dependencies on CodeBuild (build {build_id})")
        tail = _LogTail()
        deadline = self._clock() + timeout
        while True:
            build = codebuild.batch_get_builds(ids=[build_id])["builds"][0]
            tail.pump(build.get("logs") or {}, log)
            status = build.get("buildStatus", "IN_PROGRESS")
            if status == "SUCCEEDED":
                log("build", "Dependencies installed")
                return
            if status != "IN_PROGRESS":
                phase = str(build.get("currentPhase", "")).lower()
                raise StepFailed(
                    f"Dependency install failed (CodeBuild build "
                    f"{status.lower()} in phase {phase or 'unknown'})."
                )
            if self._clock() >= deadline:
                try:
                    codebuild.stop_build(id=build_id)
                except ClientError:
                    logger.warning("Build stop refused", deploy_id=deploy.id)
                raise StepFailed(f"Dependency install timed out after {timeout}s.")
            self._sleep(BUILD_POLL_SECONDS)

    def start(self, deploy: Deploy, env: dict[str, str], log: LogSink) -> str:
        settings = get_settings()
        lam = aws.client("lambda")
        name = self.function_name(deploy.id)
        code = {"S3Bucket": settings.artifact_bucket, "S3Key": build_key(deploy.id)}
        try:
            aws.client("s3").head_object(Bucket=code["S3Bucket"], Key=code["S3Key"])
        except ClientError:
            raise StepFailed(
                "The build output is missing; the build step did not finish."
            ) from None
        environment = {
            "Variables": {
                **env,
                "PORT": APP_PORT,
                "HOST": "127.0.0.1",
                "MASTRA_HOST": "127.0.0.1",
                "NODE_ENV": "production",
                "MASTRA_TELEMETRY_DISABLED": "1",
                "AWS_LAMBDA_EXEC_WRAPPER": "/opt/bootstrap",
                "AWS_LWA_INVOKE_MODE": "response_stream",
                "AWS_LWA_READINESS_CHECK_PATH": HEALTH_PATH,
            }
        }
        options: dict[str, Any] = {
            "Role": settings.aws_app_role_arn,
            "Handler": APP_HANDLER,
            "Runtime": APP_RUNTIME,
            "Layers": [settings.aws_app_layer_arn],
            "MemorySize": settings.aws_app_memory_mb,
            "Timeout": settings.aws_app_timeout_seconds,
            "Environment": environment,
        }
        if settings.aws_app_log_group:
            options["LoggingConfig"] = {
                "LogFormat": "Text",
                "LogGroup": settings.aws_app_log_group,
            }
        try:
            lam.create_function(
                FunctionName=name,
                Code=code,
                Tags={DEPLOY_TAG: deploy.id, "mastra:project": deploy.project_id},
                **options,
            )
            log("deploy", f"Created Lambda function {name}")
        except ClientError as exc:
            if _code(exc) != "ResourceConflictException":
                raise StepFailed(
                    f"The app function could not be created ({_code(exc)}): "
                    f"{exc.response.get('Error', {}).get('Message', '')}"
                ) from None
            lam.update_function_code(FunctionName=name, **code)
            self._wait_active(name)
            lam.update_function_configuration(FunctionName=name, **options)
            log("deploy", f"Updated Lambda function {name}")
        self._wait_active(name)
        url = self._public_url(name)
        log("deploy", f"App function URL is {url}")
        return url

    def _wait_active(self, name: str) -> None:
        lam = aws.client("lambda")
        deadline = self._clock() + get_settings().start_timeout_seconds
        while True:
            config = lam.get_function_configuration(FunctionName=name)
            state = config.get("State", "Active")
            update = config.get("LastUpdateStatus", "Successful")
            if state == "Failed" or update == "Failed":
                reason = config.get("StateReason") or config.get(
                    "LastUpdateStatusReason", ""
                )
                raise StepFailed(f"The app function failed to become ready: {reason}")
            if state == "Active" and update != "InProgress":
                return
            if self._clock() >= deadline:
                raise StepFailed("The app function did not become active in time.")
            self._sleep(ACTIVE_POLL_SECONDS)

    def _public_url(self, name: str) -> str:
        lam = aws.client("lambda")
        try:
            url = lam.get_function_url_config(FunctionName=name)["FunctionUrl"]
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise
            url = lam.create_function_url_config(
                FunctionName=name, AuthType="NONE", InvokeMode="RESPONSE_STREAM"
            )["FunctionUrl"]
        # The app checks its own callers; the URL is public like any web app.
        for statement, action, extra in (
            (
                URL_STATEMENT,
                "lambda:InvokeFunctionUrl",
                {"FunctionUrlAuthType": "NONE"},
            ),
            (
                INVOKE_STATEMENT,
                "lambda:InvokeFunction",
                {"InvokedViaFunctionUrl": True},
            ),
        ):
            try:
                lam.add_permission(
                    FunctionName=name,
                    StatementId=statement,
                    Action=action,
                    Principal="*",
                    **extra,
                )
            except ClientError as exc:
                if _code(exc) != "ResourceConflictException":
                    raise
        return str(url).rstrip("/")

    def wait_healthy(self, deploy: Deploy, timeout: float, log: LogSink) -> None:
        url = deploy.instance_url
        if not url:
            raise StepFailed("The app is not running; the start step did not finish.")
        deadline = self._clock() + timeout
        with httpx.Client(timeout=10.0) as client:
            while self._clock() < deadline:
                try:
                    response = client.get(url + HEALTH_PATH)
                except httpx.HTTPError:
                    self._sleep(HEALTH_POLL_SECONDS)
                    continue
                if response.status_code < 500:
                    log("deploy", f"Health check answered {response.status_code}")
                    return
                self._sleep(HEALTH_POLL_SECONDS)
        raise StepFailed(
            f"Health check timed out after {timeout:.0f}s: the app never "
            f"answered {HEALTH_PATH}."
        )

    def mark_running(self, deploy_id: str) -> None:
        lam = aws.client("lambda")
        try:
            arn = lam.get_function_configuration(
                FunctionName=self.function_name(deploy_id)
            )["FunctionArn"]
            lam.tag_resource(Resource=arn, Tags={STATE_TAG: "running"})
        except ClientError as exc:
            logger.warning("App tag refused", deploy_id=deploy_id, code=_code(exc))

    def stop(self, deploy_id: str) -> None:
        try:
            aws.client("lambda").delete_function(
                FunctionName=self.function_name(deploy_id)
            )
            logger.info("App stopped", deploy_id=deploy_id)
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise
        aws.client("s3").delete_object(
            Bucket=get_settings().artifact_bucket, Key=build_key(deploy_id)
        )

    def prune(self, keep: set[str]) -> list[str]:
        prefix = get_settings().aws_app_function_prefix
        removed = []
        pages = aws.client("lambda").get_paginator("list_functions").paginate()
        for page in pages:
            for function in page.get("Functions", []):
                name = str(function["FunctionName"])
                if not name.startswith(prefix):
                    continue
                deploy_id = name[len(prefix) :]
                if deploy_id and deploy_id not in keep:
                    self.stop(deploy_id)
                    removed.append(deploy_id)
        return removed


def _variable(name: str, value: str) -> dict[str, str]:
    return {"name": name, "value": value, "type": "PLAINTEXT"}


class _LogTail:
    """Follows a CodeBuild log stream, passing each new line to the sink."""

    def __init__(self) -> None:
        self._token: str | None = None

    def pump(self, where: dict[str, Any], log: LogSink) -> None:
        group, stream = where.get("groupName"), where.get("streamName")
        if not group or not stream:
            return
        logs = aws.client("logs")
        while True:
            request: dict[str, Any] = {
                "logGroupName": group,
                "logStreamName": stream,
                "startFromHead": True,
            }
            if self._token:
                request["nextToken"] = self._token
            try:
                page = logs.get_log_events(**request)
            except ClientError as exc:
                if _code(exc) == "ResourceNotFoundException":
                    return
                raise
            for event in page.get("events", []):
                line = str(event.get("message", "")).rstrip("\n")
                if line.strip():
                    log("build", line)
            token = page.get("nextForwardToken")
            if not token or token == self._token:
                return
            self._token = token
