"""Gateway usage reads. These public shapes are snake_case (the platform's
own types say so), except memory activity, which is camelCase."""

from typing import Any

from pydantic import BaseModel, ConfigDict

from chalicelib.schemas.common import Wire


class HasActivity(BaseModel):
    has_activity: bool


class ActivityBucket(BaseModel):
    """Metrics of one period; group fields (model, api_key_id, ...) beside."""

    model_config = ConfigDict(extra="allow")

    request_count: int
    error_count: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cached_tokens: int
    cache_write_tokens: int
    uncached_tokens: int
    cache_hit_rate: float
    cost_usd: float
    error_rate: float
    avg_cost_per_request: float
    timestamp: str


class Activity(BaseModel):
    project_id: str
    from_: str
    to: str
    granularity: str
    group_by: list[str]
    data: list[ActivityBucket]

    model_config = ConfigDict(
        alias_generator=lambda name: "from" if name == "from_" else name,
        populate_by_name=True,
    )


class MemoryBucket(Wire):
    bucket: str
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    api_key_id: str | None = None
    api_key_label: str | None = None
    api_key_prefix: str | None = None


class MemoryActivity(Wire):
    project_id: str
    from_: str
    to: str
    granularity: str
    data: list[MemoryBucket]

    model_config = ConfigDict(
        alias_generator=lambda name: (
            "from" if name == "from_" else name[0] + name.title().replace("_", "")[1:]
        ),
        populate_by_name=True,
    )


class RequestLog(BaseModel):
    request_id: str
    api_key_id: str | None
    api_key_label: str | None
    api_key_prefix: str | None
    model: str
    provider: str
    source: str
    source_category: str
    endpoint: str
    status_code: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cached_tokens: int
    cache_write_tokens: int
    cost_usd: float
    latency_ms: int
    is_stream: bool
    error: str | None
    generation_id: str | None
    thread_id: str | None
    resource_id: str | None
    message_ids: list[str]
    timestamp: str


class Logs(BaseModel):
    project_id: str
    from_: str
    to: str
    logs: list[RequestLog]
    has_more: bool

    model_config = ConfigDict(
        alias_generator=lambda name: "from" if name == "from_" else name,
        populate_by_name=True,
    )


class FacetValue(BaseModel):
    value: str
    count: int


class Facets(BaseModel):
    status_code: list[FacetValue]
    model: list[FacetValue]
    provider: list[FacetValue]
    source: list[FacetValue]
    source_category: list[FacetValue]
    has_error: list[FacetValue]
    endpoint: list[FacetValue]
    is_stream: list[FacetValue]


class LogMessage(Wire):
    id: str
    thread_id: str
    role: str
    content: Any
    type: str
    created_at: str


class LogDetail(BaseModel):
    log: RequestLog
    messages: list[LogMessage]
