"""The steps a deploy's Step Functions execution asks the workers to run."""

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

from botocore.exceptions import ClientError

from chalicelib import aws
from chalicelib.log import logger
from chalicelib.models import Deploy
from chalicelib.services import deploy_logs, deploys, env, lifecycle
from chalicelib.services.artifacts import ArtifactError, Layout, inspect
from chalicelib.services.lifecycle import TERMINAL, Status
from chalicelib.services.runtime import StepFailed, get_runtime
from chalicelib.settings import get_settings

STEP_TITLES = {
    "validate": "validation",
    "build": "build",
    "start": "start",
    "health": "health check",
}


def run(message: dict) -> None:
    """Run one step message and report the outcome to Step Functions."""
    step = message.get("step")
    deploy_id = str(message.get("deployId", ""))
    token = message.get("taskToken")
    if step == "stop":
        get_runtime().stop(deploy_id)
        return
    if step == "fail":
        record_failure(deploy_id, message.get("failedStep"), message.get("error"))
        _report(token, None)
        return
    handler = STEPS.get(str(step))
    if handler is None:
        logger.warning("Unknown step ignored", step=step, deploy_id=deploy_id)
        return
    try:
        handler(deploy_id)
    except StepFailed as exc:
        _fail(deploy_id, str(exc))
        _report(token, str(exc))
    except lifecycle.IllegalTransition as exc:
        # Cancelled or failed meanwhile: stop whatever this step started.
        get_runtime().stop(deploy_id)
        _report(token, exc.detail)
    except Exception as exc:
        logger.exception("Deploy step crashed", step=step, deploy_id=deploy_id)
        message_text = f"Internal error during {STEP_TITLES[str(step)]}: {exc}"
        _fail(deploy_id, message_text)
        _report(token, message_text)
    else:
        _report(token, None)


def _report(token: str | None, error: str | None) -> None:
    if not token:
        return
    sfn = aws.client("stepfunctions")
    try:
        if error is None:
            sfn.send_task_success(taskToken=token, output="{}")
        else:
            sfn.send_task_failure(
                taskToken=token, error="DeployStepFailed", cause=error[:32000]
            )
    except ClientError as exc:
        # The execution was stopped or timed out; the deploy record decides.
        logger.warning("Task result refused", reason=str(exc))


def _fail(deploy_id: str, error: str) -> None:
    try:
        lifecycle.transition(deploy_id, Status.FAILED, error=error)
    except lifecycle.IllegalTransition:
        return
    deploy_logs.append(deploy_id, deploy_logs.DEPLOY, "error", [error])
    get_runtime().stop(deploy_id)


def record_failure(deploy_id: str, step: object, error: object) -> None:
    """Fail a deploy whose step errored or timed out without recording it."""
    title = STEP_TITLES.get(str(step), str(step))
    reason = _reason(error)
    if reason == "States.Timeout":
        text = f"Deploy {title} timed out."
    else:
        text = f"Deploy {title} failed: {reason}"
    _fail(deploy_id, text)


def _reason(error: object) -> str:
    if isinstance(error, dict):
        cause = error.get("Cause")
        if isinstance(cause, str) and cause:
            return cause
        return str(error.get("Error") or "unknown error")
    return str(error or "unknown error")


def _sink(deploy_id: str) -> Callable[[str, str], None]:
    phases = {"build": deploy_logs.BUILD, "deploy": deploy_logs.DEPLOY}

    def write(phase: str, line: str) -> None:
        level = "stderr" if phase.endswith(":stderr") else "info"
        deploy_logs.append(deploy_id, phases[phase.split(":")[0]], level, [line])

    return write


def _live(deploy_id: str) -> Deploy:
    deploy = lifecycle.load(deploy_id)
    if Status(deploy.status) in TERMINAL:
        raise lifecycle.IllegalTransition(f"Deploy {deploy_id} is {deploy.status}.")
    return deploy


def validate(deploy_id: str) -> None:
    """Check the uploaded zip: size, integrity, paths and entry file."""
    deploy = _live(deploy_id)
    settings = get_settings()
    size = _artifact_size(deploy)
    if size > settings.max_artifact_bytes:
        raise StepFailed(
            f"Artifact is {size} bytes, over the limit of "
            f"{settings.max_artifact_bytes} bytes."
        )
    with tempfile.TemporaryDirectory() as folder:
        path = _download(deploy, Path(folder))
        layout = _inspect(path)
    deploy_logs.append(
        deploy_id,
        deploy_logs.BUILD,
        "info",
        [f"Artifact accepted: {layout.entries} files, layout {layout.prefix}"],
    )


def build(deploy_id: str) -> None:
    """Unpack the artifact and install its dependencies."""
    deploy = _live(deploy_id)
    deploy_logs.append(deploy_id, deploy_logs.BUILD, "info", ["Build started"])
    with tempfile.TemporaryDirectory() as folder:
        path = _download(deploy, Path(folder))
        layout = _inspect(path)
        get_runtime().build(deploy, path, layout, _sink(deploy_id))
    deploy_logs.append(deploy_id, deploy_logs.BUILD, "info", ["Build finished"])


def start(deploy_id: str) -> None:
    """Start the built app with PORT and the deploy's environment."""
    deploy = _live(deploy_id)
    if deploy.status == Status.RUNNING.value:
        return  # a redelivered message for a step already done
    if deploy.status != Status.STARTING.value:
        deploy = lifecycle.transition(deploy_id, Status.STARTING)
    deploy_logs.append(deploy_id, deploy_logs.DEPLOY, "info", ["Starting app"])
    values = env.runtime_env(deploy, deploys.env_vars(deploy))
    url = get_runtime().start(deploy, values, _sink(deploy_id))
    deploy.update(actions=[Deploy.instance_url.set(url)])


def health(deploy_id: str) -> None:
    """Wait until the app answers, then mark it running."""
    deploy = _live(deploy_id)
    if deploy.status == Status.RUNNING.value:
        return  # a redelivered message for a step already done
    runtime = get_runtime()
    runtime.wait_healthy(deploy, get_settings().start_timeout_seconds, _sink(deploy_id))
    deploy = lifecycle.transition(
        deploy_id, Status.RUNNING, instance_url=deploy.instance_url
    )
    runtime.mark_running(deploy_id)
    deploy_logs.append(
        deploy_id,
        deploy_logs.DEPLOY,
        "info",
        [f"App is running at {deploy.instance_url}"],
    )
    for older in deploys.superseded(deploy):
        deploys.stop(older)


STEPS: dict[str, Callable[[str], None]] = {
    "validate": validate,
    "build": build,
    "start": start,
    "health": health,
}


def _artifact_size(deploy: Deploy) -> int:
    try:
        head = aws.client("s3").head_object(
            Bucket=get_settings().artifact_bucket, Key=deploy.artifact_key
        )
    except ClientError:
        raise StepFailed("Artifact is missing from storage.") from None
    return int(head["ContentLength"])


def _download(deploy: Deploy, folder: Path) -> Path:
    path = folder / "artifact.zip"
    aws.client("s3").download_file(
        get_settings().artifact_bucket, deploy.artifact_key, str(path)
    )
    return path


def _inspect(path: Path) -> Layout:
    try:
        return inspect(path, get_settings().max_unpacked_bytes)
    except ArtifactError as exc:
        raise StepFailed(str(exc)) from None


def parse_message(body: str) -> dict:
    value = json.loads(body)
    return value if isinstance(value, dict) else {}
