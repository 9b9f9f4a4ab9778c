"""Organizations, users and memberships."""

from dataclasses import dataclass

from pynamodb.exceptions import DoesNotExist, PutError

from chalicelib.errors import NotFound
from chalicelib.models import Membership, Organization, User
from chalicelib.services.clock import new_id, now


@dataclass(frozen=True)
class OrgView:
    org: Organization
    role: str


def create_organization(name: str, org_id: str | None = None) -> Organization:
    stamp = now()
    org = Organization(
        org_id or new_id("org"), name=name, created_at=stamp, updated_at=stamp
    )
    org.save(condition=Organization.id.does_not_exist())
    return org


def create_user(
    email: str,
    first_name: str | None = None,
    last_name: str | None = None,
    user_id: str | None = None,
) -> User:
    user = User(
        user_id or new_id("usr"),
        email=email.strip().lower(),
        first_name=first_name,
        last_name=last_name,
        created_at=now(),
    )
    user.save(condition=User.id.does_not_exist())
    return user


def add_member(org_id: str, user_id: str, role: str) -> Membership:
    membership = Membership(org_id, user_id, role=role, created_at=now())
    try:
        membership.save(condition=Membership.user_id.does_not_exist())
    except PutError:
        return Membership.get(org_id, user_id)
    return membership


def organizations_of(user_id: str) -> list[OrgView]:
    """Every organization the user belongs to, with the user's role."""
    views = []
    for membership in Membership.user_index.query(user_id):
        try:
            org = Organization.get(membership.org_id)
        except DoesNotExist:
            continue
        views.append(OrgView(org, membership.role))
    return views


def get_organization(org_id: str) -> Organization:
    try:
        return Organization.get(org_id)
    except DoesNotExist:
        raise NotFound(f"Organization {org_id} not found.") from None
