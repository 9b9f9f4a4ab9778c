"""Every route of the app, against every kind of caller, from ROUTE_RULES.

The routes come from the app's own table; a route without a rule, or a
public route without an expectation here, fails this test.
"""

import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

import app
from chalicelib.http import ROUTE_RULES, RouteRule
from chalicelib.models import ApiToken, Session, User
from chalicelib.routes.fallback import FALLBACK_ROUTES
from chalicelib.services.auth import mint_token
from chalicelib.services.clock import now
from chalicelib.services.passwords import hash_password
from tests.conftest import Caller
from tests.functional.accounts_helpers import join

# What a request without any credentials gets on each public route.
PUBLIC = {
    ("GET", "/v1/auth/login"): 400,  # no cli_port/state: an HTML error page
    ("POST", "/v1/auth/login"): 415,  # not a form post
    ("POST", "/v1/auth/refresh-token"): 400,  # no refreshToken
    ("GET", "/v1/invitations/accept"): 404,  # no invitation secret
    ("POST", "/v1/invitations/accept"): 400,  # no token/password
    ("GET", "/openapi.json"): 200,  # the API's own description
}


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x_unknown", path)


def call(client: Any, rule: RouteRule, headers: dict[str, str]) -> Any:
    return client.http.request(
        rule.method, concrete(rule.path), headers=headers, body=b""
    )


def app_routes() -> set[tuple[str, str]]:
    return {
        (method, path)
        for path, methods in app.app.routes.items()
        for method in methods
        if (method, path) not in FALLBACK_ROUTES
    }


def test_every_app_route_has_a_rule_and_every_rule_a_route() -> None:
    rules = {(rule.method, rule.path) for rule in ROUTE_RULES}
    assert app_routes() == rules
    assert len(rules) == len(ROUTE_RULES), "a route is registered twice"
    public = {(rule.method, rule.path) for rule in ROUTE_RULES if not rule.auth}
    assert public == set(PUBLIC), "a public route needs an expectation here"


@pytest.fixture
def callers(client: Any, admin: Caller, outsider: Caller) -> dict[str, Caller]:
    User(admin.user_id).update(
        actions=[User.password_hash.set(hash_password("matrix password"))]
    )
    member = join(client, admin, "member@example.com")
    revoked, revoked_secret = mint_token(admin.org_id, admin.user_id, "revoked")
    revoked.delete()
    expiring, expired_secret = mint_token(
        admin.org_id, admin.user_id, "expired", now() + timedelta(hours=1)
    )
    expiring.update(actions=[ApiToken.expires_at.set(now() - timedelta(seconds=1))])
    session = sign_in(client, admin)
    Session(session.split("_")[2] + "_" + session.split("_")[3]).update(
        actions=[Session.access_expires_at.set(now() - timedelta(seconds=1))]
    )
    return {
        "member": member,
        "revoked": Caller(admin.org_id, admin.user_id, revoked_secret),
        "expired": Caller(admin.org_id, admin.user_id, expired_secret),
        "expired session": Caller(admin.org_id, admin.user_id, session),
        "outsider": Caller(admin.org_id, outsider.user_id, outsider.token),
    }


def sign_in(client: Any, admin: Caller) -> str:
    fields = {
        "email": "admin@localhost",
        "password": "matrix password",
        "cli_port": "40000",
        "state": "m",
    }
    response = client.http.post(
        "/v1/auth/login",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=urlencode(fields),
    )
    assert response.status_code == 302, response.body
    return parse_qs(urlsplit(response.headers["Location"]).query)["token"][0]


def test_authorization_matrix(
    client: Any, admin: Caller, callers: dict[str, Caller]
) -> None:
    failures: list[str] = []

    def expect(rule: RouteRule, who: str, headers: dict[str, str], ok: Any) -> None:
        status = call(client, rule, headers).status_code
        if not ok(status):
            failures.append(f"{rule.method} {rule.path} as {who}: {status}")

    for rule in ROUTE_RULES:
        if not rule.auth:
            expect(
                rule, "anonymous", {}, lambda s, r=rule: s == PUBLIC[(r.method, r.path)]
            )
            continue
        org = {"x-organization-id": admin.org_id}
        expect(rule, "no token", org, lambda s: s == 401)
        expect(
            rule,
            "malformed",
            {**org, "Authorization": "Bearer mpt_x"},
            lambda s: s == 401,
        )
        for who in ("revoked", "expired", "expired session"):
            expect(rule, who, callers[who].headers(), lambda s: s == 401)
        expect(
            rule, "other org's token", callers["outsider"].headers(), lambda s: s == 403
        )
        if rule.admin:
            expect(rule, "member", callers["member"].headers(), lambda s: s == 403)
        else:
            expect(
                rule,
                "member",
                callers["member"].headers(),
                lambda s: s not in (401, 403),
            )
        expect(
            rule, "admin", admin.headers(), lambda s: s not in (401, 403) and s < 500
        )
    assert not failures, "\n".join(failures)
