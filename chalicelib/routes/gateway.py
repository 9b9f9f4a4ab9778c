"""`/v1/gateway`: projects, keys, provider bindings and the model catalogue.

Every member of the organization may read; only admins change anything.
"""

from datetime import UTC

from chalice import Blueprint

from chalicelib.errors import BadRequest, Forbidden
from chalicelib.http import Api, Call
from chalicelib.log import logger
from chalicelib.models import GatewayBinding, GatewayKey, GatewayProject
from chalicelib.schemas.common import Ok
from chalicelib.schemas.gateway import (
    BindingCreate,
    BindingEnvelope,
    BindingList,
    BindingPublic,
    GatewayKeyCreate,
    GatewayKeyCreated,
    GatewayKeyList,
    GatewayKeyPublic,
    GatewayProjectEnvelope,
    GatewayProjectList,
    GatewayProjectProvision,
    GatewayProjectPublic,
    GatewayProjectUpdate,
    GatewayProvisioned,
    ModelList,
    ModelPricing,
    ModelPublic,
)
from chalicelib.services.clock import iso, now
from chalicelib.services.gateway import keys
from chalicelib.services.gateway.catalogue import NANOS_PER_USD, get_catalogue
from chalicelib.services.gateway.memory import thresholds

bp = Blueprint(__name__)
api = Api(bp)
DEFAULT_PROJECT_NAME = "Gateway project"
FIRST_KEY_LABEL = "default"


def _admin(call: Call) -> None:
    if not call.principal.is_admin:
        raise Forbidden("Only organization admins can change gateway settings.")


def project_public(project: GatewayProject) -> GatewayProjectPublic:
    return GatewayProjectPublic(
        id=project.id,
        name=project.name,
        organization_id=project.org_id,
        log_retention_days=int(project.log_retention_days),
        memory_observe_tokens=thresholds(project)[0],
        memory_reflect_tokens=thresholds(project)[1],
        created_at=iso(project.created_at) or "",
        updated_at=iso(project.updated_at) or "",
    )


def key_public(key: GatewayKey) -> GatewayKeyPublic:
    limit = key.spend_limit_nanos
    return GatewayKeyPublic(
        id=key.id,
        project_id=key.project_id,
        label=key.label,
        prefix=key.prefix,
        created_at=iso(key.created_at) or "",
        last_used_at=iso(key.last_used_at),
        expires_at=iso(key.expires_at),
        allowed_models=[str(m) for m in key.allowed_models or []] or None,
        rate_limit_rpm=int(key.rate_limit_rpm) if key.rate_limit_rpm else None,
        spend_limit_usd=int(limit) / NANOS_PER_USD if limit is not None else None,
        spent_usd=int(key.spent_nanos or 0) / NANOS_PER_USD,
    )


def binding_public(binding: GatewayBinding) -> BindingPublic:
    return BindingPublic(
        provider=binding.provider,
        masked_key=binding.masked_key,
        created_at=iso(binding.created_at) or "",
    )


def _limits(body: GatewayKeyCreate) -> keys.KeyLimits:
    expires = body.expires_at
    if expires is not None:
        expires = expires if expires.tzinfo else expires.replace(tzinfo=UTC)
        if expires <= now():
            raise BadRequest(
                "The key would already be expired.",
                errors=[{"field": "expiresAt", "message": "must be in the future"}],
            )
    return keys.KeyLimits(
        label=body.label,
        expires_at=expires,
        allowed_models=body.allowed_models,
        rate_limit_rpm=body.rate_limit_rpm,
        spend_limit_nanos=(
            int(body.spend_limit_usd * NANOS_PER_USD)
            if body.spend_limit_usd is not None
            else None
        ),
    )


@api.route(
    "/v1/gateway/projects/provision", "POST", status=201, admin=True, idempotent=True
)
def provision_project(call: Call) -> GatewayProvisioned:
    """Create a project and its first key; the secret is shown only here."""
    _admin(call)
    body = call.body(GatewayProjectProvision)
    project = keys.create_project(
        call.principal.org_id, body.name or DEFAULT_PROJECT_NAME
    )
    key, secret = keys.create_key(project, keys.KeyLimits(label=FIRST_KEY_LABEL))
    logger.info("Gateway project provisioned", project_id=project.id, key_id=key.id)
    return GatewayProvisioned(
        project=project_public(project), key=key_public(key), secret=secret
    )


@api.route("/v1/gateway/projects", "GET")
def list_projects(call: Call) -> GatewayProjectList:
    projects = keys.list_projects(call.principal.org_id)
    return GatewayProjectList(projects=[project_public(p) for p in projects])


@api.route("/v1/gateway/projects/{project_id}", "GET")
def get_project(call: Call, project_id: str) -> GatewayProjectEnvelope:
    project = keys.get_project(call.principal.org_id, project_id)
    return GatewayProjectEnvelope(project=project_public(project))


@api.route("/v1/gateway/projects/{project_id}", "PATCH", admin=True)
def update_project(call: Call, project_id: str) -> GatewayProjectEnvelope:
    """Rename a project or change how long its request records are kept."""
    _admin(call)
    body = call.body(GatewayProjectUpdate)
    project = keys.get_project(call.principal.org_id, project_id)
    keys.update_project(
        project,
        body.name,
        body.log_retention_days,
        body.memory_observe_tokens,
        body.memory_reflect_tokens,
    )
    logger.info("Gateway project updated", project_id=project_id)
    return GatewayProjectEnvelope(project=project_public(project))


@api.route("/v1/gateway/projects/{project_id}", "DELETE", admin=True)
def delete_project(call: Call, project_id: str) -> Ok:
    """Delete a project; its keys are refused from the next request on."""
    _admin(call)
    project = keys.get_project(call.principal.org_id, project_id)
    keys.delete_project(project)
    logger.info("Gateway project deleted", project_id=project_id)
    return Ok()


@api.route("/v1/gateway/projects/{project_id}/keys", "GET")
def list_keys(call: Call, project_id: str) -> GatewayKeyList:
    project = keys.get_project(call.principal.org_id, project_id)
    return GatewayKeyList(keys=[key_public(k) for k in keys.list_keys(project)])


@api.route(
    "/v1/gateway/projects/{project_id}/keys",
    "POST",
    status=201,
    admin=True,
    idempotent=True,
)
def create_key(call: Call, project_id: str) -> GatewayKeyCreated:
    """Create a key; its secret is shown only in this response."""
    _admin(call)
    body = call.body(GatewayKeyCreate)
    project = keys.get_project(call.principal.org_id, project_id)
    key, secret = keys.create_key(project, _limits(body))
    logger.info("Gateway key created", project_id=project_id, key_id=key.id)
    return GatewayKeyCreated(key=key_public(key), secret=secret)


@api.route("/v1/gateway/projects/{project_id}/keys/{key_id}", "DELETE", admin=True)
def revoke_key(call: Call, project_id: str, key_id: str) -> Ok:
    """Revoke a key; the next request made with it is refused."""
    _admin(call)
    project = keys.get_project(call.principal.org_id, project_id)
    keys.revoke_key(keys.get_key(project, key_id))
    logger.info("Gateway key revoked", project_id=project_id, key_id=key_id)
    return Ok()


def _add_binding(call: Call, project: GatewayProject, scope: str) -> BindingEnvelope:
    _admin(call)
    body = call.body(BindingCreate)
    binding = keys.put_binding(
        project, scope, body.provider.strip().lower(), body.api_key.get_secret_value()
    )
    logger.info("Gateway binding set", scope=scope, provider=binding.provider)
    return BindingEnvelope(binding=binding_public(binding))


@api.route("/v1/gateway/projects/{project_id}/bindings", "GET")
def list_project_bindings(call: Call, project_id: str) -> BindingList:
    project = keys.get_project(call.principal.org_id, project_id)
    found = keys.list_bindings(keys.project_scope(project.id))
    return BindingList(bindings=[binding_public(b) for b in found])


@api.route("/v1/gateway/projects/{project_id}/bindings", "POST", status=201, admin=True)
def add_project_binding(call: Call, project_id: str) -> BindingEnvelope:
    """Bind a provider key (BYOK) for every key of the project."""
    project = keys.get_project(call.principal.org_id, project_id)
    return _add_binding(call, project, keys.project_scope(project.id))


@api.route(
    "/v1/gateway/projects/{project_id}/bindings/{provider}", "DELETE", admin=True
)
def remove_project_binding(call: Call, project_id: str, provider: str) -> Ok:
    _admin(call)
    project = keys.get_project(call.principal.org_id, project_id)
    keys.delete_binding(keys.project_scope(project.id), provider)
    logger.info("Gateway binding removed", project_id=project_id, provider=provider)
    return Ok()


@api.route("/v1/gateway/projects/{project_id}/keys/{key_id}/bindings", "GET")
def list_key_bindings(call: Call, project_id: str, key_id: str) -> BindingList:
    project = keys.get_project(call.principal.org_id, project_id)
    key = keys.get_key(project, key_id)
    found = keys.list_bindings(keys.key_scope(key.id))
    return BindingList(bindings=[binding_public(b) for b in found])


@api.route(
    "/v1/gateway/projects/{project_id}/keys/{key_id}/bindings",
    "POST",
    status=201,
    admin=True,
)
def add_key_binding(call: Call, project_id: str, key_id: str) -> BindingEnvelope:
    """Bind a provider key (BYOK) for one key; it beats the project's."""
    project = keys.get_project(call.principal.org_id, project_id)
    key = keys.get_key(project, key_id)
    return _add_binding(call, project, keys.key_scope(key.id))


@api.route(
    "/v1/gateway/projects/{project_id}/keys/{key_id}/bindings/{provider}",
    "DELETE",
    admin=True,
)
def remove_key_binding(call: Call, project_id: str, key_id: str, provider: str) -> Ok:
    _admin(call)
    project = keys.get_project(call.principal.org_id, project_id)
    key = keys.get_key(project, key_id)
    keys.delete_binding(keys.key_scope(key.id), provider)
    logger.info("Gateway binding removed", key_id=key_id, provider=provider)
    return Ok()


@api.route("/v1/gateway/models", "GET")
def list_models(call: Call) -> ModelList:
    """The model catalogue the gateway can route and price."""
    return ModelList(
        models=[
            ModelPublic(
                id=m.id,
                provider=m.provider,
                name=m.name,
                context_window=m.context_window,
                max_output_tokens=m.max_output_tokens,
                pricing=ModelPricing(
                    input=float(m.price.input),
                    output=float(m.price.output),
                    cached_input=float(m.price.cached_input),
                ),
            )
            for m in get_catalogue().models.values()
        ]
    )
