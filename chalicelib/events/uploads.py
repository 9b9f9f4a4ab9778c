"""S3 ObjectCreated events for artifacts, delivered through SQS."""

import json
from typing import Any

from chalice import Blueprint
from chalice.app import SQSEvent

from chalicelib.errors import Conflict, NotFound
from chalicelib.events import UPLOAD_QUEUE_NAME
from chalicelib.log import logger
from chalicelib.services import deploys

bp = Blueprint(__name__)


@bp.on_sqs_message(queue=UPLOAD_QUEUE_NAME, batch_size=10)
def on_artifact_uploaded(event: SQSEvent) -> None:
    """Confirm the upload of every artifact named in the batch."""
    for record in event:
        handle_message(record.body)


def handle_message(body: str) -> None:
    try:
        payload: Any = json.loads(body)
    except ValueError:
        logger.warning("Upload event is not JSON; dropped")
        return
    if not isinstance(payload, dict):
        logger.warning("Upload event has no records; dropped")
        return
    if payload.get("Event") == "s3:TestEvent":
        logger.info("S3 test event ignored")
        return
    for record in payload.get("Records") or []:
        _handle_record(record)


def _handle_record(record: dict[str, Any]) -> None:
    if not str(record.get("eventName", "")).startswith("ObjectCreated"):
        return
    key = record.get("s3", {}).get("object", {}).get("key", "")
    deploy_id = deploys.deploy_id_from_key(key)
    if deploy_id is None:
        logger.warning("Upload event for an unknown key; dropped", key=key)
        return
    try:
        deploys.confirm_upload(deploy_id, source="s3-event")
    except NotFound:
        logger.warning("Upload event for a missing deploy; dropped", key=key)
    except Conflict as exc:
        logger.warning("Upload event refused", key=key, reason=exc.detail)
