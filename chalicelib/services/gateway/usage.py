"""Usage reads: activity, memory activity, request logs, facets, one request.

Aggregates come from the hourly counters (`records.counter_keys`), never from
the raw records: `activity` and `facets` Query a `combo` counter, whose
value is every facet value of a request, over the range (daily rows for its
whole days, hourly rows at its ends; hourly only for `1h`) and fold them
into periods and groups; a filter on an error status, a key or a model
Queries only that value's split (`combo@error`, `combo@key=..`,
`combo@model=..`). Times are resolved to the hour for aggregates.

Logs are newest first by (time, request id), so a page is stable for a
fixed `to`. Unfiltered, a page is one Query on the project's records. A
filtered page never filters the project's records: the counters say, hour
by hour from `to` back, how many records of each facet combination match,
and the page reads just those combinations over just those hours from
`combo-index` (every record there matches) and merges them; a loose filter
(at least a quarter of the records match) reads the project's records over
those hours instead, one Query. Thread and resource filters read
`thread-index` / `resource-index`. What a page examines is thus about
`offset + limit` records, whatever the table holds.
"""

import heapq
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.expressions.condition import Condition

from chalicelib.errors import BadRequest, NotFound
from chalicelib.models import GatewayKey, GatewayRequest, GatewayUsage
from chalicelib.services.clock import iso, now
from chalicelib.services.gateway import memory_store, records
from chalicelib.services.gateway.catalogue import NANOS_PER_USD

GRANULARITIES = ("1h", "daily", "weekly", "monthly")
GROUPS = ("model", "provider", "source_category", "api_key_id")
FACETS = (
    "status_code",
    "model",
    "provider",
    "source",
    "source_category",
    "has_error",
    "endpoint",
    "is_stream",
)
# Filters the counters can honour, and those only the records carry.
COUNTER_FILTERS = (*FACETS, "api_key_id")
LOG_FILTERS = (*COUNTER_FILTERS, "thread_id", "resource_id")
DEFAULT_SPAN = {
    "1h": timedelta(hours=24),
    "daily": timedelta(days=30),
    "weekly": timedelta(weeks=12),
    "monthly": timedelta(days=365),
}
MAX_SPAN = {
    "1h": timedelta(days=31),
    "daily": timedelta(days=366),
    "weekly": timedelta(days=3 * 366),
    "monthly": timedelta(days=5 * 366),
}
MAX_LIMIT = 200
DEFAULT_LIMIT = 50
MAX_OFFSET = 100_000
LOG_PAGE = 500
# A filtered page reads the project's records (one Query) rather than
# merging combinations when at least 1 / LOOSE of them match.
LOOSE = 4
# Counter rows a filtered page reads at a time, newest first.
COUNTER_PAGE = 200
# Combinations of one window read at once.
COMBO_READERS = 8


def _bad(field: str, message: str) -> BadRequest:
    return BadRequest(
        f"Query parameter {field} {message}.",
        errors=[{"field": field, "message": message}],
    )


# Query values


def parse_time(field: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        stamp = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise _bad(field, "must be an ISO 8601 time") from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def parse_granularity(value: str | None, default: str = "daily") -> str:
    granularity = value or default
    if granularity not in GRANULARITIES:
        raise _bad("granularity", f"must be one of {', '.join(GRANULARITIES)}")
    return granularity


def parse_group_by(value: str | None) -> list[str]:
    if not value:
        return []
    groups = [g.strip() for g in value.split(",") if g.strip()]
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        raise _bad("group_by", f"must be among {', '.join(GROUPS)}")
    return list(dict.fromkeys(groups))


def parse_range(
    start: str | None, end: str | None, granularity: str
) -> tuple[datetime, datetime]:
    to = parse_time("to", end) or now()
    since = parse_time("from", start) or to - DEFAULT_SPAN[granularity]
    if since > to:
        raise _bad("from", "must not be after `to`")
    if to - since > MAX_SPAN[granularity]:
        raise _bad("from", f"is too far before `to` for granularity {granularity}")
    return since, to


def parse_int(field: str, value: str | None, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise _bad(field, "must be an integer") from None
    if not low <= number <= high:
        raise _bad(field, f"must be between {low} and {high}")
    return number


def parse_filters(
    get: Callable[[str], str | None], names: tuple[str, ...]
) -> dict[str, Any]:
    """The filters given, typed: status_code int, has_error/is_stream bool."""
    filters: dict[str, Any] = {}
    for name in names:
        value = get(name)
        if value is None or value == "":
            continue
        if name == "status_code":
            filters[name] = parse_int(name, value, 0, 100, 599)
        elif name in ("has_error", "is_stream"):
            if value not in ("true", "false"):
                raise _bad(name, "must be true or false")
            filters[name] = value == "true"
        else:
            filters[name] = value
    return filters


# Buckets


def period_start(stamp: datetime, granularity: str) -> datetime:
    hour = stamp.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if granularity == "1h":
        return hour
    day = hour.replace(hour=0)
    if granularity == "daily":
        return day
    if granularity == "weekly":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _hour_of(bucket: str) -> datetime:
    return datetime.fromisoformat(bucket.partition("#")[0].replace("Z", "+00:00"))


def _counters(
    counter_key: str,
    since: datetime,
    to: datetime,
    newest_first: bool = False,
    page_size: int | None = None,
) -> Iterator[GatewayUsage]:
    first = records.hour_bucket(since)
    last = records.hour_bucket(to) + "#\uffff"
    return iter(
        GatewayUsage.query(
            counter_key,
            GatewayUsage.bucket.between(first, last),
            consistent_read=True,
            scan_index_forward=not newest_first,
            page_size=page_size,
        )
    )


def _split(filters: dict[str, Any]) -> str:
    """The narrowest `combo` split that holds every match of `filters`."""
    status = filters.get("status_code")
    error = filters.get("has_error") is True or (status is not None and status >= 400)
    splits = records.combo_splits(
        filters.get("api_key_id"), filters.get("model"), error
    )
    return splits[1 if len(splits) > 1 else 0]


def _combo_key(project_id: str, filters: dict[str, Any]) -> str:
    return f"{project_id}#{records.GRANULARITY}#{_split(filters)}"


def _combo_counters(
    project_id: str, split: str, since: datetime, to: datetime, hourly: bool
) -> Iterator[GatewayUsage]:
    """The `combo` rows of `split` over the hours of the range: daily rows
    for the whole days in it (unless `hourly`), hourly rows at its ends."""
    hours = f"{project_id}#{records.GRANULARITY}#{split}"
    first = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    last = to.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    start_day = first.replace(hour=0)
    if start_day < first:
        start_day += timedelta(days=1)
    end_day = (last + timedelta(hours=1)).replace(hour=0)
    if hourly or start_day >= end_day:
        yield from _counters(hours, first, last)
        return
    if first < start_day:
        yield from _counters(hours, first, start_day - timedelta(hours=1))
    days = f"{project_id}#{records.DAILY}#{split}"
    yield from _counters(days, start_day, end_day - timedelta(days=1))
    if end_day <= last:
        yield from _counters(hours, end_day, last)


def _combo_fields(bucket: str) -> dict[str, Any]:
    values = json.loads(bucket.partition("#")[2])
    fields = dict(zip(records.COMBO_FIELDS, values, strict=True))
    fields["has_error"] = int(fields["status_code"]) >= 400
    return fields


def _matches(fields: dict[str, Any], filters: dict[str, Any], skip: str = "") -> bool:
    return all(
        fields.get(name) == value for name, value in filters.items() if name != skip
    )


COUNTS = (
    ("request_count", "requests"),
    ("error_count", "errors"),
    ("prompt_tokens", "prompt_tokens"),
    ("completion_tokens", "completion_tokens"),
    ("total_tokens", "total_tokens"),
    ("cached_tokens", "cached_tokens"),
    ("cache_write_tokens", "cache_write_tokens"),
    ("cost_nanos", "cost_nanos"),
)


def _metrics(total: dict[str, int]) -> dict[str, Any]:
    requests = total["request_count"]
    prompt = total["prompt_tokens"]
    cached = total["cached_tokens"]
    cost = total["cost_nanos"] / NANOS_PER_USD
    return {
        "request_count": requests,
        "error_count": total["error_count"],
        "prompt_tokens": prompt,
        "completion_tokens": total["completion_tokens"],
        "total_tokens": total["total_tokens"],
        "cached_tokens": cached,
        "cache_write_tokens": total["cache_write_tokens"],
        "uncached_tokens": max(prompt - cached, 0),
        "cache_hit_rate": cached / prompt if prompt else 0.0,
        "cost_usd": cost,
        "error_rate": total["error_count"] / requests if requests else 0.0,
        "avg_cost_per_request": cost / requests if requests else 0.0,
    }


@dataclass(frozen=True)
class KeyLabel:
    label: str | None
    prefix: str | None


def key_labels(project_id: str) -> dict[str, KeyLabel]:
    return {
        k.id: KeyLabel(k.label, k.prefix)
        for k in GatewayKey.project_index.query(project_id)
    }


def has_activity(project_id: str) -> bool:
    counter_key = f"{project_id}#{records.GRANULARITY}#all"
    return any(True for _ in GatewayUsage.query(counter_key, limit=1))


def activity(
    project_id: str,
    granularity: str,
    group_by: list[str],
    since: datetime,
    to: datetime,
    filters: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Buckets of every metric per period (and group), oldest first."""
    totals: dict[tuple[Any, ...], dict[str, int]] = {}
    # Unfiltered, by at most one dimension: that dimension's own counter
    # (one row per hour and value); otherwise the `combo` counter.
    single = not filters and len(group_by) <= 1
    dimension = group_by[0] if group_by else "all"
    found = (
        _counters(f"{project_id}#{records.GRANULARITY}#{dimension}", since, to)
        if single
        else _combo_counters(
            project_id, _split(filters or {}), since, to, granularity == "1h"
        )
    )
    for counter in found:
        fields: dict[str, Any]
        if single:
            fields = {dimension: counter.bucket.partition("#")[2]}
        else:
            fields = _combo_fields(counter.bucket)
            if not _matches(fields, filters or {}):
                continue
        period = period_start(_hour_of(counter.bucket), granularity)
        group = (period, *(fields[g] for g in group_by))
        total = totals.setdefault(group, {name: 0 for name, _ in COUNTS})
        for name, attribute in COUNTS:
            total[name] += int(getattr(counter, attribute) or 0)
    labels = key_labels(project_id) if "api_key_id" in group_by else {}
    data = []
    for group in sorted(totals, key=lambda g: tuple(str(v) for v in g)):
        bucket: dict[str, Any] = {**_metrics(totals[group]), "timestamp": iso(group[0])}
        for name, value in zip(group_by, group[1:], strict=True):
            bucket[name] = value
            if name == "api_key_id":
                label = labels.get(value, KeyLabel(None, None))
                bucket["api_key_label"] = label.label
                bucket["api_key_prefix"] = label.prefix
        data.append(bucket)
    return data


def memory_activity(
    project_id: str,
    granularity: str,
    by_key: bool,
    since: datetime,
    to: datetime,
) -> list[dict[str, Any]]:
    """Memory (observer and reflector) tokens per period, and per key if asked."""
    totals: dict[tuple[datetime, str], list[int]] = {}
    for counter in _counters(records.memory_counter_key(project_id), since, to):
        period = period_start(_hour_of(counter.bucket), granularity)
        key_id = counter.bucket.partition("#")[2] if by_key else ""
        group: tuple[datetime, str] = (period, key_id)
        total = totals.setdefault(group, [0, 0, 0])
        total[0] += int(counter.prompt_tokens or 0)
        total[1] += int(counter.completion_tokens or 0)
        total[2] += int(counter.total_tokens or 0)
    labels = key_labels(project_id) if by_key else {}
    data = []
    for group in sorted(totals, key=lambda g: tuple(str(v) for v in g)):
        prompt, completion, total_tokens = totals[group]
        bucket: dict[str, Any] = {
            "bucket": iso(group[0]),
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": total_tokens,
        }
        if by_key:
            label = labels.get(group[1], KeyLabel(None, None))
            bucket.update(
                api_key_id=group[1],
                api_key_label=label.label,
                api_key_prefix=label.prefix,
            )
        data.append(bucket)
    return data


def facets(
    project_id: str, since: datetime, to: datetime, filters: dict[str, Any]
) -> dict[str, list[dict[str, Any]]]:
    """Request counts per value of each facet; each ignores its own filter."""
    counts: dict[str, dict[str, int]] = {name: {} for name in FACETS}
    # Each facet reads the narrowest split its other filters allow; facets
    # that share one read it once.
    by_split: dict[str, list[str]] = {}
    for name in FACETS:
        others = {k: v for k, v in filters.items() if k != name}
        by_split.setdefault(_split(others), []).append(name)
    for split, names in by_split.items():
        for counter in _combo_counters(project_id, split, since, to, False):
            fields = _combo_fields(counter.bucket)
            requests = int(counter.requests or 0)
            for name in names:
                if _matches(fields, filters, skip=name):
                    value = _facet_value(fields[name])
                    counts[name][value] = counts[name].get(value, 0) + requests
    return {
        name: [
            {"value": value, "count": count}
            for value, count in sorted(values.items(), key=lambda i: (-i[1], i[0]))
            if count
        ]
        for name, values in counts.items()
    }


def _facet_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# Logs


def _log_condition(filters: dict[str, Any]) -> Condition | None:
    attributes = {
        "model": GatewayRequest.model,
        "provider": GatewayRequest.provider,
        "source": GatewayRequest.source,
        "source_category": GatewayRequest.source_category,
        "status_code": GatewayRequest.status_code,
        "endpoint": GatewayRequest.endpoint,
        "is_stream": GatewayRequest.is_stream,
        "api_key_id": GatewayRequest.key_id,
        "thread_id": GatewayRequest.thread_id,
        "resource_id": GatewayRequest.resource_id,
    }
    condition: Condition | None = None
    for name, value in filters.items():
        if name == "has_error":
            part = (
                GatewayRequest.status_code >= 400
                if value
                else GatewayRequest.status_code < 400
            )
        else:
            part = attributes[name] == value
        condition = part if condition is None else condition & part
    return condition


def logs(
    project_id: str,
    since: datetime,
    to: datetime,
    filters: dict[str, Any],
    limit: int,
    offset: int,
) -> tuple[list[GatewayRequest], bool]:
    """One page of records, newest first by (time, request id)."""
    wanted = offset + limit + 1
    low, high = iso(since) or "", (iso(to) or "") + "#\uffff"
    found: Iterator[GatewayRequest]
    if not filters:
        found = _records(project_id, low, high, None, wanted)
    elif "thread_id" in filters or "resource_id" in filters:
        member, value = (
            (GatewayRequest.thread_index, filters["thread_id"])
            if "thread_id" in filters
            else (GatewayRequest.resource_index, filters["resource_id"])
        )
        found = iter(
            member.query(
                f"{project_id}#{value}",
                GatewayRequest.sort_key.between(low, high),
                filter_condition=_log_condition(filters),
                scan_index_forward=False,
                page_size=_page_size(wanted),
            )
        )
    else:
        found = _filtered(project_id, since, to, filters, wanted)
    page: list[GatewayRequest] = []
    for index, record in enumerate(found):
        if index < offset:
            continue
        if len(page) == limit:
            return page, True
        page.append(record)
    return page, False


def _page_size(wanted: int) -> int:
    return min(max(wanted, DEFAULT_LIMIT), LOG_PAGE)


def _records(
    project_id: str, low: str, high: str, condition: Condition | None, wanted: int
) -> Iterator[GatewayRequest]:
    return iter(
        GatewayRequest.query(
            project_id,
            GatewayRequest.sort_key.between(low, high),
            filter_condition=condition,
            scan_index_forward=False,
            page_size=_page_size(wanted),
        )
    )


@dataclass
class _Window:
    """Hours `oldest`..`newest` (bucket starts) and the matches in them."""

    newest: datetime
    oldest: datetime
    matches: dict[str, int]
    total: int

    def add(self, hour: datetime, combo: str, requests: int, matched: bool) -> None:
        self.oldest = hour
        self.total += requests
        if matched:
            self.matches[combo] = self.matches.get(combo, 0) + requests


def _windows(
    project_id: str, since: datetime, to: datetime, filters: dict[str, Any], need: int
) -> Iterator[_Window]:
    """Runs of whole hours, newest first, each with about `need` matches."""
    window: _Window | None = None
    counter_key = _combo_key(project_id, filters)
    for counter in _counters(counter_key, since, to, True, COUNTER_PAGE):
        hour = _hour_of(counter.bucket)
        full = window is not None and sum(window.matches.values()) >= need
        if window is not None and full and hour != window.oldest:
            yield window
            window = None
        if window is None:
            window = _Window(hour, hour, {}, 0)
        combo = counter.bucket.partition("#")[2]
        matched = _matches(_combo_fields(counter.bucket), filters)
        window.add(hour, combo, int(counter.requests or 0), matched)
    if window is not None and window.matches:
        yield window


def _filtered(
    project_id: str,
    since: datetime,
    to: datetime,
    filters: dict[str, Any],
    wanted: int,
) -> Iterator[GatewayRequest]:
    """Matching records, newest first, read window by window."""
    low_bound, high_bound = iso(since) or "", (iso(to) or "") + "#\uffff"
    condition = _log_condition(filters)
    left = wanted
    for window in _windows(project_id, since, to, filters, wanted):
        low = max(low_bound, iso(window.oldest) or "")
        high = min(high_bound, iso(window.newest + timedelta(hours=1)) or "")
        matched = sum(window.matches.values())
        loose = (
            _combo_key(project_id, filters).endswith("#combo")
            and matched * LOOSE >= window.total
        )
        found: Iterator[GatewayRequest]
        if loose:
            found = _records(project_id, low, high, condition, left)
        else:
            found = heapq.merge(
                *_combo_records(project_id, window.matches, low, high, left),
                key=lambda r: r.sort_key,
                reverse=True,
            )
        for record in found:
            yield record
            left -= 1
            if left <= 0:
                return


def _combo_records(
    project_id: str, matches: dict[str, int], low: str, high: str, left: int
) -> list[list[GatewayRequest]]:
    """Each combination's newest records between `low` and `high`, at most
    `left` of each, read concurrently (one Query each, all of them match)."""

    def read(combo: str, count: int) -> list[GatewayRequest]:
        limit = min(count, left)
        return list(
            GatewayRequest.combo_index.query(
                f"{project_id}#{combo}",
                GatewayRequest.sort_key.between(low, high),
                scan_index_forward=False,
                # One more than counted: no second call to learn there is none.
                limit=limit,
                page_size=limit + 1 if count <= left else limit,
            )
        )

    if len(matches) == 1:
        return [read(*next(iter(matches.items())))]
    with ThreadPoolExecutor(min(COMBO_READERS, len(matches))) as pool:
        return list(pool.map(read, matches, matches.values()))


def find_request(project_id: str, request_id: str) -> GatewayRequest:
    for record in GatewayRequest.request_index.query(request_id):
        if record.project_id == project_id:
            return record
    raise NotFound(f"Request {request_id} not found.")


def log_public(record: GatewayRequest) -> dict[str, Any]:
    return {
        "request_id": record.request_id,
        "api_key_id": record.key_id,
        "api_key_label": record.key_label,
        "api_key_prefix": record.key_prefix,
        "model": record.model or "",
        "provider": record.provider or "",
        "source": record.source or "",
        "source_category": record.source_category
        or records.source_category(record.source),
        "endpoint": record.endpoint,
        "status_code": int(record.status_code),
        "prompt_tokens": int(record.prompt_tokens or 0),
        "completion_tokens": int(record.completion_tokens or 0),
        "total_tokens": int(record.total_tokens or 0),
        "cached_tokens": int(record.cached_tokens or 0),
        "cache_write_tokens": int(record.cache_write_tokens or 0),
        "cost_usd": int(record.cost_nanos or 0) / NANOS_PER_USD,
        "latency_ms": int(record.latency_ms),
        "is_stream": bool(record.is_stream),
        "error": record.error,
        "generation_id": record.generation_id,
        "thread_id": record.thread_id,
        "resource_id": record.resource_id,
        "message_ids": [str(m) for m in record.message_ids or []],
        "timestamp": iso(record.timestamp),
    }


def request_messages(record: GatewayRequest) -> list[dict[str, Any]]:
    if not record.thread_id or not record.message_ids:
        return []
    found = memory_store.get_messages(
        record.project_id, record.thread_id, [str(m) for m in record.message_ids]
    )
    return [
        {
            "id": m.id,
            "thread_id": m.thread_id,
            "role": m.role,
            "content": memory_store.message_content(m),
            "type": m.type,
            "created_at": iso(m.created_at),
        }
        for m in found
    ]
