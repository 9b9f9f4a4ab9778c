"""One request record per proxied request, and the usage counters it grows.

The record and every counter update go in one DynamoDB transaction: the
record is put only if its sort key is new, so a retried write cannot count
twice, and counters never drift from the records.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from chalicelib.log import logger
from chalicelib.models import GatewayRequest, GatewayUsage
from chalicelib.models.base import transaction
from chalicelib.services.clock import iso
from chalicelib.services.gateway.keys import KeyContext

GRANULARITY = "1h"
DIMENSIONS = ("all", "model", "provider", "api_key_id")


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class Outcome:
    """What happened to one proxied request, filled in as it runs."""

    request_id: str
    endpoint: str
    started_at: datetime
    is_stream: bool = False
    model: str | None = None
    provider: str | None = None
    status_code: int = 0
    usage: Usage = field(default_factory=Usage)
    cost_nanos: int = 0
    latency_ms: int = 0
    first_token_ms: int | None = None
    error: str | None = None
    source: str | None = None
    thread_id: str | None = None
    resource_id: str | None = None


def sort_key(outcome: Outcome) -> str:
    return f"{iso(outcome.started_at)}#{outcome.request_id}"


def hour_bucket(stamp: datetime) -> str:
    return iso(stamp.replace(minute=0, second=0, microsecond=0)) or ""


def counter_keys(context: KeyContext, outcome: Outcome) -> list[tuple[str, str]]:
    """(counter_key, bucket) for every dimension this request counts in."""
    project_id = context.project.id
    bucket = hour_bucket(outcome.started_at)
    values = {
        "all": "*",
        "model": outcome.model,
        "provider": outcome.provider,
        "api_key_id": context.key.id,
    }
    return [
        (f"{project_id}#{GRANULARITY}#{dimension}", f"{bucket}#{value}")
        for dimension, value in values.items()
        if value
    ]


def write(context: KeyContext, outcome: Outcome) -> None:
    """Store the record and grow the counters, atomically."""
    usage = outcome.usage
    retention = int(context.project.log_retention_days)
    expires = outcome.started_at + timedelta(days=retention)
    record = GatewayRequest(
        context.project.id,
        sort_key(outcome),
        request_id=outcome.request_id,
        org_id=context.project.org_id,
        key_id=context.key.id,
        key_label=context.key.label,
        key_prefix=context.key.prefix,
        model=outcome.model,
        provider=outcome.provider,
        source=outcome.source,
        endpoint=outcome.endpoint,
        status_code=outcome.status_code,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cached_tokens=usage.cached_tokens,
        total_tokens=usage.total_tokens,
        cost_nanos=outcome.cost_nanos,
        latency_ms=outcome.latency_ms,
        first_token_ms=outcome.first_token_ms,
        is_stream=outcome.is_stream,
        error=outcome.error,
        thread_id=outcome.thread_id,
        resource_id=outcome.resource_id,
        timestamp=outcome.started_at,
        expires_at=int(expires.timestamp()),
    )
    failed = 1 if outcome.status_code >= 400 else 0
    with transaction() as tx:
        tx.save(record, condition=GatewayRequest.sort_key.does_not_exist())
        for counter_key, bucket in counter_keys(context, outcome):
            tx.update(
                GatewayUsage(counter_key, bucket),
                actions=[
                    GatewayUsage.requests.add(1),
                    GatewayUsage.errors.add(failed),
                    GatewayUsage.prompt_tokens.add(usage.prompt_tokens),
                    GatewayUsage.completion_tokens.add(usage.completion_tokens),
                    GatewayUsage.cached_tokens.add(usage.cached_tokens),
                    GatewayUsage.total_tokens.add(usage.total_tokens),
                    GatewayUsage.cost_nanos.add(outcome.cost_nanos),
                    GatewayUsage.latency_ms.add(outcome.latency_ms),
                ],
            )
    logger.info(
        "Gateway request recorded",
        request_id=outcome.request_id,
        project_id=context.project.id,
        key_id=context.key.id,
        model=outcome.model,
        endpoint=outcome.endpoint,
        status_code=outcome.status_code,
        is_stream=outcome.is_stream,
        latency_ms=outcome.latency_ms,
    )
