"""`mastra auth login`'s browser flow, access tokens and refresh rotation."""

import json
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import pytest

from chalicelib.models import Session
from chalicelib.services.clock import now
from chalicelib.settings import reset_settings
from tests.conftest import Caller, body
from tests.functional.helpers import assert_problem

PASSWORD = "local admin password"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def password(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("PLATFORM_ADMIN_PASSWORD", PASSWORD)
    return PASSWORD


def sign_in(client: Any, email: str, password: str, port: str = "43210") -> Any:
    fields = {"email": email, "password": password, "cli_port": port, "state": "s1"}
    return client.http.post("/v1/auth/login", headers=FORM, body=urlencode(fields))


def test_login_page_is_a_form_for_valid_cli_requests_only(client: Any) -> None:
    page = client.http.get("/v1/auth/login?product=cli&cli_port=43210&state=abc123")
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    html = page.body.decode()
    assert 'name="password"' in html and 'value="43210"' in html
    for query in (
        "product=cli&cli_port=80&state=abc",
        "product=cli&cli_port=70000&state=abc",
        "product=cli&cli_port=evil.com&state=abc",
        "product=cli&cli_port=43210&state=%3Cscript%3E",
        "product=web&cli_port=43210&state=abc",
    ):
        refused = client.http.get(f"/v1/auth/login?{query}")
        assert refused.status_code == 400, query
        assert "<script>" not in refused.body.decode()


def test_sign_in_redirects_to_the_loopback_callback_with_tokens(
    client: Any, password: str, admin: Caller
) -> None:
    response = sign_in(client, "ADMIN@localhost", password)
    assert response.status_code == 302, response.body
    location = urlsplit(response.headers["Location"])
    assert (location.scheme, location.hostname, location.port) == (
        "http",
        "127.0.0.1",
        43210,
    )
    assert location.path == "/callback"
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert query["state"] == "s1"
    assert query["org"] == admin.org_id
    user = json.loads(unquote(query["user"]))
    assert user == {
        "id": admin.user_id,
        "email": "admin@localhost",
        "firstName": "Local",
        "lastName": "Admin",
    }
    verify = client.http.get(
        "/v1/auth/verify", headers={"Authorization": f"Bearer {query['token']}"}
    )
    assert verify.status_code == 200, verify.body
    assert body(verify)["authType"] == "user"
    # An injected port never turns into another host.
    evil = sign_in(client, "admin@localhost", password, port="1@evil.com")
    assert evil.status_code == 400 and "Location" not in evil.headers


def test_wrong_password_and_unknown_email_get_the_same_answer(
    client: Any, password: str, admin: Caller
) -> None:
    wrong = sign_in(client, "admin@localhost", "not the password")
    unknown = sign_in(client, "nobody@localhost", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.body == unknown.body.replace(b"nobody@localhost", b"admin@localhost")


def test_failed_sign_ins_are_rate_limited_per_email_and_client(
    client: Any, password: str, admin: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLATFORM_LOGIN_MAX_FAILURES", "3")
    reset_settings()
    for _ in range(3):
        assert sign_in(client, "admin@localhost", "bad password!").status_code == 401
    # Now even the right password is refused, for existing and unknown emails.
    assert sign_in(client, "admin@localhost", password).status_code == 429
    for _ in range(3):
        sign_in(client, "ghost@localhost", "bad password!")
    assert sign_in(client, "ghost@localhost", "bad password!").status_code == 429


def tokens_from(response: Any) -> dict[str, str]:
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    return {"access": query["token"][0], "refresh": query["refresh_token"][0]}


def refresh(client: Any, refresh_token: str) -> Any:
    return client.http.post(
        "/v1/auth/refresh-token",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"refreshToken": refresh_token}),
    )


def test_refresh_rotates_both_tokens_and_refuses_reuse(
    client: Any, password: str, admin: Caller
) -> None:
    first = tokens_from(sign_in(client, "admin@localhost", password))
    rotated = refresh(client, first["refresh"])
    assert rotated.status_code == 200, rotated.body
    second = body(rotated)
    assert set(second) == {"accessToken", "refreshToken"}
    assert second["refreshToken"] != first["refresh"]
    assert second["accessToken"] != first["access"]
    assert_problem(refresh(client, first["refresh"]), 401)
    old = client.http.get(
        "/v1/auth/verify", headers={"Authorization": f"Bearer {first['access']}"}
    )
    assert_problem(old, 401)
    new = client.http.get(
        "/v1/auth/verify",
        headers={"Authorization": f"Bearer {second['accessToken']}"},
    )
    assert new.status_code == 200
    assert_problem(refresh(client, "mpt_rt_garbage"), 401)
    assert_problem(refresh(client, ""), 400)


def test_access_tokens_expire(client: Any, password: str, admin: Caller) -> None:
    tokens = tokens_from(sign_in(client, "admin@localhost", password))
    session_id = tokens["access"].split("_")[2] + "_" + tokens["access"].split("_")[3]
    Session(session_id).update(
        actions=[Session.access_expires_at.set(now() - timedelta(seconds=1))]
    )
    expired = client.http.get(
        "/v1/auth/tokens",
        headers={"Authorization": f"Bearer {tokens['access']}"},
    )
    assert "expired" in assert_problem(expired, 401)["detail"]
    assert refresh(client, tokens["refresh"]).status_code == 200
