"""Deploy steps sent by the Step Functions execution over SQS."""

from chalice import Blueprint
from chalice.app import SQSEvent

from chalicelib.events import STEP_QUEUE_NAME
from chalicelib.log import logger
from chalicelib.services import pipeline

bp = Blueprint(__name__)


@bp.on_sqs_message(queue=STEP_QUEUE_NAME, batch_size=1)
def on_deploy_step(event: SQSEvent) -> None:
    """Run each step message and report its outcome to Step Functions."""
    for record in event:
        try:
            message = pipeline.parse_message(record.body)
        except ValueError:
            logger.warning("Step message is not JSON; dropped")
            continue
        logger.append_keys(deploy_id=message.get("deployId"))
        try:
            pipeline.run(message)
        finally:
            # The logger outlives this event; the next one is another deploy.
            logger.remove_keys(["deploy_id"])
