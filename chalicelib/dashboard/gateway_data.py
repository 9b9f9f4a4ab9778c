"""Gateway usage and request logs as the dashboard shows them.

The callers first load the project through the API's own
`GET /v1/gateway/projects/{id}` handler, which checks the organization.
TODO(#10): move these reads behind `/v1/gateway/projects/{id}/usage` and
`/requests` API routes once those exist, and call them from here.
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist

from chalicelib.errors import NotFound
from chalicelib.models import GatewayRequest, GatewayUsage
from chalicelib.services.clock import iso, now
from chalicelib.services.gateway.records import GRANULARITY, hour_bucket

FACETS = ("model", "provider", "status", "key")
PAGE_SIZE = 50
SCAN_LIMIT = 1000
NANOS_PER_USD = 1_000_000_000


@dataclass(frozen=True)
class Filters:
    model: str = ""
    provider: str = ""
    status: str = ""
    key: str = ""

    def match(self, record: GatewayRequest) -> bool:
        return (
            (not self.model or record.model == self.model)
            and (not self.provider or record.provider == self.provider)
            and (not self.status or _status_class(record) == self.status)
            and (not self.key or record.key_id == self.key)
        )


def _status_class(record: GatewayRequest) -> str:
    return "ok" if int(record.status_code) < 400 else "error"


def usage_by_model(project_id: str, hours: int = 48) -> dict[str, Any]:
    """Hourly total tokens per model: labels and one series per model."""
    start = now() - timedelta(hours=hours - 1)
    first = hour_bucket(start)
    counters = GatewayUsage.query(
        f"{project_id}#{GRANULARITY}#model",
        GatewayUsage.bucket >= first,
    )
    series: dict[str, dict[str, int]] = {}
    requests: dict[str, int] = {}
    for counter in counters:
        bucket, _, model = counter.bucket.partition("#")
        series.setdefault(model, {})[bucket] = int(counter.total_tokens or 0)
        requests[model] = requests.get(model, 0) + int(counter.requests or 0)
    labels = sorted({b for values in series.values() for b in values})
    return {
        "labels": labels,
        "series": [
            {
                "model": model,
                "requests": requests[model],
                "tokens": [values.get(b, 0) for b in labels],
            }
            for model, values in sorted(series.items())
        ],
    }


def requests(project_id: str, filters: Filters) -> dict[str, Any]:
    """The newest requests matching the filters, and the facet values seen."""
    facets: dict[str, set[str]] = {name: set() for name in FACETS}
    facets["status"] = {"ok", "error"}
    rows: list[dict[str, Any]] = []
    for record in GatewayRequest.query(
        project_id, scan_index_forward=False, limit=SCAN_LIMIT
    ):
        facets["model"].add(record.model or "")
        facets["provider"].add(record.provider or "")
        facets["status"].add(_status_class(record))
        facets["key"].add(record.key_id)
        if filters.match(record) and len(rows) < PAGE_SIZE:
            rows.append(public(record))
    return {
        "rows": rows,
        "facets": {k: sorted(v for v in values if v) for k, values in facets.items()},
    }


def request_detail(project_id: str, request_id: str) -> dict[str, Any]:
    for record in GatewayRequest.request_index.query(request_id):
        if record.project_id == project_id:
            try:
                full = GatewayRequest.get(record.project_id, record.sort_key)
            except DoesNotExist:
                break
            return public(full)
    raise NotFound(f"Request {request_id} not found.")


def public(record: GatewayRequest) -> dict[str, Any]:
    return {
        "request_id": record.request_id,
        "timestamp": iso(record.timestamp),
        "model": record.model,
        "provider": record.provider,
        "source": record.source,
        "endpoint": record.endpoint,
        "status_code": int(record.status_code),
        "key_id": record.key_id,
        "key_label": record.key_label,
        "key_prefix": record.key_prefix,
        "prompt_tokens": int(record.prompt_tokens or 0),
        "completion_tokens": int(record.completion_tokens or 0),
        "cached_tokens": int(record.cached_tokens or 0),
        "total_tokens": int(record.total_tokens or 0),
        "cost_usd": int(record.cost_nanos or 0) / NANOS_PER_USD,
        "latency_ms": int(record.latency_ms),
        "first_token_ms": (
            int(record.first_token_ms) if record.first_token_ms is not None else None
        ),
        "is_stream": bool(record.is_stream),
        "error": record.error,
        "thread_id": record.thread_id,
        "resource_id": record.resource_id,
    }
