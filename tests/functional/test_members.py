"""Members, invitations, acceptance, orgs, me and the audit log."""

import json
from datetime import timedelta
from typing import Any

import pytest

from chalicelib import aws
from chalicelib.models import Invitation, Organization, User
from chalicelib.services.clock import now
from tests.conftest import Caller, body
from tests.functional.accounts_helpers import accept, invitation_secret, invite, join
from tests.functional.helpers import assert_problem

MEMBER_FIELDS = {
    "id",
    "userId",
    "email",
    "firstName",
    "lastName",
    "profilePictureUrl",
    "role",
    "status",
    "createdAt",
}


def members_of(client: Any, caller: Caller) -> dict[str, dict]:
    response = client.http.get("/v1/org/members", headers=caller.headers())
    assert response.status_code == 200, response.body
    return {m["userId"]: m for m in body(response)["members"]}


def patch_role(client: Any, caller: Caller, member_id: str, role: str) -> Any:
    return client.http.patch(
        f"/v1/org/members/{member_id}",
        headers=caller.json_headers(),
        body=json.dumps({"role": role}),
    )


def test_members_list_has_the_contract_shape(client: Any, admin: Caller) -> None:
    members = members_of(client, admin)
    assert set(members) == {admin.user_id}
    member = members[admin.user_id]
    assert set(member) == MEMBER_FIELDS
    assert member["id"] == admin.user_id
    assert member["role"] == "admin"
    assert member["status"] == "active"
    assert member["email"] == "admin@localhost"


def test_invitation_accept_creates_user_member_and_a_working_token(
    client: Any, admin: Caller
) -> None:
    created = invite(client, admin, "  New.Person@Example.COM ")
    assert created.status_code == 201, created.body
    invitation = body(created)["invitation"]
    assert invitation["email"] == "new.person@example.com"
    assert invitation["state"] == "pending"
    assert {"id", "email", "state", "expiresAt", "createdAt"} <= set(invitation)
    secret = invitation_secret(client, admin, invitation["id"])
    assert secret.startswith("mpt_inv_")

    accepted = accept(client, secret)
    assert accepted.status_code == 201, accepted.body
    payload = body(accepted)
    assert payload["member"]["role"] == "member"
    assert payload["secret"].startswith("mpt_tok_")
    assert "secret" not in payload["token"]
    verify = client.http.get(
        "/v1/auth/verify", headers={"Authorization": f"Bearer {payload['secret']}"}
    )
    assert body(verify)["organizationId"] == admin.org_id
    assert body(verify)["role"] == "member"

    user = User.get(payload["member"]["userId"])
    assert user.password_hash and user.password_hash.startswith("$argon2id$")
    assert "correct horse" not in user.password_hash
    listed = client.http.get("/v1/org/members/invitations", headers=admin.headers())
    states = {i["id"]: i["state"] for i in body(listed)["invitations"]}
    assert states[invitation["id"]] == "accepted"
    assert payload["member"]["userId"] in members_of(client, admin)


def test_accepting_twice_expired_or_revoked_is_refused(
    client: Any, admin: Caller
) -> None:
    first = body(invite(client, admin, "twice@example.com"))["invitation"]
    secret = invitation_secret(client, admin, first["id"])
    assert accept(client, secret).status_code == 201
    assert_problem(accept(client, secret), 409)

    revoked = body(invite(client, admin, "revoked@example.com"))["invitation"]
    revoked_secret = invitation_secret(client, admin, revoked["id"])
    response = client.http.delete(
        f"/v1/org/members/invitations/{revoked['id']}", headers=admin.headers()
    )
    assert response.status_code == 200 and body(response) == {"ok": True}
    assert_problem(accept(client, revoked_secret), 410)

    expired = body(invite(client, admin, "late@example.com"))["invitation"]
    expired_secret = invitation_secret(client, admin, expired["id"])
    Invitation(expired["id"]).update(
        actions=[Invitation.expires_at.set(now() - timedelta(seconds=1))]
    )
    assert_problem(accept(client, expired_secret), 410)
    listed = client.http.get("/v1/org/members/invitations", headers=admin.headers())
    states = {i["id"]: i["state"] for i in body(listed)["invitations"]}
    assert states[revoked["id"]] == "revoked"
    assert states[expired["id"]] == "expired"
    assert_problem(accept(client, secret[:-3] + "AAA"), 404)
    # Nobody was created for the refused invitations.
    assert set(members_of(client, admin)) == {
        admin.user_id,
        User.email_index.query("twice@example.com").next().id,
    }


def test_duplicate_invitation_returns_the_pending_one_and_members_are_409(
    client: Any, admin: Caller
) -> None:
    first = invite(client, admin, "dup@example.com")
    second = invite(client, admin, "DUP@example.com ")
    assert first.status_code == 201 and second.status_code == 200
    assert body(first)["invitation"]["id"] == body(second)["invitation"]["id"]
    assert_problem(invite(client, admin, "admin@localhost"), 409)
    bad = invite(client, admin, "not-an-email")
    assert body(bad)["errors"][0]["field"] == "email"
    assert_problem(bad, 400)
    default = body(invite(client, admin, "week@example.com"))["invitation"]
    created = default["createdAt"]
    assert default["expiresAt"][:10] == (
        (now() + timedelta(days=7)).date().isoformat()
    ), created


def test_last_admin_cannot_be_demoted_or_removed(client: Any, admin: Caller) -> None:
    assert_problem(patch_role(client, admin, admin.user_id, "member"), 409)
    assert_problem(
        client.http.delete(f"/v1/org/members/{admin.user_id}", headers=admin.headers()),
        409,
    )
    second = join(client, admin, "second@example.com", "admin")
    assert Organization.get(admin.org_id).admin_count == 2
    demoted = patch_role(client, second, admin.user_id, "member")
    assert demoted.status_code == 200, demoted.body
    assert set(body(demoted)["member"]) == MEMBER_FIELDS
    assert body(demoted)["member"]["role"] == "member"
    assert_problem(patch_role(client, second, second.user_id, "member"), 409)
    assert Organization.get(admin.org_id).admin_count == 1


def test_members_read_but_only_admins_mutate(client: Any, admin: Caller) -> None:
    member = join(client, admin, "reader@example.com")
    assert admin.user_id in members_of(client, member)
    assert_problem(patch_role(client, member, member.user_id, "admin"), 403)
    assert_problem(invite(client, member, "x@example.com"), 403)
    assert_problem(
        client.http.delete(
            f"/v1/org/members/{admin.user_id}", headers=member.headers()
        ),
        403,
    )
    assert_problem(client.http.get("/v1/org/audit", headers=member.headers()), 403)
    assert_problem(client.http.get("/v1/org/outbox", headers=member.headers()), 403)
    bad_role = patch_role(client, admin, member.user_id, "owner")
    assert_problem(bad_role, 400)


def test_removing_a_member_revokes_their_tokens_here(
    client: Any, admin: Caller
) -> None:
    member = join(client, admin, "leaver@example.com")
    removed = client.http.delete(
        f"/v1/org/members/{member.user_id}", headers=admin.headers()
    )
    assert removed.status_code == 200, removed.body
    assert member.user_id not in members_of(client, admin)
    verify = client.http.get("/v1/auth/verify", headers=member.headers())
    assert_problem(verify, 401)
    assert_problem(
        client.http.delete(
            f"/v1/org/members/{member.user_id}", headers=admin.headers()
        ),
        404,
    )


def test_tokens_members_see_their_own_admins_see_all(
    client: Any, admin: Caller
) -> None:
    member = join(client, admin, "tokens@example.com")
    admin_tokens = body(client.http.get("/v1/auth/tokens", headers=admin.headers()))
    member_tokens = body(client.http.get("/v1/auth/tokens", headers=member.headers()))
    assert len(admin_tokens["tokens"]) == 2
    assert len(member_tokens["tokens"]) == 1
    admin_token_id = next(
        t["id"] for t in admin_tokens["tokens"] if t["name"] == "local admin"
    )
    assert_problem(
        client.http.delete(
            f"/v1/auth/tokens/{admin_token_id}", headers=member.headers()
        ),
        403,
    )
    member_token_id = member_tokens["tokens"][0]["id"]
    response = client.http.delete(
        f"/v1/auth/tokens/{member_token_id}", headers=admin.headers()
    )
    assert response.status_code == 200
    assert_problem(client.http.get("/v1/auth/verify", headers=member.headers()), 401)


def test_token_expiry_is_listed_and_enforced(client: Any, admin: Caller) -> None:
    missing = client.http.post(
        "/v1/auth/tokens", headers=admin.json_headers(), body=json.dumps({})
    )
    assert body(missing)["errors"][0]["field"] == "name"
    past = client.http.post(
        "/v1/auth/tokens",
        headers=admin.json_headers(),
        body=json.dumps({"name": "old", "expiresAt": "2020-01-01T00:00:00Z"}),
    )
    assert_problem(past, 400)
    soon = (now() + timedelta(hours=1)).isoformat()
    created = body(
        client.http.post(
            "/v1/auth/tokens",
            headers=admin.json_headers(),
            body=json.dumps({"name": "soon", "expiresAt": soon}),
        )
    )
    assert created["token"]["expiresAt"].endswith("Z")
    aws.client("dynamodb").update_item(
        TableName="mastra-test-api-tokens",
        Key={"id": {"S": created["token"]["id"]}},
        UpdateExpression="SET expires_at = :t",
        ExpressionAttributeValues={":t": {"S": "2020-01-01T00:00:00.000000+0000"}},
    )
    problem = assert_problem(
        client.http.get(
            "/v1/auth/verify",
            headers={"Authorization": f"Bearer {created['secret']}"},
        ),
        401,
    )
    assert "expired" in problem["detail"]


def test_orgs_create_rename_switch_and_me(client: Any, admin: Caller) -> None:
    created = client.http.post(
        "/v1/auth/orgs", headers=admin.json_headers(), body=json.dumps({"name": "Two"})
    )
    assert created.status_code == 201, created.body
    org = body(created)["organization"]
    assert org["role"] == "admin" and org["name"] == "Two"
    other = Caller(org["id"], admin.user_id, admin.token)
    renamed = client.http.patch(
        "/v1/auth/orgs", headers=other.json_headers(), body=json.dumps({"name": "2"})
    )
    assert body(renamed)["organization"] == {
        "id": org["id"],
        "name": "2",
        "role": "admin",
        "isCurrent": True,
    }
    me = body(client.http.get("/v1/auth/me", headers=other.headers()))
    assert me["organizationId"] == org["id"]
    assert sorted(me["memberOrgIds"]) == sorted([admin.org_id, org["id"]])
    assert "members:write" in me["permissions"]
    assert set(me["user"]) == {
        "id",
        "email",
        "firstName",
        "lastName",
        "profilePictureUrl",
    }
    orgs = body(client.http.get("/v1/auth/orgs", headers=admin.headers()))
    names = {o["id"]: o["name"] for o in orgs["organizations"]}
    assert names[org["id"]] == "2"
    # The new org's member list is separate from the first org's.
    assert set(members_of(client, other)) == {admin.user_id}


def test_audit_log_records_changes_without_secrets(client: Any, admin: Caller) -> None:
    member = join(client, admin, "audited@example.com")
    patch_role(client, admin, member.user_id, "admin")
    token = body(
        client.http.post(
            "/v1/auth/tokens",
            headers=admin.json_headers(),
            body=json.dumps({"name": "audited"}),
        )
    )
    client.http.delete(
        f"/v1/auth/tokens/{token['token']['id']}", headers=admin.headers()
    )
    response = client.http.get("/v1/org/audit", headers=admin.headers())
    assert response.status_code == 200, response.body
    events = body(response)["events"]
    actions = [e["action"] for e in events]
    for action in (
        "invitation.created",
        "invitation.accepted",
        "member.added",
        "member.role_changed",
        "token.created",
        "token.revoked",
    ):
        assert action in actions
    changed = next(e for e in events if e["action"] == "member.role_changed")
    assert changed["actorId"] == admin.user_id
    assert changed["targetId"] == member.user_id
    assert changed["details"] == {"previous": "member", "role": "admin"}
    text = response.body.decode()
    assert token["secret"] not in text and member.token not in text
    assert "mpt_inv_" not in text


@pytest.mark.parametrize("limit", ["0", "x", "501"])
def test_audit_limit_is_validated(client: Any, admin: Caller, limit: str) -> None:
    response = client.http.get(f"/v1/org/audit?limit={limit}", headers=admin.headers())
    assert_problem(response, 400)
