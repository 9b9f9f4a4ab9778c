"""`/v1/auth/orgs` POST/PATCH and `/v1/auth/me`."""

from chalice import Blueprint

from chalicelib.http import Api, Call
from chalicelib.models import Organization
from chalicelib.schemas.auth import OrganizationPublic
from chalicelib.schemas.members import MePublic, MeUser, OrganizationOne, OrgName
from chalicelib.services import accounts, audit
from chalicelib.services.clock import now

bp = Blueprint(__name__)
api = Api(bp)

PERMISSIONS = {
    "member": [
        "org:read",
        "members:read",
        "invitations:read",
        "tokens:own",
        "projects:read",
        "projects:write",
        "deploys:write",
    ],
}
PERMISSIONS["admin"] = [
    *PERMISSIONS["member"],
    "org:write",
    "members:write",
    "invitations:write",
    "tokens:all",
    "audit:read",
    "outbox:read",
]


@api.route("/v1/auth/orgs", "POST", status=201, idempotent=True)
def create_org(call: Call) -> OrganizationOne:
    """Create an organization; the caller becomes its first admin."""
    body = call.body(OrgName)
    org = accounts.create_organization(body.name.strip() or body.name)
    accounts.add_member(org.id, call.principal.user.id, "admin")
    audit.record(org.id, call.principal.user.id, "organization.created", "org", org.id)
    audit.record(
        org.id,
        call.principal.user.id,
        "member.added",
        "member",
        call.principal.user.id,
        role="admin",
    )
    return OrganizationOne(
        organization=OrganizationPublic(
            id=org.id, name=org.name, role="admin", is_current=False
        )
    )


@api.route("/v1/auth/orgs", "PATCH", admin=True)
def rename_org(call: Call) -> OrganizationOne:
    """Rename the current organization (admin)."""
    body = call.body(OrgName)
    org = accounts.get_organization(call.principal.org_id)
    previous = org.name
    org.update(
        actions=[
            Organization.name.set(body.name.strip() or body.name),
            Organization.updated_at.set(now()),
        ],
        condition=Organization.id.exists(),
    )
    audit.record(
        org.id,
        call.principal.user.id,
        "organization.renamed",
        "org",
        org.id,
        previous=previous,
        name=org.name,
    )
    return OrganizationOne(
        organization=OrganizationPublic(
            id=org.id, name=org.name, role=call.principal.role, is_current=True
        )
    )


@api.route("/v1/auth/me", "GET")
def me(call: Call) -> MePublic:
    """The caller, the current organization, the role and what it allows."""
    user = call.principal.user
    return MePublic(
        user=MeUser(
            id=user.id,
            email=user.email,
            first_name=user.first_name,
            last_name=user.last_name,
            profile_picture_url=None,
        ),
        organization_id=call.principal.org_id,
        role=call.principal.role,
        permissions=PERMISSIONS.get(call.principal.role, []),
        member_org_ids=[v.org.id for v in accounts.organizations_of(user.id)],
    )
