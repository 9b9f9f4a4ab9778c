"""Gateway management: projects, keys, provider bindings, the model catalogue."""

from datetime import datetime
from decimal import Decimal

from pydantic import Field, SecretStr

from chalicelib.schemas.common import Input, Wire


class GatewayProjectProvision(Input):
    name: str | None = Field(None, min_length=1, max_length=200)


class GatewayProjectUpdate(Input):
    name: str | None = Field(None, min_length=1, max_length=200)
    log_retention_days: int | None = Field(None, ge=1, le=400)
    # Observational memory thresholds, in estimated tokens (issue 6).
    memory_observe_tokens: int | None = Field(None, ge=50, le=10_000_000)
    memory_reflect_tokens: int | None = Field(None, ge=50, le=10_000_000)


class GatewayProjectPublic(Wire):
    id: str
    name: str
    organization_id: str
    log_retention_days: int
    memory_observe_tokens: int
    memory_reflect_tokens: int
    created_at: str
    updated_at: str


class GatewayProjectEnvelope(Wire):
    project: GatewayProjectPublic


class GatewayProjectList(Wire):
    projects: list[GatewayProjectPublic]


class GatewayKeyCreate(Input):
    label: str = Field(min_length=1, max_length=200)
    expires_at: datetime | None = None
    allowed_models: list[str] | None = Field(None, min_length=1, max_length=200)
    rate_limit_rpm: int | None = Field(None, ge=1, le=1_000_000)
    spend_limit_usd: Decimal | None = Field(None, gt=0, le=1_000_000, decimal_places=9)


class GatewayKeyPublic(Wire):
    id: str
    project_id: str
    label: str
    prefix: str
    created_at: str
    last_used_at: str | None
    expires_at: str | None
    allowed_models: list[str] | None
    rate_limit_rpm: int | None
    spend_limit_usd: float | None
    spent_usd: float


class GatewayKeyCreated(Wire):
    key: GatewayKeyPublic
    secret: str


class GatewayKeyList(Wire):
    keys: list[GatewayKeyPublic]


class GatewayProvisioned(Wire):
    project: GatewayProjectPublic
    key: GatewayKeyPublic
    secret: str


class BindingCreate(Input):
    provider: str = Field(min_length=1, max_length=64)
    api_key: SecretStr = Field(min_length=8, max_length=4096)


class BindingPublic(Wire):
    provider: str
    masked_key: str
    created_at: str


class BindingEnvelope(Wire):
    binding: BindingPublic


class BindingList(Wire):
    bindings: list[BindingPublic]


class ModelPricing(Wire):
    """USD per token."""

    input: float
    output: float
    cached_input: float


class ModelPublic(Wire):
    id: str
    provider: str
    name: str
    context_window: int
    max_output_tokens: int
    pricing: ModelPricing


class ModelList(Wire):
    models: list[ModelPublic]
