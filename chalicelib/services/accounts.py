"""Organizations, users and memberships."""

import contextlib
from dataclasses import dataclass

from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError

from chalicelib.errors import Conflict, NotFound
from chalicelib.models import EmailClaim, Membership, Organization, User
from chalicelib.models.base import transaction
from chalicelib.services.clock import new_id, now


@dataclass(frozen=True)
class OrgView:
    org: Organization
    role: str


def create_organization(name: str, org_id: str | None = None) -> Organization:
    stamp = now()
    org = Organization(
        org_id or new_id("org"),
        name=name,
        created_at=stamp,
        updated_at=stamp,
        admin_count=0,
    )
    org.save(condition=Organization.id.does_not_exist())
    return org


def create_user(
    email: str,
    first_name: str | None = None,
    last_name: str | None = None,
    user_id: str | None = None,
) -> User:
    user = new_user(email, first_name, last_name, user_id)
    try:
        with transaction() as tx:
            tx.save(user, condition=User.id.does_not_exist())
            tx.save(
                EmailClaim(user.email, user_id=user.id),
                condition=EmailClaim.email.does_not_exist(),
            )
    except TransactWriteError:
        raise Conflict(f"A user with email {user.email} already exists.") from None
    return user


def new_user(
    email: str,
    first_name: str | None = None,
    last_name: str | None = None,
    user_id: str | None = None,
    password_hash: str | None = None,
) -> User:
    """An unsaved user; save it with its EmailClaim in one transaction."""
    return User(
        user_id or new_id("usr"),
        email=normalize_email(email),
        first_name=first_name,
        last_name=last_name,
        password_hash=password_hash,
        created_at=now(),
    )


def normalize_email(email: str) -> str:
    return email.strip().lower()


def user_by_email(email: str) -> User | None:
    """The user owning `email` (claimed, or older rows found by the index)."""
    email = normalize_email(email)
    try:
        return User.get(EmailClaim.get(email, consistent_read=True).user_id)
    except DoesNotExist:
        pass
    for user in User.email_index.query(email):
        return user
    return None


def add_member(org_id: str, user_id: str, role: str) -> Membership:
    """Add a membership; an admin one also counts in the org's admin_count."""
    ensure_admin_count(org_id)
    membership = Membership(org_id, user_id, role=role, created_at=now())
    try:
        with transaction() as tx:
            tx.save(membership, condition=Membership.user_id.does_not_exist())
            if role == "admin":
                tx.update(
                    Organization(org_id),
                    actions=[Organization.admin_count.add(1)],
                    condition=Organization.id.exists(),
                )
    except TransactWriteError:
        return Membership.get(org_id, user_id)
    return membership


def ensure_admin_count(org_id: str) -> None:
    """Give organizations made before admin counting their count, once."""
    try:
        org = Organization.get(org_id, consistent_read=True)
    except DoesNotExist:
        return
    if org.admin_count is not None:
        return
    admins = sum(
        1
        for member in Membership.query(org_id, consistent_read=True)
        if member.role == "admin"
    )
    with contextlib.suppress(UpdateError):
        org.update(
            actions=[Organization.admin_count.set(admins)],
            condition=Organization.admin_count.does_not_exist(),
        )


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
