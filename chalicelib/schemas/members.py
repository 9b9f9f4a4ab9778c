"""Members, invitations, the outbox, the audit log, orgs, me and sign-in."""

from typing import Any, Literal

from pydantic import Field

from chalicelib.schemas.auth import OrganizationPublic
from chalicelib.schemas.common import Input, Wire

Role = Literal["admin", "member"]


class MemberPublic(Wire):
    id: str
    user_id: str
    email: str
    first_name: str | None
    last_name: str | None
    profile_picture_url: str | None
    role: str | None
    status: str
    created_at: str


class MemberList(Wire):
    members: list[MemberPublic]


class MemberOne(Wire):
    member: MemberPublic


class RoleChange(Input):
    role: Role


class InvitationCreate(Input):
    email: str = Field(min_length=3, max_length=254)
    role: Role = "member"


class InvitationPublic(Wire):
    id: str
    email: str
    role: str
    state: str
    expires_at: str
    created_at: str


class InvitationOne(Wire):
    invitation: InvitationPublic


class InvitationList(Wire):
    invitations: list[InvitationPublic]


class OutboxPublic(Wire):
    id: str
    to: str
    subject: str
    text: str
    link: str
    invitation_id: str
    created_at: str


class OutboxList(Wire):
    messages: list[OutboxPublic]


class AuditPublic(Wire):
    id: str
    actor_id: str
    action: str
    target_type: str
    target_id: str
    details: dict[str, Any]
    created_at: str


class AuditList(Wire):
    events: list[AuditPublic]


class InvitationAccept(Input):
    token: str = Field(min_length=1, max_length=300)
    password: str = Field(min_length=1, max_length=1024)
    first_name: str | None = Field(None, max_length=100)
    last_name: str | None = Field(None, max_length=100)


class AcceptedPublic(Wire):
    member: MemberPublic
    organization_id: str
    token: dict[str, Any]
    secret: str


class OrgName(Input):
    name: str = Field(min_length=1, max_length=200)


class OrganizationOne(Wire):
    organization: OrganizationPublic


class MeUser(Wire):
    id: str
    email: str
    first_name: str | None
    last_name: str | None
    profile_picture_url: str | None


class MePublic(Wire):
    user: MeUser
    organization_id: str | None
    role: str | None
    permissions: list[str]
    member_org_ids: list[str]


class RefreshRequest(Input):
    refresh_token: str = Field(min_length=1, max_length=300)


class RefreshedTokens(Wire):
    access_token: str
    refresh_token: str
