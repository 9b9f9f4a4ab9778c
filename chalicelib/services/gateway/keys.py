"""Gateway projects, keys and provider bindings (BYOK)."""

import contextlib
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, UpdateError
from pynamodb.expressions.update import Action

from chalicelib.errors import BadRequest, Conflict, NotFound
from chalicelib.models import GatewayBinding, GatewayKey, GatewayProject
from chalicelib.services.auth import hash_secret
from chalicelib.services.clock import new_id, now
from chalicelib.services.gateway.catalogue import get_catalogue
from chalicelib.services.sealing import seal, unseal
from chalicelib.settings import get_settings

# A public prefix that secret scanners can match.
KEY_PREFIX = "mgk_"
_KEY_SHAPE = re.compile(r"^mgk_([a-z2-7]{16})_[A-Za-z0-9_-]{32,128}$")
SHOWN_PREFIX_LENGTH = 12


class KeyRefused(Exception):
    """A gateway key that is missing, malformed, revoked or expired."""


@dataclass(frozen=True)
class KeyContext:
    """What a proxied request runs as: the key and its project."""

    key: GatewayKey
    project: GatewayProject


@dataclass(frozen=True)
class KeyLimits:
    label: str
    expires_at: datetime | None = None
    allowed_models: list[str] | None = None
    rate_limit_rpm: int | None = None
    spend_limit_nanos: int | None = None


def create_project(org_id: str, name: str) -> GatewayProject:
    stamp = now()
    project = GatewayProject(
        org_id,
        new_id("gwp"),
        name=name,
        log_retention_days=get_settings().gateway_log_retention_days,
        created_at=stamp,
        updated_at=stamp,
    )
    project.save(condition=GatewayProject.id.does_not_exist())
    return project


def list_projects(org_id: str) -> list[GatewayProject]:
    return list(GatewayProject.query(org_id))


def get_project(org_id: str, project_id: str) -> GatewayProject:
    """The org's project, or 404 (also for another org's project)."""
    try:
        return GatewayProject.get(org_id, project_id, consistent_read=True)
    except DoesNotExist:
        raise NotFound(f"Gateway project {project_id} not found.") from None


def update_project(
    project: GatewayProject, name: str | None, log_retention_days: int | None
) -> GatewayProject:
    actions: list[Action] = [GatewayProject.updated_at.set(now())]
    if name is not None:
        actions.append(GatewayProject.name.set(name))
    if log_retention_days is not None:
        actions.append(GatewayProject.log_retention_days.set(log_retention_days))
    try:
        project.update(actions=actions)
    except UpdateError:
        raise Conflict("The project changed meanwhile; read it and retry.") from None
    return project


def delete_project(project: GatewayProject) -> None:
    """Delete the project first, so its keys are refused from now on."""
    try:
        project.delete()
    except DeleteError:
        raise Conflict("The project changed meanwhile; read it and retry.") from None
    for key in GatewayKey.project_index.query(project.id):
        _delete_key_and_bindings(key)
    _delete_bindings(project_scope(project.id))


def create_key(project: GatewayProject, limits: KeyLimits) -> tuple[GatewayKey, str]:
    """Mint a key; the secret is returned here and never again."""
    _check_models(limits.allowed_models)
    body = new_id("k").removeprefix("k_")
    secret = f"{KEY_PREFIX}{body}_{secrets.token_urlsafe(32)}"
    key = GatewayKey(
        key_id_of_body(body),
        org_id=project.org_id,
        project_id=project.id,
        secret_hash=hash_secret(secret),
        prefix=secret[:SHOWN_PREFIX_LENGTH],
        label=limits.label,
        allowed_models=limits.allowed_models,
        rate_limit_rpm=limits.rate_limit_rpm,
        spend_limit_nanos=limits.spend_limit_nanos,
        committed_nanos=0,
        spent_nanos=0,
        created_at=now(),
        expires_at=limits.expires_at,
    )
    key.save(condition=GatewayKey.id.does_not_exist())
    return key, secret


def key_id_of_body(body: str) -> str:
    return f"gwk_{body}"


def list_keys(project: GatewayProject) -> list[GatewayKey]:
    return list(GatewayKey.project_index.query(project.id, scan_index_forward=False))


def get_key(project: GatewayProject, key_id: str) -> GatewayKey:
    try:
        key = GatewayKey.get(key_id, consistent_read=True)
    except DoesNotExist:
        key = None
    if key is None or key.project_id != project.id:
        raise NotFound(f"Gateway key {key_id} not found.")
    return key


def revoke_key(key: GatewayKey) -> None:
    """Delete the key; the next request made with it is refused."""
    _delete_key_and_bindings(key)


def _delete_key_and_bindings(key: GatewayKey) -> None:
    with contextlib.suppress(DeleteError):
        key.delete()
    _delete_bindings(key_scope(key.id))


def authenticate_key(secret: str | None) -> KeyContext:
    """The live key and project for `secret`, or raise KeyRefused."""
    if not secret:
        raise KeyRefused("Missing gateway key; send 'Authorization: Bearer mgk_...'.")
    match = _KEY_SHAPE.match(secret)
    if match is None:
        raise KeyRefused("The gateway key is malformed.")
    try:
        key = GatewayKey.get(key_id_of_body(match.group(1)), consistent_read=True)
    except DoesNotExist:
        raise KeyRefused("The gateway key is not valid or was revoked.") from None
    if not hmac.compare_digest(key.secret_hash, hash_secret(secret)):
        raise KeyRefused("The gateway key is not valid or was revoked.")
    if key.expires_at is not None and key.expires_at <= now():
        raise KeyRefused("The gateway key has expired.")
    try:
        project = GatewayProject.get(key.org_id, key.project_id, consistent_read=True)
    except DoesNotExist:
        raise KeyRefused("The gateway key's project was deleted.") from None
    return KeyContext(key, project)


def _check_models(models: list[str] | None) -> None:
    catalogue = get_catalogue()
    unknown = [m for m in models or [] if catalogue.model(m) is None]
    if unknown:
        raise BadRequest(
            "Some allowed models are not in the catalogue.",
            errors=[
                {"field": "allowedModels", "message": f"unknown model {m}"}
                for m in unknown
            ],
        )


def project_scope(project_id: str) -> str:
    return f"project#{project_id}"


def key_scope(key_id: str) -> str:
    return f"key#{key_id}"


def mask(api_key: str) -> str:
    if len(api_key) <= 8:
        return "…" + api_key[-2:]
    return f"{api_key[:3]}…{api_key[-4:]}"


def _binding_context(scope: str, provider: str) -> dict[str, str]:
    return {"purpose": "gateway-binding", "scope": scope, "provider": provider}


def put_binding(
    project: GatewayProject, scope: str, provider: str, api_key: str
) -> GatewayBinding:
    """Store (or replace) a provider key for `scope`, sealed with KMS."""
    if get_catalogue().provider(provider) is None:
        known = ", ".join(sorted(get_catalogue().providers))
        raise BadRequest(
            f"Unknown provider {provider}.",
            errors=[{"field": "provider", "message": f"must be one of {known}"}],
        )
    binding = GatewayBinding(
        scope,
        provider,
        org_id=project.org_id,
        project_id=project.id,
        sealed_key=seal(api_key.encode(), _binding_context(scope, provider)),
        masked_key=mask(api_key),
        created_at=now(),
    )
    binding.save()
    return binding


def list_bindings(scope: str) -> list[GatewayBinding]:
    return list(GatewayBinding.query(scope))


def delete_binding(scope: str, provider: str) -> None:
    try:
        GatewayBinding.get(scope, provider).delete()
    except DoesNotExist:
        raise NotFound(f"No binding for provider {provider}.") from None


def _delete_bindings(scope: str) -> None:
    for binding in GatewayBinding.query(scope):
        binding.delete()


@dataclass(frozen=True)
class Credential:
    api_key: str
    source: str  # "key", "project" or "platform"


def resolve_credential(context: KeyContext, provider: str) -> Credential | None:
    """Key-level binding, else project-level, else the platform's own key."""
    scopes = {
        key_scope(context.key.id): "key",
        project_scope(context.project.id): "project",
    }
    found = {
        b.scope: b
        for b in GatewayBinding.batch_get(
            [(scope, provider) for scope in scopes], consistent_read=True
        )
    }
    for scope, source in scopes.items():
        binding = found.get(scope)
        if binding is not None:
            return Credential(_unsealed(scope, provider, binding.sealed_key), source)
    catalogue_provider = get_catalogue().provider(provider)
    platform_key = catalogue_provider.platform_key() if catalogue_provider else None
    return Credential(platform_key, "platform") if platform_key else None


def _unsealed(scope: str, provider: str, blob: bytes) -> str:
    # The binding row is read on every request (so removal is immediate);
    # only the KMS decrypt is cached, keyed by the sealed bytes themselves.
    digest = hashlib.sha256(blob).hexdigest()
    return _unseal_cached(scope, provider, digest, blob)


@lru_cache(maxsize=512)
def _unseal_cached(scope: str, provider: str, digest: str, blob: bytes) -> str:
    return unseal(blob, _binding_context(scope, provider)).decode()


def touch_key(key: GatewayKey) -> None:
    """Record use at a coarse granularity, as API tokens do."""
    stamp = now()
    last = key.last_used_at
    if last is not None and (stamp - last).total_seconds() < 300:
        return
    try:
        key.update(
            actions=[GatewayKey.last_used_at.set(stamp)],
            condition=GatewayKey.id.exists(),
        )
    except (UpdateError, PutError):
        return
