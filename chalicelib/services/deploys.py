"""Deploys from creation to a terminal status, for Studio and Server."""

import json
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError

from chalicelib import aws
from chalicelib.errors import BadRequest, Conflict, NotFound
from chalicelib.log import logger
from chalicelib.models import Deploy, Project
from chalicelib.services import deploy_logs, lifecycle, runtime_logs
from chalicelib.services.clock import new_id, now
from chalicelib.services.lifecycle import IN_PROGRESS, TERMINAL, Status
from chalicelib.services.sealing import seal_json, unseal_json
from chalicelib.settings import get_settings

PRODUCTS = ("studio", "server")
ARTIFACT_PREFIX = "deploys/"
ARTIFACT_NAME = "artifact.zip"


@dataclass(frozen=True)
class CreatedDeploy:
    deploy: Deploy
    upload_url: str


def artifact_key(deploy_id: str) -> str:
    return f"{ARTIFACT_PREFIX}{deploy_id}/{ARTIFACT_NAME}"


def deploy_id_from_key(key: str) -> str | None:
    """The deploy id in an S3 event's (URL-encoded) object key, if it is ours."""
    decoded = unquote_plus(key)
    parts = decoded.split("/")
    if (
        len(parts) != 3
        or parts[0] + "/" != ARTIFACT_PREFIX
        or parts[2] != ARTIFACT_NAME
    ):
        return None
    return parts[1]


def create(
    product: str,
    project: Project,
    env_vars: dict[str, str] | None,
    git_branch: str | None = None,
    mastra_version: str | None = None,
) -> CreatedDeploy:
    """Record a queued deploy and sign the URL its artifact goes to."""
    settings = get_settings()
    stamp = now()
    deploy_id = new_id("dep")
    key = artifact_key(deploy_id)
    deploy = Deploy(
        deploy_id,
        product=product,
        org_id=project.org_id,
        project_id=project.id,
        project_name=project.name,
        status=Status.QUEUED.value,
        artifact_key=key,
        env_ciphertext=seal_json(env_vars, _env_context(deploy_id))
        if env_vars
        else None,
        git_branch=git_branch,
        mastra_version=mastra_version,
        upload_expires_at=stamp + timedelta(seconds=settings.upload_url_ttl_seconds),
        created_at=stamp,
        updated_at=stamp,
    )
    deploy.save(condition=Deploy.id.does_not_exist())
    _point_project_at(project, deploy)
    url = aws.client("s3").generate_presigned_url(
        "put_object",
        Params={
            "Bucket": settings.artifact_bucket,
            "Key": key,
            "ContentType": "application/zip",
        },
        ExpiresIn=settings.upload_url_ttl_seconds,
    )
    logger.info("Deploy created", deploy_id=deploy_id, product=product)
    return CreatedDeploy(deploy, url)


def _point_project_at(project: Project, deploy: Deploy) -> None:
    product = deploy.product
    project.update(
        condition=Project.id.exists(),
        actions=[
            getattr(Project, f"{product}_enabled").set(True),
            getattr(Project, f"{product}_deploy_id").set(deploy.id),
            getattr(Project, f"{product}_deploy_status").set(deploy.status),
            getattr(Project, f"{product}_deploy_created_at").set(deploy.created_at),
            Project.updated_at.set(deploy.created_at),
            Project.version.add(1),
        ],
    )


def _env_context(deploy_id: str) -> dict[str, str]:
    return {"purpose": "deploy-env", "deploy": deploy_id}


def env_vars(deploy: Deploy) -> dict[str, str]:
    if not deploy.env_ciphertext:
        return {}
    value = unseal_json(deploy.env_ciphertext, _env_context(deploy.id))
    return dict(value) if isinstance(value, dict) else {}


def get_for_org(org_id: str, deploy_id: str, product: str) -> Deploy:
    """The deploy if it belongs to `org_id` and `product`; otherwise 404."""
    try:
        deploy = lifecycle.load(deploy_id)
    except NotFound:
        deploy = None
    if deploy is None or deploy.org_id != org_id or deploy.product != product:
        raise NotFound(f"Deploy {deploy_id} not found.")
    return deploy


def confirm_upload(deploy_id: str, source: str) -> Deploy:
    """Mark the artifact uploaded and start the pipeline; safe to repeat.

    Both the client's upload-complete call and the S3 event land here, in
    any order and any number of times. The first moves the deploy out of
    `queued`; every call makes sure the one execution named after the deploy
    exists, so a crash between the two writes heals on the next call.
    """
    deploy = lifecycle.load(deploy_id)
    status = Status(deploy.status)
    if status in TERMINAL:
        if deploy.uploaded_at is not None:
            return deploy
        raise Conflict(f"Deploy {deploy_id} is {status.value}; it cannot start.")
    if status == Status.QUEUED:
        _require_artifact(deploy)
        try:
            deploy = lifecycle.transition(deploy_id, Status.BUILDING)
        except lifecycle.IllegalTransition:
            deploy = lifecycle.load(deploy_id)
            if Status(deploy.status) in TERMINAL and deploy.uploaded_at is None:
                raise
        else:
            deploy_logs.append(
                deploy_id, deploy_logs.BUILD, "info", ["Artifact upload confirmed"]
            )
    if deploy.execution_arn is None and Status(deploy.status) in IN_PROGRESS:
        _start_execution(deploy)
    logger.info("Upload confirmed", deploy_id=deploy_id, source=source)
    return deploy


def _require_artifact(deploy: Deploy) -> None:
    try:
        aws.client("s3").head_object(
            Bucket=get_settings().artifact_bucket, Key=deploy.artifact_key
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in ("404", "NoSuchKey", "NotFound"):
            raise BadRequest(
                f"No artifact has been uploaded for deploy {deploy.id}; PUT the "
                "zip to its uploadUrl first."
            ) from None
        raise


def _start_execution(deploy: Deploy) -> None:
    sfn = aws.client("stepfunctions")
    machine = get_settings().state_machine_arn
    name = execution_name(deploy.id)
    arn = machine.replace(":stateMachine:", ":execution:") + f":{name}"
    try:
        response = sfn.start_execution(
            stateMachineArn=machine,
            name=name,
            input=json.dumps({"deployId": deploy.id}),
        )
        arn = response["executionArn"]
        logger.info("Deploy execution started", deploy_id=deploy.id)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
            raise
    # The S3 event and upload-complete may both get here; the ARN is the same.
    deploy.update(actions=[Deploy.execution_arn.set(arn)], add_version_condition=False)


def execution_name(deploy_id: str) -> str:
    return f"deploy-{deploy_id}"


def cancel(deploy: Deploy) -> Deploy:
    """Cancel a queued or in-progress deploy; repeating it is harmless."""
    status = Status(deploy.status)
    if status in TERMINAL:
        return deploy
    if status == Status.RUNNING:
        raise Conflict(
            f"Deploy {deploy.id} is already running; stop it instead of cancelling."
        )
    try:
        deploy = lifecycle.transition(
            deploy.id, Status.CANCELLED, error="Deploy was cancelled."
        )
    except lifecycle.IllegalTransition:
        return cancel(lifecycle.load(deploy.id))
    deploy_logs.append(deploy.id, deploy_logs.DEPLOY, "warn", ["Deploy cancelled"])
    _end_execution(deploy, "Cancelled")
    request_stop(deploy.id)
    return deploy


def stop(deploy: Deploy) -> Deploy:
    """Stop a running deploy (or cancel one still on its way)."""
    status = Status(deploy.status)
    if status in IN_PROGRESS:
        return cancel(deploy)
    if status == Status.RUNNING:
        try:
            deploy = lifecycle.transition(deploy.id, Status.STOPPED)
        except lifecycle.IllegalTransition:
            return lifecycle.load(deploy.id)
        deploy_logs.append(deploy.id, deploy_logs.DEPLOY, "info", ["Deploy stopped"])
        request_stop(deploy.id)
    return deploy


def end_execution(deploy: Deploy, cause: str) -> None:
    """Stop the deploy's Step Functions execution, if it has one."""
    _end_execution(deploy, cause)


def _end_execution(deploy: Deploy, cause: str) -> None:
    if deploy.execution_arn is None:
        return
    try:
        aws.client("stepfunctions").stop_execution(
            executionArn=deploy.execution_arn, error="DeployCancelled", cause=cause
        )
    except ClientError:
        logger.warning("Execution stop refused", deploy_id=deploy.id)


def request_stop(deploy_id: str) -> None:
    """Ask the runtime workers to stop this deploy's app."""
    aws.client("sqs").send_message(
        QueueUrl=get_settings().step_queue_url,
        MessageBody=json.dumps({"step": "stop", "deployId": deploy_id}),
    )


def list_for_project(project_id: str, product: str) -> list[Deploy]:
    return [
        d
        for d in Deploy.project_index.query(project_id, scan_index_forward=False)
        if d.product == product
    ]


def superseded(deploy: Deploy) -> list[Deploy]:
    """Running deploys of the same project and product, older than `deploy`."""
    return [
        other
        for other in list_for_project(deploy.project_id, deploy.product)
        if other.id != deploy.id and other.status == Status.RUNNING.value
    ]


def delete_project_deploys(project: Project) -> None:
    for product in PRODUCTS:
        for deploy in list_for_project(project.id, product):
            if Status(deploy.status) not in TERMINAL:
                stop(deploy)
            deploy_logs.delete_all(deploy.id)
            runtime_logs.delete_all(deploy.id)
            # stop() wrote a newer version than this copy holds; delete anyway.
            deploy.delete(add_version_condition=False)


def record_crash(deploy_id: str, message: str) -> None:
    """A running app exited on its own: `crashed` (Studio shows `failed`)."""
    try:
        lifecycle.transition(deploy_id, Status.CRASHED, error=message)
    except (lifecycle.IllegalTransition, NotFound):
        return
    deploy_logs.append(deploy_id, deploy_logs.DEPLOY, "error", [message])
