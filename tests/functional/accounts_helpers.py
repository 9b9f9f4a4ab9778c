"""Invitations and sign-ins driven through the API, for account tests."""

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.conftest import Caller, body

PASSWORD = "correct horse battery"


def invite(client: Any, caller: Caller, email: str, role: str = "member") -> Any:
    return client.http.post(
        "/v1/org/members/invitations",
        headers=caller.json_headers(),
        body=json.dumps({"email": email, "role": role}),
    )


def invitation_secret(client: Any, caller: Caller, invitation_id: str) -> str:
    """The secret of an invitation, read from the outbox's accept link."""
    response = client.http.get("/v1/org/outbox", headers=caller.headers())
    assert response.status_code == 200, response.body
    for message in body(response)["messages"]:
        if message["invitationId"] == invitation_id:
            return parse_qs(urlsplit(message["link"]).query)["token"][0]
    raise AssertionError(f"no outbox message for {invitation_id}")


def accept(client: Any, secret: str, password: str = PASSWORD) -> Any:
    return client.http.post(
        "/v1/invitations/accept",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"token": secret, "password": password, "firstName": "New"}),
    )


def join(client: Any, caller: Caller, email: str, role: str = "member") -> Caller:
    """Invite `email` into the caller's org and accept: the new member."""
    created = invite(client, caller, email, role)
    assert created.status_code == 201, created.body
    secret = invitation_secret(client, caller, body(created)["invitation"]["id"])
    accepted = accept(client, secret)
    assert accepted.status_code == 201, accepted.body
    payload = body(accepted)
    return Caller(caller.org_id, payload["member"]["userId"], payload["secret"])
