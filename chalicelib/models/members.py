"""Invitations, the outbox, the audit log, sign-in sessions and sign-in throttles."""

from pynamodb.attributes import (
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.models.base import PlatformModel


class InvitationOrgIndex(GlobalSecondaryIndex["Invitation"]):
    class Meta:
        index_name = "org-index"
        projection = AllProjection()

    org_id = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class Invitation(PlatformModel):
    """An invitation to join an organization; only a hash of its secret is kept.

    `state` is stored as `pending`, `accepted` or `revoked`; a pending one
    past `expires_at` reads as `expired`.
    """

    class Meta:
        table_name = None
        base_name = "invitations"

    id = UnicodeAttribute(hash_key=True)
    org_id = UnicodeAttribute()
    email = UnicodeAttribute()
    role = UnicodeAttribute()
    state = UnicodeAttribute()
    secret_hash = UnicodeAttribute()
    invited_by = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    expires_at = UTCDateTimeAttribute()
    accepted_at = UTCDateTimeAttribute(null=True)
    accepted_by = UnicodeAttribute(null=True)
    org_index = InvitationOrgIndex()


class PendingInvitation(PlatformModel):
    """At most one pending invitation per (organization, normalized email)."""

    class Meta:
        table_name = None
        base_name = "pending-invitations"

    org_id = UnicodeAttribute(hash_key=True)
    email = UnicodeAttribute(range_key=True)
    invitation_id = UnicodeAttribute()


class EmailClaim(PlatformModel):
    """A normalized email owned by exactly one user."""

    class Meta:
        table_name = None
        base_name = "email-claims"

    email = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()


class OutboxMessage(PlatformModel):
    """An email the platform sends (SES in AWS); locally admins read it here."""

    class Meta:
        table_name = None
        base_name = "outbox"

    org_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)
    to = UnicodeAttribute()
    subject = UnicodeAttribute()
    text = UnicodeAttribute()
    link = UnicodeAttribute()
    invitation_id = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    expires_at = NumberAttribute()


class AuditEvent(PlatformModel):
    """Who changed what, when: never a secret."""

    class Meta:
        table_name = None
        base_name = "audit-log"

    org_id = UnicodeAttribute(hash_key=True)
    sort_key = UnicodeAttribute(range_key=True)
    id = UnicodeAttribute()
    actor_id = UnicodeAttribute()
    action = UnicodeAttribute()
    target_type = UnicodeAttribute()
    target_id = UnicodeAttribute()
    details = MapAttribute(null=True)  # type: ignore[var-annotated]
    created_at = UTCDateTimeAttribute()


class Session(PlatformModel):
    """A browser sign-in: a short-lived access token and a rotating refresh token."""

    class Meta:
        table_name = None
        base_name = "sessions"

    id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()
    org_id = UnicodeAttribute()
    access_hash = UnicodeAttribute()
    access_expires_at = UTCDateTimeAttribute()
    refresh_hash = UnicodeAttribute()
    refresh_expires_at = UTCDateTimeAttribute()
    generation = NumberAttribute(default=0)
    state = UnicodeAttribute(default="active")
    created_at = UTCDateTimeAttribute()
    expires_at = NumberAttribute()


class LoginThrottle(PlatformModel):
    """Failed sign-ins per (email, client address) in one time window."""

    class Meta:
        table_name = None
        base_name = "login-throttle"

    key = UnicodeAttribute(hash_key=True)
    failures = NumberAttribute(default=0)
    expires_at = NumberAttribute()
