"""The scheduled sweep: overdue deploys, expired uploads, orphaned artifacts
and working folders. Every part is idempotent; running it twice is harmless.

Log retention is DynamoDB TTL (`expires_at` on log rows) on AWS.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from botocore.exceptions import ClientError
from pynamodb.exceptions import DoesNotExist

from chalicelib import aws
from chalicelib.log import logger
from chalicelib.models import Deploy
from chalicelib.services import deploy_logs, deploys, lifecycle
from chalicelib.services.clock import iso, now
from chalicelib.services.lifecycle import TERMINAL, Status
from chalicelib.services.runtime import get_runtime
from chalicelib.settings import get_settings

LIVE = (Status.QUEUED, Status.BUILDING, Status.STARTING, Status.RUNNING)


@dataclass
class Report:
    overdue: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    artifacts_removed: list[str] = field(default_factory=list)
    folders_removed: list[str] = field(default_factory=list)


def run() -> Report:
    report = Report()
    report.overdue = fail_overdue()
    report.expired = expire_uploads()
    report.artifacts_removed = remove_orphaned_artifacts()
    report.folders_removed = prune_workdirs()
    if any(vars(report).values()):
        logger.info(
            "Cleanup done",
            overdue=len(report.overdue),
            expired=len(report.expired),
            artifacts=len(report.artifacts_removed),
            folders=len(report.folders_removed),
        )
    return report


def fail_overdue() -> list[str]:
    """Deploys building or starting for longer than their budget end `failed`."""
    budget = get_settings().deploy_budget_seconds
    cutoff = now() - timedelta(seconds=budget)
    failed: list[str] = []
    for status in (Status.BUILDING, Status.STARTING):
        for deploy in Deploy.status_index.query(status.value):
            began = deploy.uploaded_at or deploy.created_at
            if began > cutoff:
                continue
            message = (
                f"Deploy exceeded its time budget of {budget}s while {status.value} "
                "and was stopped."
            )
            try:
                deploy = lifecycle.transition(deploy.id, Status.FAILED, error=message)
            except lifecycle.IllegalTransition:
                continue
            deploy_logs.append(deploy.id, deploy_logs.DEPLOY, "error", [message])
            deploys.end_execution(deploy, "Time budget exceeded")
            deploys.request_stop(deploy.id)
            failed.append(deploy.id)
    return failed


def expire_uploads() -> list[str]:
    """Queued deploys whose upload URL expired unused end `failed`."""
    stamp = now()
    expired: list[str] = []
    for deploy in Deploy.status_index.query(Status.QUEUED.value):
        if deploy.uploaded_at is not None or deploy.upload_expires_at > stamp:
            continue
        message = (
            f"The artifact upload never arrived; its upload URL expired at "
            f"{iso(deploy.upload_expires_at)}."
        )
        try:
            lifecycle.transition(
                deploy.id,
                Status.FAILED,
                allowed_from=frozenset({Status.QUEUED}),
                error=message,
            )
        except lifecycle.IllegalTransition:
            continue
        deploy_logs.append(deploy.id, deploy_logs.BUILD, "error", [message])
        _delete_artifact(deploy.artifact_key)
        expired.append(deploy.id)
    return expired


def remove_orphaned_artifacts() -> list[str]:
    """Objects under `deploys/` with no deploy, or of a deploy that expired."""
    bucket = get_settings().artifact_bucket
    pages = (
        aws.client("s3")
        .get_paginator("list_objects_v2")
        .paginate(Bucket=bucket, Prefix=deploys.ARTIFACT_PREFIX)
    )
    removed: list[str] = []
    for listing in pages:
        for item in listing.get("Contents", []):
            key = item["Key"]
            deploy_id = deploys.deploy_id_from_key(key)
            if deploy_id is None:
                continue
            try:
                deploy = Deploy.get(deploy_id, consistent_read=True)
            except DoesNotExist:
                deploy = None
            orphan = deploy is None or (
                Status(deploy.status) in TERMINAL and deploy.uploaded_at is None
            )
            if orphan:
                _delete_artifact(key)
                removed.append(key)
    return removed


def prune_workdirs() -> list[str]:
    """Working folders of deploys that are neither running nor on their way."""
    keep = {
        deploy.id
        for status in LIVE
        for deploy in Deploy.status_index.query(status.value)
    }
    return list(get_runtime().prune(keep))


def _delete_artifact(key: str) -> None:
    try:
        aws.client("s3").delete_object(Bucket=get_settings().artifact_bucket, Key=key)
    except ClientError:
        logger.warning("Artifact delete failed", key=key)
