"""Usage routes against a brute-force count over the same generated records.

A few hundred request outcomes across models, keys, sources, statuses and
hours go through the proxy's own record writer (records and counters in one
transaction); every aggregate the routes return is then recomputed here
from the outcome list itself.
"""

import random
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from chalicelib.models import GatewayRequest, GatewayUsage
from chalicelib.services.clock import iso
from chalicelib.services.gateway import keys, records
from chalicelib.services.gateway.catalogue import NANOS_PER_USD
from chalicelib.services.gateway.usage import period_start
from tests.conftest import Caller, body
from tests.examined import examined
from tests.functional.helpers import assert_problem

START = datetime(2025, 3, 3, 0, 0, tzinfo=UTC)  # a Monday
HOURS = 24 * 40
MODELS = [
    ("openai/gpt-4o-mini", "openai"),
    ("openai/gpt-4o", "openai"),
    ("anthropic/claude-haiku-4-5", "anthropic"),
]
ENDPOINTS = ["/v1/chat/completions", "/v1/messages", "/v1/responses"]
SOURCES = ["platform", "key", "project"]
STATUSES = [200, 200, 200, 200, 400, 429, 502]


def _outcomes(contexts: list[keys.KeyContext], count: int) -> list[tuple[Any, Any]]:
    rng = random.Random(6)
    made = []
    for index in range(count):
        context = rng.choice(contexts)
        model, provider = rng.choice(MODELS)
        status = rng.choice(STATUSES)
        prompt = rng.randint(1, 500) if status < 400 else 0
        cached = rng.randint(0, prompt)
        outcome = records.Outcome(
            request_id=f"req_{index:05d}",
            endpoint=rng.choice(ENDPOINTS),
            started_at=START
            + timedelta(hours=rng.randrange(HOURS), seconds=rng.randrange(3600)),
            is_stream=rng.random() < 0.5,
            model=model,
            provider=provider,
            status_code=status,
            usage=records.Usage(
                prompt, rng.randint(0, 300), cached, rng.randint(0, 20)
            ),
            cost_nanos=rng.randint(0, 5_000_000),
            latency_ms=rng.randint(5, 2000),
            source=rng.choice(SOURCES),
        )
        if index % 4 == 0:
            outcome.thread_id = f"thread_{index % 3}"
            outcome.resource_id = f"user_{index % 3}"
        made.append((context, outcome))
    return made


@pytest.fixture
def generated(admin: Caller) -> dict[str, Any]:
    project = keys.create_project(admin.org_id, "usage")
    contexts = []
    for label in ("alpha", "beta", "gamma"):
        key, _ = keys.create_key(project, keys.KeyLimits(label=label))
        contexts.append(keys.KeyContext(key, project))
    items = _outcomes(contexts, 300)
    write_without_transactions(items)
    return {"project": project, "items": items}


def write_without_transactions(items: list[tuple[Any, Any]]) -> None:
    """The records and counters `records.write_many` writes, item by item.

    In-process moto copies every table for each transaction, which makes
    hundreds of them too slow for a test; the rows and sums are the
    writer's own (`records.record_rows`).
    """
    rows, totals = records.record_rows(items)
    with GatewayRequest.batch_write() as batch:
        for row in rows:
            batch.save(row)
    for (counter_key, bucket), total in totals.items():
        GatewayUsage(counter_key, bucket).update(
            actions=[getattr(GatewayUsage, name).add(v) for name, v in total.items()]
        )


def _fields(context: Any, outcome: Any) -> dict[str, Any]:
    return {
        "model": outcome.model,
        "provider": outcome.provider,
        "source": outcome.source,
        "source_category": records.source_category(outcome.source),
        "api_key_id": context.key.id,
        "status_code": outcome.status_code,
        "endpoint": outcome.endpoint,
        "is_stream": outcome.is_stream,
        "has_error": outcome.status_code >= 400,
    }


def _brute_activity(
    items: list, granularity: str, group_by: list[str], since: datetime, to: datetime
) -> dict[tuple, dict[str, Any]]:
    first = since.replace(minute=0, second=0, microsecond=0)
    totals: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for context, outcome in items:
        hour = outcome.started_at.replace(minute=0, second=0, microsecond=0)
        if not first <= hour <= to:
            continue
        fields = _fields(context, outcome)
        group = (
            iso(period_start(outcome.started_at, granularity)),
            *(fields[g] for g in group_by),
        )
        total = totals[group]
        total["request_count"] += 1
        total["error_count"] += outcome.status_code >= 400
        total["prompt_tokens"] += outcome.usage.prompt_tokens
        total["completion_tokens"] += outcome.usage.completion_tokens
        total["total_tokens"] += outcome.usage.total_tokens
        total["cached_tokens"] += outcome.usage.cached_tokens
        total["cache_write_tokens"] += outcome.usage.cache_write_tokens
        total["cost_nanos"] += outcome.cost_nanos
    return {k: dict(v) for k, v in totals.items()}


def _get(client: Any, caller: Caller, path: str, **query: Any) -> Any:
    suffix = f"?{urlencode(query)}" if query else ""
    return client.http.get(path + suffix, headers=caller.headers())


def _usage(project: Any) -> str:
    return f"/v1/gateway/projects/{project.id}/usage"


ACTIVITY_CASES = [
    ("1h", []),
    ("daily", ["model"]),
    ("weekly", ["provider", "api_key_id"]),
    ("monthly", ["source_category"]),
    ("daily", ["model", "api_key_id", "source_category"]),
]


def test_activity_matches_a_brute_force_count(client, admin, generated):
    for granularity, group_by in ACTIVITY_CASES:
        check_activity(client, admin, generated, granularity, group_by)


def check_activity(client, admin, generated, granularity, group_by):
    items, project = generated["items"], generated["project"]
    since = START + timedelta(days=2, hours=5, minutes=30)
    span = timedelta(days=20) if granularity == "1h" else timedelta(days=35)
    to = since + span
    response = _get(
        client,
        admin,
        _usage(project) + "/activity",
        granularity=granularity,
        group_by=",".join(group_by),
        **{"from": iso(since), "to": iso(to)},
    )
    assert response.status_code == 200, response.body
    found = body(response)
    assert (found["granularity"], found["group_by"]) == (granularity, group_by)
    expected = _brute_activity(items, granularity, group_by, since, to)
    got = {(b["timestamp"], *(b[g] for g in group_by)): b for b in found["data"]}
    assert set(got) == set(expected)
    labels = {c.key.id: c.key.label for c, _ in items}
    for group, total in expected.items():
        bucket = got[group]
        for name in (
            "request_count",
            "error_count",
            "prompt_tokens",
            "completion_tokens",
            "total_tokens",
            "cached_tokens",
            "cache_write_tokens",
        ):
            assert bucket[name] == total[name], (group, name)
        cost = total["cost_nanos"] / NANOS_PER_USD
        assert bucket["cost_usd"] == pytest.approx(cost)
        assert (
            bucket["uncached_tokens"] == total["prompt_tokens"] - total["cached_tokens"]
        )
        assert bucket["error_rate"] == pytest.approx(
            total["error_count"] / total["request_count"]
        )
        assert bucket["avg_cost_per_request"] == pytest.approx(
            cost / total["request_count"]
        )
        prompt = total["prompt_tokens"]
        assert bucket["cache_hit_rate"] == pytest.approx(
            total["cached_tokens"] / prompt if prompt else 0.0
        )
        if "api_key_id" in group_by:
            assert bucket["api_key_label"] == labels[bucket["api_key_id"]]


def test_facets_logs_and_detail(client, admin, generated):
    check_facets(client, admin, generated)
    check_logs(client, admin, generated)
    check_activity_and_detail(client, admin, generated)


def check_facets(client, admin, generated):
    items, project = generated["items"], generated["project"]
    since, to = START, START + timedelta(hours=HOURS)
    filters = {"model": "openai/gpt-4o", "is_stream": True, "status_code": 200}
    query = {"from": iso(since), "to": iso(to), **filters, "is_stream": "true"}
    response = _get(client, admin, _usage(project) + "/logs/facets", **query)
    assert response.status_code == 200, response.body
    found = body(response)
    for facet in (
        "status_code",
        "model",
        "provider",
        "source",
        "source_category",
        "has_error",
        "endpoint",
        "is_stream",
    ):
        counts: dict[str, int] = defaultdict(int)
        for context, outcome in items:
            fields = _fields(context, outcome)
            if all(fields[n] == v for n, v in filters.items() if n != facet):
                value = fields[facet]
                key = str(value).lower() if isinstance(value, bool) else str(value)
                counts[key] += 1
        assert {f["value"]: f["count"] for f in found[facet]} == dict(counts), facet


def check_logs(client, admin, generated):
    """Pages neither skip nor repeat."""
    items, project = generated["items"], generated["project"]
    since, to = START, START + timedelta(hours=HOURS)
    key_id = items[0][0].key.id
    expected = sorted(
        (o for c, o in items if c.key.id == key_id and o.status_code >= 400),
        key=lambda o: (iso(o.started_at), o.request_id),
        reverse=True,
    )
    seen: list[str] = []
    offset = 0
    while True:
        response = _get(
            client,
            admin,
            _usage(project) + "/logs",
            limit=7,
            offset=offset,
            api_key_id=key_id,
            has_error="true",
            **{"from": iso(since), "to": iso(to)},
        )
        assert response.status_code == 200, response.body
        page = body(response)
        seen += [log["request_id"] for log in page["logs"]]
        offset += 7
        if not page["has_more"]:
            break
    assert seen == [o.request_id for o in expected]
    first = body(
        _get(
            client,
            admin,
            _usage(project) + "/logs",
            **{"from": iso(since), "to": iso(to)},
        )
    )
    assert len(first["logs"]) == 50 and first["has_more"] is True
    log = first["logs"][0]
    assert set(log) >= {"request_id", "api_key_label", "cost_usd", "message_ids"}


def check_activity_and_detail(client, admin, generated):
    project = generated["project"]
    found = body(_get(client, admin, _usage(project) + "/has-activity"))
    assert found == {"has_activity": True}
    empty = keys.create_project(admin.org_id, "empty")
    assert body(_get(client, admin, _usage(empty) + "/has-activity")) == {
        "has_activity": False
    }
    context, outcome = generated["items"][3]
    detail = body(_get(client, admin, _usage(project) + f"/logs/{outcome.request_id}"))
    assert detail["log"]["request_id"] == outcome.request_id
    assert detail["log"]["api_key_label"] == context.key.label
    assert detail["messages"] == []
    missing = _get(client, admin, _usage(empty) + f"/logs/{outcome.request_id}")
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"granularity": "2h"}, "granularity"),
        ({"group_by": "model,colour"}, "group_by"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2025-03-10T00:00:00Z", "to": "2025-03-01T00:00:00Z"}, "from"),
        (
            {
                "granularity": "1h",
                "from": "2025-01-01T00:00:00Z",
                "to": "2025-03-01T00:00:00Z",
            },
            "from",
        ),
        ({"status_code": "abc"}, "status_code"),
        ({"is_stream": "yes"}, "is_stream"),
    ],
)
def test_malformed_activity_queries_are_400_naming_the_field(
    client, admin, query, field
):
    project = keys.create_project(admin.org_id, "usage")
    response = _get(client, admin, _usage(project) + "/activity", **query)
    assert_problem(response, 400)
    assert [e["field"] for e in body(response)["errors"]] == [field]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "201"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"offset": "-1"}, "offset"),
    ],
)
def test_malformed_log_queries_are_400(client, admin, query, field):
    project = keys.create_project(admin.org_id, "usage")
    response = _get(client, admin, _usage(project) + "/logs", **query)
    assert_problem(response, 400)
    assert [e["field"] for e in body(response)["errors"]] == [field]


def test_another_org_sees_nothing(client, admin):
    project = keys.create_project(admin.org_id, "usage")
    from chalicelib.services import accounts
    from chalicelib.services.auth import mint_token

    user = accounts.create_user("other@example.com", "Ot", "Her")
    org = accounts.create_organization("Other org")
    accounts.add_member(org.id, user.id, "admin")
    _, secret = mint_token(org.id, user.id, "admin")
    other = Caller(org.id, user.id, secret)
    response = _get(client, other, _usage(project) + "/activity")
    assert response.status_code == 404


def _expected_logs(items, filters):
    def matches(context, outcome):
        fields = {
            **_fields(context, outcome),
            "thread_id": outcome.thread_id,
            "resource_id": outcome.resource_id,
        }
        return all(fields[name] == value for name, value in filters.items())

    return [
        o.request_id
        for o in sorted(
            (o for c, o in items if matches(c, o)),
            key=lambda o: (iso(o.started_at), o.request_id),
            reverse=True,
        )
    ]


LOG_FILTERS = [
    {"is_stream": True},
    {"endpoint": "/v1/responses", "is_stream": False},
    {"status_code": 429},
    {"model": "openai/gpt-4o", "has_error": False},
    {"source": "key", "provider": "openai", "status_code": 200},
    {"api_key_id": 0, "model": "anthropic/claude-haiku-4-5", "has_error": True},
    {"thread_id": "thread_1"},
    {"resource_id": "user_2", "is_stream": True},
    {"model": "openai/none"},
]


def test_filtered_logs_read_only_what_the_page_needs(generated):
    """Each filtered page equals a brute-force filter of the records, and
    examines about `offset + limit` records, never the project's partition."""
    from chalicelib.services.gateway import usage

    items, project = generated["items"], generated["project"]
    since, to = START, START + timedelta(hours=HOURS)
    limit = 9
    for filters in LOG_FILTERS:
        if filters.get("api_key_id") == 0:
            filters = {**filters, "api_key_id": items[0][0].key.id}
        expected = _expected_logs(items, filters)
        seen: list[str] = []
        offset = 0
        while True:
            with examined(GatewayRequest, GatewayUsage) as counts:
                page, more = usage.logs(project.id, since, to, filters, limit, offset)
            seen += [r.request_id for r in page]
            wanted = offset + limit + 1
            # Records: the matches the page needs, plus those of the hour
            # where the page ends (a page is read in whole hours), or the
            # hours' records when at least a quarter match. Never all 300.
            hourly = max(
                Counter(records.hour_bucket(o.started_at) for _, o in items).values()
            )
            assert counts["gateway-requests"] <= usage.LOOSE * (wanted + hourly), (
                filters,
                offset,
                dict(counts),
            )
            if not expected:
                assert counts["gateway-requests"] == 0, (filters, dict(counts))
            offset += limit
            if not more:
                break
        assert seen == expected, filters


def test_filtered_activity_reads_only_that_values_counters(generated):
    """Filtered activity reads the `combo` rows of the filter's split only:
    one per day and combination over whole days, one per hour for `1h`."""
    from chalicelib.services.gateway import usage

    items, project = generated["items"], generated["project"]
    key_id = items[0][0].key.id

    def rows(keep, bucket, to):
        return len(
            {
                (bucket(o.started_at), records.combo_value(c, o))
                for c, o in items
                if keep(c, o) and o.started_at < to
            }
        )

    cases = [
        ({"api_key_id": key_id}, lambda c, o: c.key.id == key_id),
        (
            {"has_error": True, "model": "openai/gpt-4o"},
            lambda c, o: o.status_code >= 400,
        ),
        (
            {"model": "openai/gpt-4o", "is_stream": True},
            lambda c, o: o.model == "openai/gpt-4o",
        ),
        ({"is_stream": True}, lambda c, o: True),
    ]
    for granularity, days, bucket in (
        ("daily", HOURS // 24, records.day_bucket),
        ("1h", 20, records.hour_bucket),
    ):
        since, to = START, START + timedelta(days=days)
        # `to` is an hour's start: that hour is in the range, and empty here.
        for filters, split in cases:
            with examined(GatewayRequest, GatewayUsage) as counts:
                usage.activity(project.id, granularity, ["model"], since, to, filters)
            assert counts["gateway-requests"] == 0
            assert counts["gateway-usage"] == rows(split, bucket, to), filters
    to = START + timedelta(hours=HOURS)
    keyed = rows(lambda c, o: c.key.id == key_id, records.hour_bucket, to)
    assert keyed < rows(lambda c, o: True, records.hour_bucket, to) / 2
