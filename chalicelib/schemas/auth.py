"""Auth, organizations and API tokens."""

from typing import Literal

from pydantic import Field

from chalicelib.schemas.common import Input, Wire


class UserPublic(Wire):
    id: str
    email: str
    first_name: str | None
    last_name: str | None


class VerifyPublic(Wire):
    user: UserPublic
    organization_id: str
    role: str | None
    auth_type: Literal["user", "api-key"]
    member_org_ids: list[str]


class OrganizationPublic(Wire):
    id: str
    name: str
    role: str | None
    is_current: bool


class OrganizationList(Wire):
    organizations: list[OrganizationPublic]


class TokenCreate(Input):
    name: str = Field(min_length=1, max_length=200)


class TokenPublic(Wire):
    id: str
    name: str
    obfuscated_value: str
    last_used_at: str | None
    created_at: str
    expires_at: str | None


class TokenCreated(Wire):
    token: TokenPublic
    secret: str


class TokenList(Wire):
    tokens: list[TokenPublic]
