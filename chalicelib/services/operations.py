"""A Server project over its life: redeploy, restart, pause, always-on."""

from botocore.exceptions import ClientError

from chalicelib import aws
from chalicelib.errors import Conflict, NotFound
from chalicelib.log import logger
from chalicelib.models import Deploy, Project
from chalicelib.services import deploy_logs, deploys, lifecycle
from chalicelib.services.clock import now
from chalicelib.services.lifecycle import IN_PROGRESS, Status
from chalicelib.settings import get_settings

PRODUCT = "server"


def current(project: Project) -> Deploy | None:
    """The project's latest Server deploy, if any."""
    if not project.server_deploy_id:
        return None
    try:
        return lifecycle.load(project.server_deploy_id)
    except NotFound:
        return None


def last_good(project: Project) -> Deploy | None:
    """The newest deploy that reached `running`: its artifact is known good."""
    for deploy in deploys.list_for_project(project.id, PRODUCT):
        if deploy.started_at is not None and deploy.uploaded_at is not None:
            return deploy
    return None


def active(project: Project) -> Deploy | None:
    """A deploy still on its way (queued with an upload, building, starting)."""
    for deploy in deploys.list_for_project(project.id, PRODUCT):
        status = Status(deploy.status)
        if status in IN_PROGRESS and (
            status != Status.QUEUED or deploy.uploaded_at is not None
        ):
            return deploy
    return None


def redeploy(project: Project, reason: str = "Redeploy") -> Deploy:
    """A new deploy of the last good artifact, started right away."""
    source = last_good(project)
    if source is None:
        raise Conflict(
            f"Project {project.id} has no deploy that ever ran; deploy it first."
        )
    created = deploys.create(
        PRODUCT,
        project,
        deploys.env_vars(source),
        git_branch=source.git_branch,
        mastra_version=source.mastra_version,
    )
    deploy = created.deploy
    _copy_artifact(source, deploy)
    deploy_logs.append(
        deploy.id,
        deploy_logs.BUILD,
        "info",
        [f"{reason}: reusing the artifact of deploy {source.id}"],
    )
    logger.info("Redeploy started", deploy_id=deploy.id, source_id=source.id)
    return deploys.confirm_upload(deploy.id, source="redeploy")


def _copy_artifact(source: Deploy, target: Deploy) -> None:
    bucket = get_settings().artifact_bucket
    s3 = aws.client("s3")
    try:
        s3.copy_object(
            Bucket=bucket,
            Key=target.artifact_key,
            CopySource={"Bucket": bucket, "Key": source.artifact_key},
            ContentType="application/zip",
            MetadataDirective="REPLACE",
        )
    except ClientError as exc:
        deploys.cancel(target)
        code = exc.response.get("Error", {}).get("Code")
        if code in ("404", "NoSuchKey", "NotFound"):
            raise Conflict(
                f"The artifact of deploy {source.id} is gone; deploy again."
            ) from None
        raise


def ensure_restartable(project: Project) -> None:
    busy = active(project)
    if busy is not None:
        raise Conflict(
            f"Deploy {busy.id} is {busy.status}; wait for it to finish, or "
            "cancel it, before restarting."
        )


def restart(project: Project) -> Deploy:
    """Start the current code again with the stored env: a new deploy."""
    ensure_restartable(project)
    return redeploy(project, reason="Restart")


def owned_deploy(project: Project, deploy_id: str) -> Deploy:
    deploy = deploys.get_for_org(project.org_id, deploy_id, PRODUCT)
    if deploy.project_id != project.id:
        raise NotFound(f"Deploy {deploy_id} not found.")
    return deploy


def pause(project: Project) -> Deploy:
    """Stop the running app; 409 when nothing is running."""
    deploy = current(project)
    if deploy is None or deploy.status != Status.RUNNING.value:
        status = deploy.status if deploy is not None else "not deployed"
        raise Conflict(f"The server is not running ({status}); nothing to pause.")
    deploy = deploys.stop(deploy)
    deploy_logs.append(deploy.id, deploy_logs.DEPLOY, "info", ["Server paused"])
    return deploy


def set_always_on(project: Project, on: bool) -> Project:
    project.update(
        actions=[
            Project.always_on.set(on),
            Project.updated_at.set(now()),
            Project.version.add(1),
        ]
    )
    logger.info("Always-on changed", project_id=project.id, always_on=on)
    return project
