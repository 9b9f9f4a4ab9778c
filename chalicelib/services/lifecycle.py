"""The deploy state machine: legal moves, written once, applied conditionally."""

from enum import StrEnum

from pynamodb.exceptions import DoesNotExist, UpdateError

from chalicelib.errors import Conflict, NotFound
from chalicelib.log import logger
from chalicelib.models import Deploy, Project
from chalicelib.services.clock import now


class Status(StrEnum):
    QUEUED = "queued"
    BUILDING = "building"
    STARTING = "starting"
    RUNNING = "running"
    FAILED = "failed"
    CANCELLED = "cancelled"
    STOPPED = "stopped"
    CRASHED = "crashed"


TERMINAL = frozenset({Status.FAILED, Status.CANCELLED, Status.STOPPED, Status.CRASHED})
IN_PROGRESS = frozenset({Status.QUEUED, Status.BUILDING, Status.STARTING})

# Which status may follow which. Anything else is refused.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.QUEUED: frozenset({Status.BUILDING, Status.CANCELLED, Status.FAILED}),
    Status.BUILDING: frozenset({Status.STARTING, Status.CANCELLED, Status.FAILED}),
    Status.STARTING: frozenset({Status.RUNNING, Status.CANCELLED, Status.FAILED}),
    Status.RUNNING: frozenset({Status.STOPPED, Status.CRASHED}),
    Status.FAILED: frozenset(),
    Status.CANCELLED: frozenset(),
    Status.STOPPED: frozenset(),
    Status.CRASHED: frozenset(),
}

# The Studio product knows fewer words; the CLI stops polling only on these.
STUDIO_STATUS = {
    Status.QUEUED: "queued",
    Status.BUILDING: "starting",
    Status.STARTING: "starting",
    Status.RUNNING: "running",
    Status.FAILED: "failed",
    Status.CANCELLED: "stopped",
    Status.STOPPED: "stopped",
    Status.CRASHED: "failed",
}


class IllegalTransition(Conflict):
    """The deploy is not in a status that allows the requested move."""


def public_status(product: str, status: str) -> str:
    if product == "studio":
        return STUDIO_STATUS[Status(status)]
    return status


def load(deploy_id: str) -> Deploy:
    try:
        return Deploy.get(deploy_id, consistent_read=True)
    except DoesNotExist:
        raise NotFound(f"Deploy {deploy_id} not found.") from None


def transition(
    deploy_id: str,
    target: Status,
    *,
    allowed_from: frozenset[Status] | None = None,
    error: str | None = None,
    instance_url: str | None = None,
) -> Deploy:
    """Move a deploy to `target` if its current status allows it.

    The write is conditional on the version read, so a late step result can
    never overwrite a cancel or a failure recorded meanwhile.
    """
    for _ in range(5):
        deploy = load(deploy_id)
        current = Status(deploy.status)
        sources = allowed_from or frozenset(
            s for s, targets in TRANSITIONS.items() if target in targets
        )
        if current not in sources or target not in TRANSITIONS[current]:
            raise IllegalTransition(
                f"Deploy {deploy_id} is {current.value}; it cannot become "
                f"{target.value}."
            )
        actions = _actions_for(target, error, instance_url)
        try:
            deploy.update(actions=actions)
        except UpdateError as exc:
            if _is_condition_failure(exc):
                continue
            raise
        logger.info(
            "Deploy state changed",
            deploy_id=deploy_id,
            from_status=current.value,
            to_status=target.value,
        )
        mirror_on_project(deploy)
        return deploy
    raise Conflict(f"Deploy {deploy_id} is changing too fast; try again.")


def _actions_for(target: Status, error: str | None, instance_url: str | None) -> list:
    stamp = now()
    actions = [Deploy.status.set(target.value), Deploy.updated_at.set(stamp)]
    if target == Status.BUILDING:
        actions.append(Deploy.uploaded_at.set(stamp))
    if target == Status.RUNNING:
        actions.append(Deploy.started_at.set(stamp))
    if target in TERMINAL:
        actions.append(Deploy.stopped_at.set(stamp))
    if error is not None:
        actions.append(Deploy.error.set(error[:2000]))
    if instance_url is not None:
        actions.append(Deploy.instance_url.set(instance_url))
    if target in TERMINAL:
        actions.append(Deploy.instance_url.remove())
    return actions


def _is_condition_failure(exc: UpdateError) -> bool:
    return exc.cause_response_code == "ConditionalCheckFailedException"


def mirror_on_project(deploy: Deploy) -> None:
    """Copy the deploy's status onto its project, if it is still the latest."""
    product = deploy.product
    latest = getattr(Project, f"{product}_deploy_id")
    url_attr = getattr(Project, f"{product}_instance_url")
    actions = [
        getattr(Project, f"{product}_deploy_status").set(deploy.status),
        url_attr.set(deploy.instance_url) if deploy.instance_url else url_attr.remove(),
        Project.updated_at.set(now()),
    ]
    try:
        Project(deploy.project_id).update(
            actions=actions, condition=latest == deploy.id
        )
    except UpdateError as exc:
        if not _is_condition_failure(exc):
            raise
