"""Auth, organizations and API tokens."""

from datetime import UTC, datetime
from typing import Literal

from pydantic import AwareDatetime, Field, field_validator

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
    expires_at: AwareDatetime | None = None

    @field_validator("name")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("expires_at")
    @classmethod
    def _in_future(cls, value: datetime | None) -> datetime | None:
        if value is not None and value <= datetime.now(UTC):
            raise ValueError("must be in the future")
        return value


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
