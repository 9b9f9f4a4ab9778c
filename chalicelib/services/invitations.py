"""Invitations: one pending per (org, email), an outbox message, acceptance.

A second invitation to an address that already has a pending one answers
with the existing invitation (no duplicate, no second email). An expired
pending one is replaced by a fresh invitation.
"""

import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from pynamodb.exceptions import DoesNotExist, TransactWriteError

from chalicelib.errors import BadRequest, Conflict, Gone, NotFound, Unauthorized
from chalicelib.log import logger
from chalicelib.models import (
    EmailClaim,
    Invitation,
    Membership,
    Organization,
    OutboxMessage,
    PendingInvitation,
    User,
)
from chalicelib.models.base import transaction
from chalicelib.services import audit, passwords
from chalicelib.services.accounts import (
    ensure_admin_count,
    new_user,
    normalize_email,
    user_by_email,
)
from chalicelib.services.auth import TOKEN_PREFIX, hash_secret, mint_token
from chalicelib.services.clock import new_id, now
from chalicelib.settings import get_settings

_SECRET_SHAPE = re.compile(r"^mpt_(inv_[a-z2-7]{16})_[A-Za-z0-9_-]{32,128}$")
_EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s.][^@\s]*$")
ACCEPT_PATH = "/v1/invitations/accept"


def state_of(invitation: Invitation, at: datetime | None = None) -> str:
    if invitation.state == "pending" and invitation.expires_at <= (at or now()):
        return "expired"
    return invitation.state


def valid_email(email: str, field: str = "email") -> str:
    normalized = normalize_email(email)
    if len(normalized) > 254 or not _EMAIL_SHAPE.match(normalized):
        raise BadRequest(
            "The email address is not valid.",
            errors=[{"field": field, "message": "is not an email address"}],
        )
    return normalized


def invite(
    org_id: str, actor_id: str, email: str, role: str, base_url: str
) -> tuple[Invitation, bool]:
    """(invitation, created): the existing pending one if there is one."""
    email = valid_email(email)
    user = user_by_email(email)
    if user is not None and _is_member(org_id, user.id):
        raise Conflict(f"{email} is already a member of this organization.")
    for _ in range(5):
        existing = _pending(org_id, email)
        if existing is not None and state_of(existing) == "pending":
            return existing, False
        invitation, outbox, claim = _new_invitation(
            org_id, actor_id, email, role, base_url
        )
        try:
            with transaction() as tx:
                if existing is None:
                    tx.save(
                        claim,
                        condition=PendingInvitation.invitation_id.does_not_exist(),
                    )
                else:
                    tx.save(
                        claim,
                        condition=PendingInvitation.invitation_id == existing.id,
                    )
                tx.save(invitation, condition=Invitation.id.does_not_exist())
                tx.save(outbox)
        except TransactWriteError:
            continue
        audit.record(
            org_id,
            actor_id,
            "invitation.created",
            "invitation",
            invitation.id,
            email=email,
            role=role,
        )
        logger.info("Invitation created", invitation_id=invitation.id, org_id=org_id)
        return invitation, True
    raise Conflict("Invitations to this address changed meanwhile; try again.")


def _new_invitation(
    org_id: str, actor_id: str, email: str, role: str, base_url: str
) -> tuple[Invitation, OutboxMessage, PendingInvitation]:
    stamp = now()
    invitation_id = new_id("inv")
    secret = f"{TOKEN_PREFIX}{invitation_id}_{secrets.token_urlsafe(32)}"
    expires = stamp + timedelta(days=get_settings().invitation_ttl_days)
    invitation = Invitation(
        invitation_id,
        org_id=org_id,
        email=email,
        role=role,
        state="pending",
        secret_hash=hash_secret(secret),
        invited_by=actor_id,
        created_at=stamp,
        expires_at=expires,
    )
    org = Organization.get(org_id)
    link = f"{base_url.rstrip('/')}{ACCEPT_PATH}?token={secret}"
    outbox = OutboxMessage(
        org_id,
        new_id("msg"),
        to=email,
        subject=f"You are invited to join {org.name} on Mastra",
        text=(
            f"You have been invited to join {org.name} as {role}.\n"
            f"Accept the invitation before {expires.date().isoformat()}: {link}\n"
        ),
        link=link,
        invitation_id=invitation_id,
        created_at=stamp,
        expires_at=int(expires.timestamp()),
    )
    return (
        invitation,
        outbox,
        PendingInvitation(org_id, email, invitation_id=invitation_id),
    )


def _pending(org_id: str, email: str) -> Invitation | None:
    try:
        claim = PendingInvitation.get(org_id, email, consistent_read=True)
        return Invitation.get(claim.invitation_id, consistent_read=True)
    except DoesNotExist:
        return None


def _is_member(org_id: str, user_id: str) -> bool:
    try:
        Membership.get(org_id, user_id, consistent_read=True)
    except DoesNotExist:
        return False
    return True


def list_invitations(org_id: str) -> list[Invitation]:
    return list(Invitation.org_index.query(org_id, scan_index_forward=False))


def outbox(org_id: str) -> list[OutboxMessage]:
    return sorted(
        OutboxMessage.query(org_id),
        key=lambda message: message.created_at,
        reverse=True,
    )


def revoke(org_id: str, invitation_id: str, actor_id: str) -> None:
    invitation = _in_org(org_id, invitation_id)
    if invitation.state != "pending":
        raise Conflict(f"Invitation {invitation_id} is already {invitation.state}.")
    try:
        with transaction() as tx:
            tx.update(
                invitation,
                actions=[Invitation.state.set("revoked")],
                condition=Invitation.state == "pending",
            )
            tx.delete(
                PendingInvitation(org_id, invitation.email),
                condition=PendingInvitation.invitation_id == invitation_id,
            )
    except TransactWriteError:
        latest = _in_org(org_id, invitation_id)
        raise Conflict(
            f"Invitation {invitation_id} is already {latest.state}."
        ) from None
    audit.record(org_id, actor_id, "invitation.revoked", "invitation", invitation_id)


def _in_org(org_id: str, invitation_id: str) -> Invitation:
    try:
        invitation = Invitation.get(invitation_id, consistent_read=True)
    except DoesNotExist:
        invitation = None
    if invitation is None or invitation.org_id != org_id:
        raise NotFound(f"Invitation {invitation_id} not found.")
    return invitation


def find_by_secret(secret: str) -> Invitation:
    """The invitation a secret opens; 404 for anything else."""
    match = _SECRET_SHAPE.match(secret.strip())
    if match is None:
        raise NotFound("This invitation link is not valid.")
    try:
        invitation = Invitation.get(match.group(1), consistent_read=True)
    except DoesNotExist:
        raise NotFound("This invitation link is not valid.") from None
    if not hmac.compare_digest(invitation.secret_hash, hash_secret(secret.strip())):
        raise NotFound("This invitation link is not valid.")
    return invitation


def check_open(invitation: Invitation) -> None:
    state = state_of(invitation)
    if state == "expired":
        raise Gone("This invitation has expired; ask an admin for a new one.")
    if state == "revoked":
        raise Gone("This invitation was revoked.")
    if state == "accepted":
        raise Conflict("This invitation was already accepted.")


@dataclass(frozen=True)
class Accepted:
    invitation: Invitation
    user: User
    membership: Membership
    token_secret: str
    token_id: str


def accept(
    secret: str,
    password: str,
    first_name: str | None = None,
    last_name: str | None = None,
) -> Accepted:
    """Join the org; create the user if needed; mint the first API token."""
    invitation = find_by_secret(secret)
    check_open(invitation)
    org_id = invitation.org_id
    ensure_admin_count(org_id)
    user = user_by_email(invitation.email)
    new = user is None
    if user is None:
        passwords.check_strength(password)
        user = new_user(
            invitation.email,
            first_name,
            last_name,
            password_hash=passwords.hash_password(password),
        )
    elif user.password_hash:
        if not passwords.verify_password(user.password_hash, password):
            raise Unauthorized(
                "An account with this email exists; enter its password to accept."
            )
    else:
        passwords.check_strength(password)
    if _is_member(org_id, user.id):
        raise Conflict("You are already a member of this organization.")
    stamp = now()
    membership = Membership(org_id, user.id, role=invitation.role, created_at=stamp)
    try:
        with transaction() as tx:
            tx.update(
                invitation,
                actions=[
                    Invitation.state.set("accepted"),
                    Invitation.accepted_at.set(stamp),
                    Invitation.accepted_by.set(user.id),
                ],
                condition=(Invitation.state == "pending")
                & (Invitation.expires_at > stamp),
            )
            tx.delete(
                PendingInvitation(org_id, invitation.email),
                condition=PendingInvitation.invitation_id == invitation.id,
            )
            tx.save(membership, condition=Membership.user_id.does_not_exist())
            if invitation.role == "admin":
                tx.update(
                    Organization(org_id),
                    actions=[Organization.admin_count.add(1)],
                    condition=Organization.id.exists(),
                )
            if new:
                tx.save(user, condition=User.id.does_not_exist())
                tx.save(
                    EmailClaim(user.email, user_id=user.id),
                    condition=EmailClaim.email.does_not_exist(),
                )
            elif not user.password_hash:
                tx.update(
                    user,
                    actions=[User.password_hash.set(passwords.hash_password(password))],
                    condition=User.password_hash.does_not_exist(),
                )
    except TransactWriteError:
        check_open(Invitation.get(invitation.id, consistent_read=True))
        raise Conflict(
            "The invitation or the account changed meanwhile; try again."
        ) from None
    token, token_secret = mint_token(org_id, user.id, "first token")
    audit.record(
        org_id,
        user.id,
        "invitation.accepted",
        "invitation",
        invitation.id,
        email=invitation.email,
    )
    audit.record(
        org_id, user.id, "member.added", "member", user.id, role=invitation.role
    )
    audit.record(org_id, user.id, "token.created", "token", token.id, name=token.name)
    logger.info("Invitation accepted", invitation_id=invitation.id, org_id=org_id)
    return Accepted(invitation, User.get(user.id), membership, token_secret, token.id)
