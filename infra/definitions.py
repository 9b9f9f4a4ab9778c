"""Resources shared by the local emulator and the CDK app.

Both build the tables, bucket, queues and the deploy state machine from
here, so the laptop and AWS cannot drift apart.
"""

from dataclasses import dataclass
from typing import Any

from chalicelib.events import STEP_QUEUE_NAME, UPLOAD_QUEUE_NAME
from chalicelib.models import ALL_MODELS, TTL_ATTRIBUTES, PlatformModel

# (state name, step sent to the workers, timeout in seconds)
DEPLOY_STEPS = (
    ("Validate", "validate", 300),
    ("Build", "build", 900),
    ("Start", "start", 120),
    ("HealthCheck", "health", 180),
)
FAILURE_TIMEOUT = 60
STEP_QUEUE_VISIBILITY = 960
UPLOAD_QUEUE_VISIBILITY = 60
MAX_RECEIVES = 5


@dataclass(frozen=True)
class Names:
    """Physical names for one stage."""

    stage: str

    @property
    def prefix(self) -> str:
        return f"mastra-{self.stage}-"

    @property
    def bucket(self) -> str:
        return f"{self.prefix}artifacts"

    @property
    def upload_queue(self) -> str:
        return UPLOAD_QUEUE_NAME

    @property
    def step_queue(self) -> str:
        return STEP_QUEUE_NAME

    @property
    def state_machine(self) -> str:
        return f"{self.prefix}deploy"

    @property
    def cursor_secret(self) -> str:
        return f"{self.prefix}cursor-secret"

    @property
    def public_url_parameter(self) -> str:
        return f"/{self.prefix}public-url"

    def dead_letter(self, queue: str) -> str:
        return f"{queue}-dlq"


def table_specs() -> list[tuple[type[PlatformModel], dict[str, Any], str | None]]:
    """Each table's model, key schema and indexes, and TTL attribute."""
    return [
        (model, model.describe_schema(), TTL_ATTRIBUTES.get(model))
        for model in ALL_MODELS
    ]


def state_machine_definition(step_queue_url: str) -> dict[str, Any]:
    """The deploy lifecycle in Amazon States Language.

    Each step is a task token sent over SQS: a worker runs it and reports
    back. Any error or timeout goes to RecordFailure, which lets a worker
    write a readable `error` before the execution fails.
    """
    states: dict[str, Any] = {}
    for index, (name, step, timeout) in enumerate(DEPLOY_STEPS):
        last = index == len(DEPLOY_STEPS) - 1
        task = _send_step(step_queue_url, {"step": step}, timeout)
        task["Catch"] = [
            {
                "ErrorEquals": ["States.ALL"],
                "ResultPath": "$.error",
                "Next": f"{name}Failed",
            }
        ]
        if last:
            task["End"] = True
        else:
            task["Next"] = DEPLOY_STEPS[index + 1][0]
        states[name] = task
        states[f"{name}Failed"] = {
            "Type": "Pass",
            "Result": step,
            "ResultPath": "$.failedStep",
            "Next": "RecordFailure",
        }
    record = _send_step(
        step_queue_url,
        {"step": "fail", "failedStep.$": "$.failedStep", "error.$": "$.error"},
        FAILURE_TIMEOUT,
    )
    record["Catch"] = [
        {"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": "DeployFailed"}
    ]
    record["Next"] = "DeployFailed"
    states["RecordFailure"] = record
    states["DeployFailed"] = {"Type": "Fail", "Error": "DeployFailed"}
    return {
        "Comment": "Mastra platform deploy: validate, build, start, health check.",
        "StartAt": DEPLOY_STEPS[0][0],
        "States": states,
    }


def _send_step(queue_url: str, body: dict[str, Any], timeout: int) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "Parameters": {
            "QueueUrl": queue_url,
            "MessageBody": {
                **body,
                "deployId.$": "$.deployId",
                "taskToken.$": "$$.Task.Token",
            },
        },
        "TimeoutSeconds": timeout,
        "ResultPath": None,
    }


def bucket_notification(upload_queue_arn: str, prefix: str) -> dict[str, Any]:
    """S3 ObjectCreated events for artifacts, delivered to the upload queue."""
    return {
        "QueueConfigurations": [
            {
                "QueueArn": upload_queue_arn,
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {
                    "Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}
                },
            }
        ]
    }
