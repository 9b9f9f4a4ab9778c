"""Members of an organization: roles, removal, and the last-admin guard.

Every admin membership change updates `Organization.admin_count` in the same
DynamoDB transaction, conditioned on the membership's current role and, for a
demotion or removal, on `admin_count > 1`. Two concurrent demotions of the
last two admins therefore cannot both commit.
"""

from dataclasses import dataclass

from pynamodb.exceptions import DoesNotExist, TransactWriteError

from chalicelib.errors import Conflict, NotFound
from chalicelib.models import ApiToken, Membership, Organization, User
from chalicelib.models.base import transaction
from chalicelib.services import audit
from chalicelib.services.accounts import ensure_admin_count

ROLES = ("admin", "member")
_ATTEMPTS = 5


@dataclass(frozen=True)
class Member:
    membership: Membership
    user: User


def list_members(org_id: str) -> list[Member]:
    memberships = list(Membership.query(org_id))
    users = {user.id: user for user in User.batch_get([m.user_id for m in memberships])}
    return [
        Member(m, users[m.user_id])
        for m in sorted(memberships, key=lambda m: m.created_at)
        if m.user_id in users
    ]


def get_member(org_id: str, user_id: str) -> Member:
    try:
        membership = Membership.get(org_id, user_id, consistent_read=True)
        user = User.get(user_id)
    except DoesNotExist:
        raise NotFound(f"Member {user_id} not found.") from None
    return Member(membership, user)


def change_role(org_id: str, user_id: str, role: str, actor_id: str) -> Member:
    ensure_admin_count(org_id)
    for _ in range(_ATTEMPTS):
        member = get_member(org_id, user_id)
        current = member.membership.role
        if current == role:
            return member
        try:
            with transaction() as tx:
                tx.update(
                    member.membership,
                    actions=[
                        Membership.role.set(role),
                        Membership.version.add(1),
                    ],
                    condition=Membership.role == current,
                )
                _count_admins(tx, org_id, +1 if role == "admin" else -1)
        except TransactWriteError as exc:
            if _org_refused(exc):
                raise Conflict(
                    "An organization needs at least one admin; "
                    "promote someone else first."
                ) from None
            continue
        audit.record(
            org_id,
            actor_id,
            "member.role_changed",
            "member",
            user_id,
            previous=current,
            role=role,
        )
        return get_member(org_id, user_id)
    raise Conflict("The member changed meanwhile; try again.")


def remove_member(org_id: str, user_id: str, actor_id: str) -> None:
    """Remove a membership, and the member's API tokens in this org."""
    ensure_admin_count(org_id)
    for _ in range(_ATTEMPTS):
        member = get_member(org_id, user_id)
        current = member.membership.role
        try:
            with transaction() as tx:
                tx.delete(member.membership, condition=Membership.role == current)
                if current == "admin":
                    _count_admins(tx, org_id, -1)
        except TransactWriteError as exc:
            if _org_refused(exc):
                raise Conflict(
                    "An organization needs at least one admin; "
                    "the last one cannot be removed."
                ) from None
            continue
        for token in ApiToken.org_index.query(
            org_id, filter_condition=ApiToken.user_id == user_id
        ):
            token.delete()
        audit.record(
            org_id, actor_id, "member.removed", "member", user_id, role=current
        )
        return
    raise Conflict("The member changed meanwhile; try again.")


def _count_admins(tx: object, org_id: str, delta: int) -> None:
    condition = Organization.id.exists()
    if delta < 0:
        condition = condition & (Organization.admin_count > 1)
    tx.update(  # type: ignore[attr-defined]
        Organization(org_id),
        actions=[Organization.admin_count.add(delta)],
        condition=condition,
    )


def _org_refused(exc: TransactWriteError) -> bool:
    """Did the organization's admin-count condition (the second item) fail?"""
    reasons = exc.cancellation_reasons
    return (
        len(reasons) > 1
        and reasons[1] is not None
        and reasons[1].code == "ConditionalCheckFailed"
    )
