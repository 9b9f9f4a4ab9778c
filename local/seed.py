"""The local organization, admin user and API token, stable across restarts."""

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from pynamodb.exceptions import DoesNotExist

from chalicelib.models import ApiToken, Organization, User
from chalicelib.services import accounts, passwords
from chalicelib.services.auth import TOKEN_PREFIX, mint_token, token_id_of
from chalicelib.services.clock import new_id


@dataclass(frozen=True)
class Identity:
    org_id: str
    user_id: str
    email: str
    token: str
    # The admin's sign-in password: PLATFORM_ADMIN_PASSWORD, else generated.
    password: str | None = None


def load_or_create(path: Path) -> Identity:
    """Read the saved identity, or make a new one and save it (mode 0600)."""
    if path.exists():
        try:
            saved = Identity(**json.loads(path.read_text()))
        except (ValueError, TypeError):
            pass
        else:
            return _with_password(saved, path)
    token_id = new_id("tok")
    identity = Identity(
        org_id=new_id("org"),
        user_id=new_id("usr"),
        email="admin@localhost",
        token=f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}",
        password=_wanted_password(None),
    )
    _save(identity, path)
    return identity


def _wanted_password(saved: str | None) -> str:
    return (
        os.environ.get("PLATFORM_ADMIN_PASSWORD") or saved or secrets.token_urlsafe(12)
    )


def _with_password(identity: Identity, path: Path) -> Identity:
    password = _wanted_password(identity.password)
    if password == identity.password:
        return identity
    updated = Identity(**{**asdict(identity), "password": password})
    _save(updated, path)
    return updated


def _save(identity: Identity, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(json.dumps(asdict(identity), indent=2))


def ensure(identity: Identity) -> None:
    """Create the org, user, admin membership and token if any is missing."""
    try:
        Organization.get(identity.org_id)
    except DoesNotExist:
        accounts.create_organization("Local", org_id=identity.org_id)
    try:
        User.get(identity.user_id)
    except DoesNotExist:
        accounts.create_user(identity.email, "Local", "Admin", user_id=identity.user_id)
    accounts.add_member(identity.org_id, identity.user_id, "admin")
    _ensure_password(identity)
    try:
        ApiToken.get(token_id_of(identity.token) or "")
    except DoesNotExist:
        mint_token(
            identity.org_id, identity.user_id, "local admin", secret=identity.token
        )


def _ensure_password(identity: Identity) -> None:
    """The admin can sign in (`mastra auth login`) with the identity's password."""
    if not identity.password:
        return
    user = User.get(identity.user_id)
    if passwords.verify_password(user.password_hash, identity.password):
        return
    user.update(
        actions=[User.password_hash.set(passwords.hash_password(identity.password))]
    )
