"""What each Lambda function may touch: least privilege, declared once.

Chalice's policy generator cannot see PynamoDB calls, so every function's
permissions are written here, by the function's logical id in the Chalice
template (plus the streaming function). A function Chalice adds that has
no entry here stops the synth: new handlers must declare what they use.
"""

from dataclasses import dataclass

# Every platform table (API and streaming serve routes of every group).
ALL_TABLES = None

# Item-level DynamoDB actions only: no table management. Scan stays allowed
# for the admin sweeps; request paths use GetItem/Query (see DESIGN.md).
TABLE_READ = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DescribeTable",
)
TABLE_WRITE = (
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
)

DEPLOY_TABLES = frozenset({"deploys", "deploy-logs", "projects"})


@dataclass(frozen=True)
class Grants:
    """The resources one function uses. `tables=None` means all tables."""

    tables: frozenset[str] | None
    # Key prefixes in the artifact bucket.
    read_objects: tuple[str, ...] = ()
    write_objects: tuple[str, ...] = ()
    delete_objects: tuple[str, ...] = ()
    list_bucket: bool = False
    kms: tuple[str, ...] = ()
    start_executions: bool = False
    stop_executions: bool = False
    report_tasks: bool = False
    send_steps: bool = False
    manage_apps: bool = False
    # The cursor secret and the public URL parameter (stage_values.py).
    stage_values: bool = False


FUNCTION_GRANTS: dict[str, Grants] = {
    # The HTTP API: every route group, presigned uploads, deploy start/cancel.
    "APIHandler": Grants(
        tables=ALL_TABLES,
        read_objects=("deploys/",),
        write_objects=("deploys/",),
        kms=("kms:GenerateDataKey", "kms:Decrypt"),
        start_executions=True,
        stop_executions=True,
        send_steps=True,
        stage_values=True,
    ),
    # S3 ObjectCreated -> confirm the upload, start the execution.
    "OnArtifactUploaded": Grants(
        tables=DEPLOY_TABLES,
        read_objects=("deploys/",),
        start_executions=True,
    ),
    # Deploy steps: download, build and run the app, report to Step Functions.
    "OnDeployStep": Grants(
        tables=DEPLOY_TABLES | {"project-env", "runtime-logs", "domains"},
        read_objects=("deploys/", "builds/"),
        delete_objects=("builds/",),
        kms=("kms:Decrypt",),
        stop_executions=True,
        report_tasks=True,
        send_steps=True,
        manage_apps=True,
    ),
    # Scheduled sweep: overdue deploys, expired uploads, orphaned artifacts.
    "Sweep": Grants(
        tables=DEPLOY_TABLES | {"project-env", "runtime-logs"},
        read_objects=("deploys/",),
        delete_objects=("deploys/", "builds/"),
        list_bucket=True,
        stop_executions=True,
        send_steps=True,
        manage_apps=True,
    ),
    # Scheduled DNS checks of custom domains.
    "CheckDomains": Grants(tables=frozenset({"domains", "projects", "unique-claims"})),
}

# The streaming function serves the studio log SSE and the LLM gateway
# proxy, and the web dashboard, whose forms run the API's own handlers
# (env vars and bindings are sealed, restart starts a deploy, pause sends a
# step): so it needs exactly what the API handler has.
STREAMING_GRANTS = FUNCTION_GRANTS["APIHandler"]


def grants_for(logical_id: str) -> Grants:
    try:
        return FUNCTION_GRANTS[logical_id]
    except KeyError:
        raise KeyError(
            f"No IAM grants are declared for Lambda function {logical_id}; "
            "add it to infra/access.py FUNCTION_GRANTS."
        ) from None
