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
    GatewayProject,
    GatewayKey,
    GatewayBinding,
    GatewayRequest,
    GatewayUsage,
    GatewayRateWindow,
)

# DynamoDB time-to-live attribute per table, where rows expire.
TTL_ATTRIBUTES = {
    DeployLog: "expires_at",
    RuntimeLog: "expires_at",
    GatewayRequest: "expires_at",
    GatewayRateWindow: "expires_at",
}

__all__ = [
    "ALL_MODELS",
    "TTL_ATTRIBUTES",
    "ApiToken",
    "Deploy",
    "DeployLog",
    "Domain",
    "GatewayBinding",
    "GatewayKey",
    "GatewayProject",
    "GatewayRateWindow",
    "GatewayRequest",
    "GatewayUsage",
    "Membership",
    "Organization",
    "PlatformModel",
    "Project",
    "ProjectEnv",
    "RuntimeLog",
    "UniqueClaim",
    "User",
]
