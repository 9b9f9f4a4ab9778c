"""One request record per proxied request, and the usage counters it grows.

The record and every counter update go in one DynamoDB transaction: the
record is put only if its sort key is new, so a retried write cannot count
twice, and counters never drift from the records.
"""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pynamodb.exceptions import TransactWriteError

from chalicelib.log import logger
from chalicelib.models import GatewayRequest, GatewayUsage
from chalicelib.models.base import transaction
from chalicelib.services.clock import iso
from chalicelib.services.gateway.keys import KeyContext

GRANULARITY = "1h"
# The `combo` counters are also kept per day, so reads over whole days take
# one row per day and combination instead of 24.
DAILY = "1d"
DIMENSIONS = ("all", "model", "provider", "api_key_id", "source_category")
# The facet values of a request, in the order the `combo` counter keeps them.
COMBO_FIELDS = (
    "model",
    "provider",
    "source",
    "source_category",
    "api_key_id",
    "status_code",
    "endpoint",
    "is_stream",
)


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0

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
    message_ids: list[str] | None = None
    generation_id: str | None = None


def source_category(source: str | None) -> str:
    """`byok` for a key or project binding, `platform` for the platform's key."""
    if source in ("key", "project"):
        return "byok"
    return source or "none"


def combo_value(context: KeyContext, outcome: Outcome) -> str:
    values = [
        outcome.model or "",
        outcome.provider or "",
        outcome.source or "",
        source_category(outcome.source),
        context.key.id,
        outcome.status_code,
        outcome.endpoint,
        outcome.is_stream,
    ]
    return json.dumps(values, separators=(",", ":"))


def sort_key(outcome: Outcome) -> str:
    return f"{iso(outcome.started_at)}#{outcome.request_id}"


def hour_bucket(stamp: datetime) -> str:
    return iso(stamp.replace(minute=0, second=0, microsecond=0)) or ""


def day_bucket(stamp: datetime) -> str:
    return iso(stamp.replace(hour=0, minute=0, second=0, microsecond=0)) or ""


def combo_splits(key_id: str | None, model: str | None, error: bool) -> list[str]:
    """The `combo` partitions a request (or a filter) with these values has.

    `combo` holds every combination; `combo@key=..`, `combo@model=..` and
    `combo@error` (sparse: status 400 and above) hold those of one value, so
    a read filtered on it Queries only those.
    """
    splits = ["combo"]
    if error:
        splits.append("combo@error")
    if key_id:
        splits.append(f"combo@key={key_id}")
    if model:
        splits.append(f"combo@model={model}")
    return splits


def counter_keys(context: KeyContext, outcome: Outcome) -> list[tuple[str, str]]:
    """(counter_key, bucket) for every dimension this request counts in."""
    project_id = context.project.id
    bucket = hour_bucket(outcome.started_at)
    values = {
        "all": "*",
        "model": outcome.model,
        "provider": outcome.provider,
        "api_key_id": context.key.id,
        "source_category": source_category(outcome.source),
    }
    combo = combo_value(context, outcome)
    splits = combo_splits(context.key.id, outcome.model, outcome.status_code >= 400)
    values.update({split: combo for split in splits})
    day = day_bucket(outcome.started_at.astimezone(UTC))
    return [
        (f"{project_id}#{GRANULARITY}#{dimension}", f"{bucket}#{value}")
        for dimension, value in values.items()
        if value
    ] + [(f"{project_id}#{DAILY}#{split}", f"{day}#{combo}") for split in splits]


def _record(context: KeyContext, outcome: Outcome) -> GatewayRequest:
    usage = outcome.usage
    retention = int(context.project.log_retention_days)
    expires = outcome.started_at + timedelta(days=retention)
    return GatewayRequest(
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
        source_category=source_category(outcome.source),
        endpoint=outcome.endpoint,
        status_code=outcome.status_code,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cached_tokens=usage.cached_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        total_tokens=usage.total_tokens,
        cost_nanos=outcome.cost_nanos,
        latency_ms=outcome.latency_ms,
        first_token_ms=outcome.first_token_ms,
        is_stream=outcome.is_stream,
        error=outcome.error,
        thread_id=outcome.thread_id,
        resource_id=outcome.resource_id,
        message_ids=outcome.message_ids,
        generation_id=outcome.generation_id,
        timestamp=outcome.started_at,
        expires_at=int(expires.timestamp()),
        combo=f"{context.project.id}#{combo_value(context, outcome)}",
        thread_partition=_partition(context, outcome.thread_id),
        resource_partition=_partition(context, outcome.resource_id),
    )


def _partition(context: KeyContext, value: str | None) -> str | None:
    return f"{context.project.id}#{value}" if value else None


COUNTED = (
    "requests",
    "errors",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "total_tokens",
    "cost_nanos",
    "latency_ms",
    "cache_write_tokens",
)


def _counts(outcome: Outcome) -> list[int]:
    usage = outcome.usage
    return [
        1,
        1 if outcome.status_code >= 400 else 0,
        usage.prompt_tokens,
        usage.completion_tokens,
        usage.cached_tokens,
        usage.total_tokens,
        outcome.cost_nanos,
        outcome.latency_ms,
        usage.cache_write_tokens,
    ]


def write(context: KeyContext, outcome: Outcome) -> None:
    """Store the record and grow the counters, atomically."""
    write_many([(context, outcome)])


# DynamoDB allows 100 items per transaction: a record and its counters
# (every dimension, and `combo` with at most three `combo@` splits, hourly
# and daily) take 1 + len(DIMENSIONS) + 8 of them.
MAX_BATCH = 100 // (1 + len(DIMENSIONS) + 8)


def write_many(items: list[tuple[KeyContext, Outcome]]) -> None:
    """Store records and grow their counters in one transaction.

    Counter updates for the same item are summed (a transaction touches an
    item once). A record that already exists (a retry after a write whose
    answer was lost) cancels the transaction; the records are then written
    one by one, skipping those already stored, so nothing counts twice.
    """
    if len(items) > MAX_BATCH:
        for start in range(0, len(items), MAX_BATCH):
            write_many(items[start : start + MAX_BATCH])
        return
    try:
        _transact(items)
    except TransactWriteError as exc:
        if not _duplicate(exc):
            raise
        for item in items:
            try:
                _transact([item])
            except TransactWriteError as single:
                if not _duplicate(single):
                    raise
    for context, outcome in items:
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


def record_rows(
    items: list[tuple[KeyContext, Outcome]],
) -> tuple[list[GatewayRequest], dict[tuple[str, str], dict[str, int]]]:
    """The records for `items` and what each counter row grows by
    ((counter key, bucket) -> {counted attribute: sum})."""
    totals: dict[tuple[str, str], dict[str, int]] = {}
    for context, outcome in items:
        counts = dict(zip(COUNTED, _counts(outcome), strict=True))
        for counter in counter_keys(context, outcome):
            total = totals.setdefault(counter, dict.fromkeys(COUNTED, 0))
            for name, value in counts.items():
                total[name] += value
    return [_record(context, outcome) for context, outcome in items], totals


def _transact(items: list[tuple[KeyContext, Outcome]]) -> None:
    rows, totals = record_rows(items)
    with transaction() as tx:
        for row in rows:
            tx.save(row, condition=GatewayRequest.sort_key.does_not_exist())
        for (counter_key, bucket), total in totals.items():
            tx.update(
                GatewayUsage(counter_key, bucket),
                actions=[
                    getattr(GatewayUsage, name).add(value)
                    for name, value in total.items()
                ],
            )


def _duplicate(exc: TransactWriteError) -> bool:
    reasons = exc.cancellation_reasons or []
    return any(r is not None and r.code == "ConditionalCheckFailed" for r in reasons)


def memory_counter_key(project_id: str) -> str:
    return f"{project_id}#{GRANULARITY}#memory"


def write_memory_usage(
    project_id: str, key_id: str, stamp: datetime, usage: Usage, cost_nanos: int
) -> None:
    """Count an observer or reflector call as memory tokens of `key_id`."""
    counter = GatewayUsage(
        memory_counter_key(project_id), f"{hour_bucket(stamp)}#{key_id}"
    )
    counter.update(
        actions=[
            GatewayUsage.requests.add(1),
            GatewayUsage.prompt_tokens.add(usage.prompt_tokens),
            GatewayUsage.completion_tokens.add(usage.completion_tokens),
            GatewayUsage.cached_tokens.add(usage.cached_tokens),
            GatewayUsage.total_tokens.add(usage.total_tokens),
            GatewayUsage.cost_nanos.add(cost_nanos),
        ]
    )
