"""The local organization, admin user and API token, stable across restarts."""

import json
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from pynamodb.exceptions import DoesNotExist

from chalicelib.models import ApiToken, Organization, User
from chalicelib.services import accounts
from chalicelib.services.auth import TOKEN_PREFIX, mint_token, token_id_of
from chalicelib.services.clock import new_id


@dataclass(frozen=True)
class Identity:
    org_id: str
    user_id: str
    email: str
    token: str


def load_or_create(path: Path) -> Identity:
    """Read the saved identity, or make a new one and save it (mode 0600)."""
    if path.exists():
        try:
            return Identity(**json.loads(path.read_text()))
        except (ValueError, TypeError):
            pass
    token_id = new_id("tok")
    identity = Identity(
        org_id=new_id("org"),
        user_id=new_id("usr"),
        email="admin@localhost",
        token=f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}",
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(json.dumps(asdict(identity), indent=2))
    return identity


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
    try:
        ApiToken.get(token_id_of(identity.token) or "")
    except DoesNotExist:
        mint_token(
            identity.org_id, identity.user_id, "local admin", secret=identity.token
        )
