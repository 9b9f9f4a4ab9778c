"""`/v1/org/members`: members, invitations; and our `/v1/org` outbox and audit."""

from chalice import Blueprint, Response

from chalicelib.errors import BadRequest
from chalicelib.http import Api, Call, json_response
from chalicelib.models import Invitation
from chalicelib.schemas.common import Ok
from chalicelib.schemas.members import (
    AuditList,
    AuditPublic,
    InvitationCreate,
    InvitationList,
    InvitationOne,
    InvitationPublic,
    MemberList,
    MemberOne,
    MemberPublic,
    OutboxList,
    OutboxPublic,
    RoleChange,
)
from chalicelib.services import audit, invitations, members, stage_values
from chalicelib.services.clock import iso

bp = Blueprint(__name__)
api = Api(bp)


def member_public(member: members.Member) -> MemberPublic:
    # A member's id is its user id: one membership per user and org.
    return MemberPublic(
        id=member.user.id,
        user_id=member.user.id,
        email=member.user.email,
        first_name=member.user.first_name,
        last_name=member.user.last_name,
        profile_picture_url=None,
        role=member.membership.role,
        status=member.membership.status,
        created_at=iso(member.membership.created_at) or "",
    )


def invitation_public(invitation: Invitation) -> InvitationPublic:
    return InvitationPublic(
        id=invitation.id,
        email=invitation.email,
        role=invitation.role,
        state=invitations.state_of(invitation),
        expires_at=iso(invitation.expires_at) or "",
        created_at=iso(invitation.created_at) or "",
    )


@api.route("/v1/org/members", "GET")
def list_members(call: Call) -> MemberList:
    """Every member of the organization; any member may read it."""
    found = members.list_members(call.principal.org_id)
    return MemberList(members=[member_public(m) for m in found])


@api.route("/v1/org/members/{member_id}", "PATCH", admin=True)
def change_role(call: Call, member_id: str) -> MemberOne:
    """Change a member's role; the last admin cannot be demoted (409)."""
    body = call.body(RoleChange)
    member = members.change_role(
        call.principal.org_id, member_id, body.role, call.principal.user.id
    )
    return MemberOne(member=member_public(member))


@api.route("/v1/org/members/{member_id}", "DELETE", admin=True)
def remove_member(call: Call, member_id: str) -> Ok:
    """Remove a member and their tokens here; never the last admin (409)."""
    members.remove_member(call.principal.org_id, member_id, call.principal.user.id)
    return Ok()


@api.route(
    "/v1/org/members/invitations", "POST", admin=True, status=201, idempotent=True
)
def invite(call: Call) -> InvitationOne | Response:
    """Invite an email; a pending invitation to it is answered with 200."""
    body = call.body(InvitationCreate)
    invitation, created = invitations.invite(
        call.principal.org_id,
        call.principal.user.id,
        body.email,
        body.role,
        base_url(call),
    )
    result = InvitationOne(invitation=invitation_public(invitation))
    return json_response(result, 201 if created else 200)


@api.route("/v1/org/members/invitations", "GET")
def list_invitations(call: Call) -> InvitationList:
    """Invitations of every state, newest first."""
    found = invitations.list_invitations(call.principal.org_id)
    return InvitationList(invitations=[invitation_public(i) for i in found])


@api.route("/v1/org/members/invitations/{invitation_id}", "DELETE", admin=True)
def revoke_invitation(call: Call, invitation_id: str) -> Ok:
    """Revoke a pending invitation; its link stops working."""
    invitations.revoke(call.principal.org_id, invitation_id, call.principal.user.id)
    return Ok()


@api.route("/v1/org/outbox", "GET", admin=True)
def outbox(call: Call) -> OutboxList:
    """The emails the organization's invitations sent (local stand-in for SES)."""
    return OutboxList(
        messages=[
            OutboxPublic(
                id=m.id,
                to=m.to,
                subject=m.subject,
                text=m.text,
                link=m.link,
                invitation_id=m.invitation_id,
                created_at=iso(m.created_at) or "",
            )
            for m in invitations.outbox(call.principal.org_id)
        ]
    )


@api.route("/v1/org/audit", "GET", admin=True)
def audit_log(call: Call) -> AuditList:
    """Member, invitation and token changes, newest first (`?limit=`, max 500)."""
    raw = call.query("limit") or "100"
    if not raw.isdigit() or not 1 <= int(raw) <= 500:
        raise BadRequest(
            "The query is not valid.",
            errors=[{"field": "limit", "message": "must be 1 to 500"}],
        )
    return AuditList(
        events=[
            AuditPublic(
                id=e.id,
                actor_id=e.actor_id,
                action=e.action,
                target_type=e.target_type,
                target_id=e.target_id,
                details=audit.details_of(e),
                created_at=iso(e.created_at) or "",
            )
            for e in audit.events(call.principal.org_id, int(raw))
        ]
    )


def base_url(call: Call) -> str:
    """Where invitation links point: PLATFORM_PUBLIC_URL, else this host."""
    configured = stage_values.public_url()
    if configured:
        return configured.rstrip("/")
    host = call.header("host") or "127.0.0.1"
    scheme = call.header("x-forwarded-proto") or "http"
    return f"{scheme}://{host}"
