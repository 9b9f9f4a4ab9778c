"""Gateway projects, keys and provider bindings (BYOK)."""

import contextlib
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, UpdateError
from pynamodb.expressions.update import Action

from chalicelib.aws import client
from chalicelib.errors import BadRequest, Conflict, NotFound
from chalicelib.models import GatewayBinding, GatewayKey, GatewayProject
from chalicelib.services.auth import hash_secret
from chalicelib.services.clock import new_id, now
from chalicelib.services.gateway.catalogue import get_catalogue
from chalicelib.services.gateway.leases import LeaseTable
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
    # Bindings for `provider` read together with the key (scope -> binding).
    provider: str | None = None
    bindings: dict[str, GatewayBinding] = field(
        default_factory=dict, compare=False, hash=False
    )


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
    project: GatewayProject,
    name: str | None,
    log_retention_days: int | None,
    memory_observe_tokens: int | None = None,
    memory_reflect_tokens: int | None = None,
) -> GatewayProject:
    actions: list[Action] = [GatewayProject.updated_at.set(now())]
    if name is not None:
        actions.append(GatewayProject.name.set(name))
    if log_retention_days is not None:
        actions.append(GatewayProject.log_retention_days.set(log_retention_days))
    if memory_observe_tokens is not None:
        actions.append(GatewayProject.memory_observe_tokens.set(memory_observe_tokens))
    if memory_reflect_tokens is not None:
        actions.append(GatewayProject.memory_reflect_tokens.set(memory_reflect_tokens))
    try:
        project.update(actions=actions)
    except UpdateError:
        raise Conflict("The project changed meanwhile; read it and retry.") from None
    _contexts.changed()
    return project


def delete_project(project: GatewayProject) -> None:
    """Delete the project first, so its keys are refused from now on."""
    try:
        project.delete()
    except DeleteError:
        raise Conflict("The project changed meanwhile; read it and retry.") from None
    try:
        for key in GatewayKey.project_index.query(project.id):
            _delete_key_and_bindings(key)
        _delete_bindings(project_scope(project.id))
    finally:
        _contexts.changed()


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
    try:
        _delete_key_and_bindings(key)
    finally:
        _contexts.changed()


def _delete_key_and_bindings(key: GatewayKey) -> None:
    with contextlib.suppress(DeleteError):
        key.delete()
    _delete_bindings(key_scope(key.id))


def authenticate_key(secret: str | None, provider: str | None = None) -> KeyContext:
    """The live key and project for `secret`, or raise KeyRefused.

    With `provider`, the key- and project-level bindings for it are read in
    the same BatchGetItem as the key and project (strongly consistent), so
    a proxied call costs one read round trip once the key's project is
    known; a key's project never changes. What was read is then leased for
    the next requests (see leases.py), so most requests read nothing.
    """
    context = held_context(secret, provider)
    if context is not None:
        return context
    return _read_and_keep(_key_id_of(secret), secret, provider)


def _read_and_keep(key_id: str, secret: str | None, provider: str | None) -> KeyContext:
    begun = _contexts.begin()
    context = _read_context(key_id, provider)
    _check_secret(context.key, secret)
    _contexts.keep((key_id, provider), context, begun)
    return context


def lease_due(secret: str | None, provider: str | None) -> bool:
    """Whether the caller should `renew_lease` (see LeaseTable.due)."""
    return _contexts.due((_key_id_of(secret), provider))


def renew_lease(secret: str | None, provider: str | None) -> None:
    """Read a leased context again, off the request path; a key found
    revoked or changed meanwhile loses its lease at once."""
    key_id = _key_id_of(secret)
    try:
        _read_and_keep(key_id, secret, provider)
    except KeyRefused:
        _contexts.drop((key_id, provider))
    except Exception:
        _contexts.drop((key_id, provider))
        raise


def held_context(secret: str | None, provider: str | None) -> KeyContext | None:
    """The leased context for `secret`, checked, without any I/O; else None."""
    context = _contexts.get((_key_id_of(secret), provider))
    if context is not None:
        _check_secret(context.key, secret)
    return context


_contexts: LeaseTable[KeyContext] = LeaseTable(
    lambda: get_settings().gateway_key_lease_seconds
)


def forget_leases() -> None:
    """Drop this process's leased key contexts (no wait; for tests)."""
    _contexts.forget()


def _key_id_of(secret: str | None) -> str:
    if not secret:
        raise KeyRefused("Missing gateway key; send 'Authorization: Bearer mgk_...'.")
    match = _KEY_SHAPE.match(secret)
    if match is None:
        raise KeyRefused("The gateway key is malformed.")
    return key_id_of_body(match.group(1))


def _check_secret(key: GatewayKey, secret: str | None) -> None:
    if not hmac.compare_digest(key.secret_hash, hash_secret(secret or "")):
        raise KeyRefused("The gateway key is not valid or was revoked.")
    if key.expires_at is not None and key.expires_at <= now():
        raise KeyRefused("The gateway key has expired.")


def _read_context(key_id: str, provider: str | None) -> KeyContext:
    owner = _KEY_OWNERS.get(key_id)
    found = _read_together(key_id, owner, provider)
    key = found.get(("key", key_id))
    if not isinstance(key, GatewayKey):
        raise KeyRefused("The gateway key is not valid or was revoked.")
    if owner != (key.org_id, key.project_id):
        owner = (key.org_id, key.project_id)
        if len(_KEY_OWNERS) >= KEY_OWNERS_CACHED:
            _KEY_OWNERS.clear()
        _KEY_OWNERS[key_id] = owner
        found.update(_read_together(None, owner, provider))
    project = found.get(("project", owner[1]))
    if not isinstance(project, GatewayProject):
        raise KeyRefused("The gateway key's project was deleted.")
    bindings = {
        item.scope: item
        for item in found.values()
        if isinstance(item, GatewayBinding)
        and item.scope in (key_scope(key.id), project_scope(project.id))
    }
    return KeyContext(key, project, provider, bindings)


# key id -> (org id, project id): fixed for a key's life, so safe to keep.
_KEY_OWNERS: dict[str, tuple[str, str]] = {}
KEY_OWNERS_CACHED = 10_000
_Found = GatewayKey | GatewayProject | GatewayBinding


def _read_together(
    key_id: str | None, owner: tuple[str, str] | None, provider: str | None
) -> dict[tuple[str, str], _Found]:
    """One consistent BatchGetItem over the key, project and binding tables."""
    wanted: dict[type[_Found], list[dict[str, dict[str, str]]]] = {}
    if key_id is not None:
        wanted[GatewayKey] = [{"id": {"S": key_id}}]
    if owner is not None:
        wanted[GatewayProject] = [{"org_id": {"S": owner[0]}, "id": {"S": owner[1]}}]
    if provider is not None:
        scopes = [key_scope(key_id)] if key_id is not None else []
        if owner is not None:
            scopes.append(project_scope(owner[1]))
        if scopes:
            wanted[GatewayBinding] = [
                {"scope": {"S": scope}, "provider": {"S": provider}} for scope in scopes
            ]
    models = {model.table_name(): model for model in wanted}
    request = {
        model.table_name(): {"Keys": keys, "ConsistentRead": True}
        for model, keys in wanted.items()
    }
    found: dict[tuple[str, str], _Found] = {}
    while request:
        answer = client("dynamodb").batch_get_item(RequestItems=request)
        for table, items in answer.get("Responses", {}).items():
            for item in items:
                loaded = models[table].from_raw_data(item)
                found[_identity(loaded)] = loaded
        request = answer.get("UnprocessedKeys") or {}
    return found


def _identity(item: _Found) -> tuple[str, str]:
    if isinstance(item, GatewayKey):
        return ("key", item.id)
    if isinstance(item, GatewayProject):
        return ("project", item.id)
    return ("binding", f"{item.scope}#{item.provider}")


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
    try:
        binding.save()
    finally:
        _contexts.changed()
    return binding


def list_bindings(scope: str) -> list[GatewayBinding]:
    return list(GatewayBinding.query(scope))


def delete_binding(scope: str, provider: str) -> None:
    try:
        binding = GatewayBinding.get(scope, provider)
    except DoesNotExist:
        raise NotFound(f"No binding for provider {provider}.") from None
    try:
        binding.delete()
    finally:
        _contexts.changed()


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
    if context.provider == provider:
        found = context.bindings
    else:
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


def credential_in_memory(context: KeyContext, provider: str) -> bool:
    """Whether `resolve_credential` can answer without any I/O."""
    if context.provider != provider:
        return False
    return all(
        _digest(b.scope, provider, b.sealed_key) in _unsealed_keys
        for b in context.bindings.values()
    )


# The binding row is read on every request (so removal is immediate); only
# the KMS decrypt is cached, keyed by scope, provider and the sealed bytes.
_unsealed_keys: dict[str, str] = {}
UNSEALED_CACHED = 512


def _digest(scope: str, provider: str, blob: bytes) -> str:
    return hashlib.sha256(f"{scope}\0{provider}\0".encode() + blob).hexdigest()


def _unsealed(scope: str, provider: str, blob: bytes) -> str:
    digest = _digest(scope, provider, blob)
    plain = _unsealed_keys.get(digest)
    if plain is None:
        plain = unseal(blob, _binding_context(scope, provider)).decode()
        if len(_unsealed_keys) >= UNSEALED_CACHED:
            _unsealed_keys.clear()
        _unsealed_keys[digest] = plain
    return plain


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
