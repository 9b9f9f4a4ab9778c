"""Shared fixtures: fake AWS credentials, in-process moto, a seeded org."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from chalicelib.aws import reset_clients
from chalicelib.services.runtime import reset_runtime
from chalicelib.settings import reset_settings
from local import seed
from local.emulator import FAKE_CREDENTIALS, provision
from tests.log_guard import no_secret_in_logs  # noqa: F401 - guards every test


def reset_caches() -> None:
    reset_settings()
    reset_clients()
    reset_runtime()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials, no real endpoint; nothing can reach AWS."""
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")
    reset_caches()
    yield
    reset_caches()


@pytest.fixture
def platform(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """In-process moto with every resource provisioned from infra definitions."""
    with mock_aws():
        settings = provision(None, "test")
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("PLATFORM_RUNTIME", "tests.fakes:FakeRuntime")
        reset_caches()
        yield settings


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
