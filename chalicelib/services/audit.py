"""The audit log: who changed members, invitations and tokens, and when."""

from typing import Any

from chalicelib.log import logger
from chalicelib.models import AuditEvent
from chalicelib.services.clock import iso, new_id, now

ACTIONS = (
    "member.added",
    "member.role_changed",
    "member.removed",
    "invitation.created",
    "invitation.revoked",
    "invitation.accepted",
    "token.created",
    "token.revoked",
    "organization.created",
    "organization.renamed",
)


def record(
    org_id: str,
    actor_id: str,
    action: str,
    target_type: str,
    target_id: str,
    **details: str | None,
) -> AuditEvent:
    """Store one event. Callers pass ids and names only, never a secret."""
    assert action in ACTIONS, action
    stamp = now()
    event_id = new_id("evt")
    event = AuditEvent(
        org_id,
        f"{iso(stamp)}#{event_id}",
        id=event_id,
        actor_id=actor_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        details={k: v for k, v in details.items() if v is not None} or None,
        created_at=stamp,
    )
    event.save()
    logger.info("Audit event", action=action, org_id=org_id, target_id=target_id)
    return event


def events(org_id: str, limit: int = 100) -> list[AuditEvent]:
    """The newest events first."""
    return list(AuditEvent.query(org_id, scan_index_forward=False, limit=limit))


def details_of(event: AuditEvent) -> dict[str, Any]:
    return dict(event.details.as_dict()) if event.details is not None else {}
