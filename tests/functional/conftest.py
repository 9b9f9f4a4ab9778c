"""Functional fixtures: a clean fake runtime per test and a second organization."""

from collections.abc import Iterator

import pytest

from chalicelib.services import accounts
from chalicelib.services.auth import mint_token
from tests.conftest import Caller
from tests.fakes import FakeRuntime


@pytest.fixture(autouse=True)
def fresh_fake_runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Steering flags and records of FakeRuntime start empty in every test."""
    monkeypatch.setattr(FakeRuntime, "fail_build", None)
    monkeypatch.setattr(FakeRuntime, "fail_health", None)
    monkeypatch.setattr(FakeRuntime, "during_build", None)
    monkeypatch.setattr(FakeRuntime, "started", [])
    monkeypatch.setattr(FakeRuntime, "stopped", [])
    yield


@pytest.fixture
def outsider(admin: Caller) -> Caller:
    """An admin of a different organization, with a token of their own."""
    org = accounts.create_organization("Elsewhere")
    user = accounts.create_user("outsider@example.com", "Out", "Sider")
    accounts.add_member(org.id, user.id, "admin")
    _, secret = mint_token(org.id, user.id, "outsider")
    return Caller(org.id, user.id, secret)
