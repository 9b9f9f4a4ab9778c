"""`/v1/auth`: who is calling, and the organizations they belong to."""

from chalice import Blueprint

from chalicelib.http import Api, Call
from chalicelib.schemas.auth import (
    OrganizationList,
    OrganizationPublic,
    UserPublic,
    VerifyPublic,
)
from chalicelib.services import accounts

bp = Blueprint(__name__)
api = Api(bp)


def user_public(call: Call) -> UserPublic:
    user = call.principal.user
    return UserPublic(
        id=user.id,
        email=user.email,
        first_name=user.first_name,
        last_name=user.last_name,
    )


@api.route("/v1/auth/verify", "GET")
def verify(call: Call) -> VerifyPublic:
    """Check the bearer token and name its user and organization."""
    orgs = accounts.organizations_of(call.principal.user.id)
    return VerifyPublic(
        user=user_public(call),
        organization_id=call.principal.org_id,
        role=call.principal.role,
        auth_type=call.principal.auth_type,  # type: ignore[arg-type]
        member_org_ids=[view.org.id for view in orgs],
    )


@api.route("/v1/auth/orgs", "GET")
def list_orgs(call: Call) -> OrganizationList:
    """List the caller's organizations."""
    return OrganizationList(
        organizations=[
            OrganizationPublic(
                id=view.org.id,
                name=view.org.name,
                role=view.role,
                is_current=view.org.id == call.principal.org_id,
            )
            for view in accounts.organizations_of(call.principal.user.id)
        ]
    )
