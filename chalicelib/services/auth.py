"""API tokens and the caller behind each request."""

import contextlib
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from pynamodb.exceptions import DoesNotExist, UpdateError

from chalicelib.errors import Forbidden, NotFound, Unauthorized
from chalicelib.models import ApiToken, Membership, Organization, User
from chalicelib.services.clock import new_id, now

TOKEN_PREFIX = "mpt_"  # noqa: S105 - a public prefix, not a secret
ACCESS_TOKEN_PREFIX = "mpt_at_"  # noqa: S105 - sign-in access tokens
_TOKEN_SHAPE = re.compile(r"^mpt_(tok_[a-z2-7]{16})_[A-Za-z0-9_-]{32,128}$")
LAST_USED_GRANULARITY = timedelta(minutes=5)


@dataclass(frozen=True)
class Principal:
    """Who is calling, and in which organization."""

    user: User
    org_id: str
    role: str
    token_id: str
    auth_type: str = "api-key"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def hash_secret(secret: str) -> str:
    # Secrets are 256-bit random values, so a fast hash is enough here.
    return hashlib.sha256(secret.encode()).hexdigest()


def obfuscate(secret: str) -> str:
    return f"{secret[:8]}…{secret[-4:]}"


def mint_token(
    org_id: str,
    user_id: str,
    name: str,
    expires_at: datetime | None = None,
    secret: str | None = None,
) -> tuple[ApiToken, str]:
    """Create and store a token; the secret is returned here and never again."""
    token_id = token_id_of(secret) if secret else new_id("tok")
    if secret is None:
        secret = f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    token = ApiToken(
        token_id,
        secret_hash=hash_secret(secret),
        org_id=org_id,
        user_id=user_id,
        name=name,
        obfuscated_value=obfuscate(secret),
        created_at=now(),
        expires_at=expires_at,
    )
    token.save(condition=ApiToken.id.does_not_exist())
    return token, secret


def token_id_of(secret: str) -> str | None:
    """The token id embedded in `mpt_<id>_<random>`, or None if malformed."""
    match = _TOKEN_SHAPE.fullmatch(secret)
    return match.group(1) if match else None


def bearer_secret(authorization: str | None) -> str:
    if not authorization:
        raise Unauthorized("Missing Authorization header; send 'Bearer <token>'.")
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized("Authorization header must be 'Bearer <token>'.")
    return value.strip()


def load_token(secret: str) -> ApiToken:
    """Return the live token for `secret`, or raise 401."""
    token_id = token_id_of(secret)
    if token_id is None:
        raise Unauthorized("The API token is malformed.")
    try:
        token = ApiToken.get(token_id, consistent_read=True)
    except DoesNotExist:
        raise Unauthorized("The API token is not valid or was revoked.") from None
    if not hmac.compare_digest(token.secret_hash, hash_secret(secret)):
        raise Unauthorized("The API token is not valid or was revoked.")
    if token.expires_at is not None and token.expires_at <= now():
        raise Unauthorized("The API token has expired.")
    return token


def authenticate(headers: dict[str, str]) -> Principal:
    """Resolve the bearer token and the `x-organization-id` it acts in."""
    secret = bearer_secret(headers.get("authorization"))
    if secret.startswith(ACCESS_TOKEN_PREFIX):
        return _authenticate_session(secret, headers)
    token = load_token(secret)
    try:
        user = User.get(token.user_id)
    except DoesNotExist:
        raise Unauthorized("The API token's user no longer exists.") from None
    org_id = (headers.get("x-organization-id") or "").strip() or token.org_id
    membership = membership_of(org_id, user.id)
    _touch(token)
    return Principal(user, org_id, membership.role, token.id)


def _authenticate_session(secret: str, headers: dict[str, str]) -> Principal:
    # Access tokens of browser sign-ins (`mastra auth login`), see sessions.py.
    from chalicelib.services.sessions import load_access

    session = load_access(secret)
    try:
        user = User.get(session.user_id)
    except DoesNotExist:
        raise Unauthorized("The signed-in user no longer exists.") from None
    org_id = (headers.get("x-organization-id") or "").strip() or session.org_id
    membership = membership_of(org_id, user.id)
    return Principal(user, org_id, membership.role, session.id, auth_type="user")


def membership_of(org_id: str, user_id: str) -> Membership:
    """The caller's membership in `org_id`: 404 if unknown, 403 if foreign."""
    try:
        return Membership.get(org_id, user_id)
    except DoesNotExist:
        pass
    try:
        Organization.get(org_id)
    except DoesNotExist:
        raise NotFound(f"Organization {org_id} not found.") from None
    raise Forbidden(f"You are not a member of organization {org_id}.")


def _touch(token: ApiToken) -> None:
    # Record use at a coarse granularity so requests do not each write.
    stamp = now()
    last = token.last_used_at
    if last is not None and stamp - last < LAST_USED_GRANULARITY:
        return
    # A token revoked meanwhile fails the condition; the next request is refused.
    with contextlib.suppress(UpdateError):
        token.update(
            actions=[ApiToken.last_used_at.set(stamp)],
            condition=ApiToken.id.exists(),
        )
