"""PynamoDB tables: the one definition of each."""

from chalicelib.models.accounts import ApiToken, Membership, Organization, User
from chalicelib.models.base import PlatformModel
from chalicelib.models.deploys import Deploy, DeployLog
from chalicelib.models.gateway import (
    GatewayBinding,
    GatewayKey,
    GatewayProject,
    GatewayRateWindow,
    GatewayRequest,
    GatewayUsage,
)
from chalicelib.models.idempotency import IdempotencyRecord
from chalicelib.models.members import (
    AuditEvent,
    EmailClaim,
    Invitation,
    LoginThrottle,
    OutboxMessage,
    PendingInvitation,
    Session,
)
from chalicelib.models.memory import MemoryMessage, MemoryObservation, MemoryThread
from chalicelib.models.operations import Domain, ProjectEnv, RuntimeLog
from chalicelib.models.projects import Project, UniqueClaim

ALL_MODELS: tuple[type[PlatformModel], ...] = (
    Organization,
    User,
    Membership,
    ApiToken,
    Project,
    UniqueClaim,
    Deploy,
    DeployLog,
    ProjectEnv,
    Domain,
    RuntimeLog,
    Invitation,
    PendingInvitation,
    EmailClaim,
    OutboxMessage,
    AuditEvent,
    Session,
    LoginThrottle,
    GatewayProject,
    GatewayKey,
    GatewayBinding,
    GatewayRequest,
    GatewayUsage,
    GatewayRateWindow,
    IdempotencyRecord,
    MemoryThread,
    MemoryMessage,
    MemoryObservation,
)

# DynamoDB time-to-live attribute per table, where rows expire.
TTL_ATTRIBUTES = {
    DeployLog: "expires_at",
    RuntimeLog: "expires_at",
    OutboxMessage: "expires_at",
    Session: "expires_at",
    LoginThrottle: "expires_at",
    GatewayRequest: "expires_at",
    GatewayRateWindow: "expires_at",
    IdempotencyRecord: "expiration",
}

__all__ = [
    "ALL_MODELS",
    "TTL_ATTRIBUTES",
    "ApiToken",
    "AuditEvent",
    "Deploy",
    "DeployLog",
    "Domain",
    "EmailClaim",
    "GatewayBinding",
    "GatewayKey",
    "GatewayProject",
    "GatewayRateWindow",
    "GatewayRequest",
    "GatewayUsage",
    "IdempotencyRecord",
    "Invitation",
    "LoginThrottle",
    "Membership",
    "MemoryMessage",
    "MemoryObservation",
    "MemoryThread",
    "Organization",
    "OutboxMessage",
    "PendingInvitation",
    "PlatformModel",
    "Project",
    "ProjectEnv",
    "RuntimeLog",
    "Session",
    "UniqueClaim",
    "User",
]
