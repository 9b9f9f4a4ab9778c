"""Shared fixtures: fake AWS credentials, in-process moto, a seeded org."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.aws import reset_clients
from chalicelib.services import passwords, stage_values
from chalicelib.services.gateway import keys as gateway_keys
from chalicelib.services.runtime import reset_runtime
from chalicelib.settings import reset_settings
from infra.definitions import state_machine_definition
from local import seed
from local.emulator import FAKE_CREDENTIALS, REGION, provision
from tests.log_guard import no_secret_in_logs  # noqa: F401 - guards every test


def reset_caches() -> None:
    reset_settings()
    reset_clients()
    reset_runtime()
    passwords.reset_hasher()
    gateway_keys.forget_leases()
    stage_values.reset()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials, no real endpoint; nothing can reach AWS."""
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")
    # Cheap Argon2 for tests; production keeps the RFC 9106 defaults.
    monkeypatch.setenv("PLATFORM_PASSWORD_TIME_COST", "1")
    monkeypatch.setenv("PLATFORM_PASSWORD_MEMORY_KIB", "1024")
    reset_caches()
    yield
    reset_caches()


class MotoBackend:
    """In-process moto provisioned once; each test starts from empty data.

    Provisioning every table, queue, key and state machine costs about a
    second, so it happens once. Between tests the mock is switched off with
    its data kept (other tiers then reach real sockets untouched), and each
    test wipes items, objects and messages and gets a state machine of its own.
    """

    def __init__(self) -> None:
        self._mock = mock_aws()
        self.settings: dict[str, str] | None = None
        self._machines = 0
        self._keys: dict[str, list[str]] = {}

    def begin(self) -> dict[str, str]:
        first = self.settings is None
        self._mock.start(reset=first)
        if self.settings is None:
            self.settings = provision(None, "test")
        else:
            self._wipe(self.settings)
        return {**self.settings, **self._fresh_machine(self.settings)}

    def end(self) -> None:
        self._mock.stop(remove_data=False)

    def _fresh_machine(self, settings: dict[str, str]) -> dict[str, str]:
        self._machines += 1
        sfn = boto3.client("stepfunctions", region_name=REGION)
        definition = json.dumps(
            state_machine_definition(settings["PLATFORM_STEP_QUEUE_URL"])
        )
        arn = sfn.create_state_machine(
            name=f"mastra-test-deploy-{self._machines}",
            definition=definition,
            roleArn="arn:aws:iam::123456789012:role/test-deploy-machine",
        )["stateMachineArn"]
        return {"PLATFORM_STATE_MACHINE_ARN": arn}

    def _wipe(self, settings: dict[str, str]) -> None:
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        for table in dynamodb.list_tables()["TableNames"]:
            if table not in self._keys:
                schema = dynamodb.describe_table(TableName=table)["Table"]
                self._keys[table] = [k["AttributeName"] for k in schema["KeySchema"]]
            keys = self._keys[table]
            for page in dynamodb.get_paginator("scan").paginate(TableName=table):
                for item in page["Items"]:
                    dynamodb.delete_item(
                        TableName=table, Key={k: item[k] for k in keys}
                    )
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in s3.list_buckets()["Buckets"]:
            listing = s3.list_objects_v2(Bucket=bucket["Name"])
            for obj in listing.get("Contents", []):
                s3.delete_object(Bucket=bucket["Name"], Key=obj["Key"])
        sqs = boto3.client("sqs", region_name=REGION)
        for url in sqs.list_queues().get("QueueUrls", []):
            # PurgeQueue is limited to once a minute; drain instead.
            while batch := sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10
            ).get("Messages"):
                for message in batch:
                    sqs.delete_message(
                        QueueUrl=url, ReceiptHandle=message["ReceiptHandle"]
                    )


_MOTO = MotoBackend()


@pytest.fixture
def platform(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """In-process moto with every resource provisioned from infra definitions."""
    settings = _MOTO.begin()
    try:
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("PLATFORM_RUNTIME", "tests.fakes:FakeRuntime")
        reset_caches()
        yield settings
    finally:
        _MOTO.end()


@dataclass(frozen=True)
class Caller:
    org_id: str
    user_id: str
    token: str

    def headers(self, **extra: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.token}",
            "x-organization-id": self.org_id,
            **extra,
        }

    def json_headers(self, **extra: str) -> dict[str, str]:
        return self.headers(**{"Content-Type": "application/json", **extra})


@pytest.fixture
def admin(platform: dict[str, str], tmp_path: Path) -> Caller:
    identity = seed.load_or_create(tmp_path / "identity.json")
    seed.ensure(identity)
    return Caller(identity.org_id, identity.user_id, identity.token)


@pytest.fixture
def client(platform: dict[str, str]) -> Iterator[Any]:
    from chalice.test import Client

    import app

    with Client(app.app) as test_client:
        yield test_client


def body(response: Any) -> Any:
    return json.loads(response.body) if response.body else None
