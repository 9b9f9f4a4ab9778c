"""moto in server mode as the AWS emulator, provisioned from infra definitions."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore.exceptions import ClientError

from infra.definitions import (
    MAX_RECEIVES,
    STEP_QUEUE_VISIBILITY,
    UPLOAD_QUEUE_VISIBILITY,
    Names,
    bucket_notification,
    state_machine_definition,
    table_specs,
)

REGION = "us-east-1"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


class Emulator:
    """A moto server process on loopback, stopped by its own pid."""

    def __init__(self, port: int, log_path: Path) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        if _port_open(self.port):
            raise RuntimeError(f"Port {self.port} is already in use.")
        log = self._log_path.open("ab")
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "local.moto_server",
                "-H",
                "127.0.0.1",
                "-p",
                str(self.port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **FAKE_CREDENTIALS},
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"moto server exited; see {self._log_path}")
            try:
                httpx.get(f"{self.url}/moto-api/", timeout=1.0)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise RuntimeError("moto server did not start in time.")
        # Without this, moto leaves every execution RUNNING for ever.
        httpx.post(
            f"{self.url}/moto-api/config",
            json={"stepfunctions": {"execute_state_machine": True}},
            timeout=5.0,
        ).raise_for_status()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        os.killpg(self._process.pid, signal.SIGTERM)
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def provision(endpoint: str | None, stage: str) -> dict[str, str]:
    """Create every table, the bucket, queues, key and state machine.

    Idempotent: existing resources are kept. Returns the `PLATFORM_*`
    settings that point the platform at them.
    """
    names = Names(stage)
    session = boto3.Session(
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - emulator only
        region_name=REGION,
    )

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=endpoint)

    table_prefix = names.prefix
    _create_tables(client("dynamodb"), table_prefix)
    sqs = client("sqs")
    upload_url, upload_arn = _queue(
        sqs, names, names.upload_queue, UPLOAD_QUEUE_VISIBILITY
    )
    step_url, _ = _queue(sqs, names, names.step_queue, STEP_QUEUE_VISIBILITY)
    s3 = client("s3")
    try:
        s3.create_bucket(Bucket=names.bucket)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "BucketAlreadyOwnedByYou":
            raise
    s3.put_bucket_notification_configuration(
        Bucket=names.bucket,
        NotificationConfiguration=bucket_notification(upload_arn, "deploys/"),
    )
    machine_arn = _state_machine(client("stepfunctions"), names, step_url)
    key_id = _kms_key(client("kms"), names)
    cursor_secret_arn = _cursor_secret(client("secretsmanager"), names)
    return {
        "PLATFORM_STAGE": stage,
        "PLATFORM_TABLE_PREFIX": table_prefix,
        "PLATFORM_ARTIFACT_BUCKET": names.bucket,
        "PLATFORM_UPLOAD_QUEUE_URL": upload_url,
        "PLATFORM_STEP_QUEUE_URL": step_url,
        "PLATFORM_STATE_MACHINE_ARN": machine_arn,
        "PLATFORM_KMS_KEY_ID": key_id,
        "PLATFORM_CURSOR_SECRET_ARN": cursor_secret_arn,
        **({"AWS_ENDPOINT_URL": endpoint} if endpoint else {}),
        **FAKE_CREDENTIALS,
    }


def _create_tables(dynamodb: Any, prefix: str) -> None:
    existing = set(dynamodb.list_tables()["TableNames"])
    for model, schema, ttl in table_specs():
        name = prefix + model.Meta.base_name
        if name in existing:
            continue
        request: dict[str, Any] = {
            "TableName": name,
            "KeySchema": schema["key_schema"],
            "AttributeDefinitions": schema["attribute_definitions"],
            "BillingMode": "PAY_PER_REQUEST",
        }
        indexes = [
            {k: v for k, v in index.items() if k != "provisioned_throughput"}
            for index in schema.get("global_secondary_indexes", [])
        ]
        if indexes:
            request["GlobalSecondaryIndexes"] = [_camel(i) for i in indexes]
        local_indexes = schema.get("local_secondary_indexes", [])
        if local_indexes:
            request["LocalSecondaryIndexes"] = [_camel(i) for i in local_indexes]
        dynamodb.create_table(**request)
        if ttl:
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl},
            )


def _camel(index: dict[str, Any]) -> dict[str, Any]:
    return {
        "IndexName": index["index_name"],
        "KeySchema": index["key_schema"],
        "Projection": index["projection"],
    }


def _queue(sqs: Any, names: Names, name: str, visibility: int) -> tuple[str, str]:
    dlq_url = sqs.create_queue(QueueName=names.dead_letter(name))["QueueUrl"]
    dlq_arn = _arn(sqs, dlq_url)
    url = sqs.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": str(visibility),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVES)}
            ),
        },
    )["QueueUrl"]
    return url, _arn(sqs, url)


def _arn(sqs: Any, url: str) -> str:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(attrs["Attributes"]["QueueArn"])


def _state_machine(sfn: Any, names: Names, step_queue_url: str) -> str:
    definition = json.dumps(state_machine_definition(step_queue_url))
    role = f"arn:aws:iam::123456789012:role/{names.prefix}deploy-machine"
    for machine in sfn.list_state_machines()["stateMachines"]:
        if machine["name"] == names.state_machine:
            sfn.update_state_machine(
                stateMachineArn=machine["stateMachineArn"], definition=definition
            )
            return str(machine["stateMachineArn"])
    created = sfn.create_state_machine(
        name=names.state_machine, definition=definition, roleArn=role
    )
    return str(created["stateMachineArn"])


def _kms_key(kms: Any, names: Names) -> str:
    alias = f"alias/{names.prefix}secrets"
    for entry in kms.list_aliases()["Aliases"]:
        if entry["AliasName"] == alias and entry.get("TargetKeyId"):
            return str(entry["TargetKeyId"])
    key_id = kms.create_key(Description="Mastra platform secrets")["KeyMetadata"][
        "KeyId"
    ]
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    return str(key_id)


def _cursor_secret(secrets: Any, names: Names) -> str:
    """The cursor-signing secret, generated by Secrets Manager as on AWS."""
    name = names.cursor_secret
    try:
        return str(secrets.describe_secret(SecretId=name)["ARN"])
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    value = secrets.get_random_password(PasswordLength=64, ExcludePunctuation=True)
    created = secrets.create_secret(Name=name, SecretString=value["RandomPassword"])
    return str(created["ARN"])
