"""Gateway usage and request logs as the dashboard shows them.

Every read is a call of the usage routes' own handlers
(`/v1/gateway/projects/{id}/usage/...`) with the page's query values, so
the page and the API parse, validate and authorize a query the same way
and read through the same service (services/gateway/usage.py).
"""

from dataclasses import dataclass
from typing import Any

from starlette.datastructures import ImmutableMultiDict

from chalicelib.dashboard.web import Ctx
from chalicelib.routes import gateway_usage

USAGE = gateway_usage.USAGE
GRANULARITIES = (
    ("1h", "Hourly"),
    ("daily", "Daily"),
    ("weekly", "Weekly"),
    ("monthly", "Monthly"),
)
PAGE_SIZE = 50
RANGE = ("from", "to")


@dataclass(frozen=True)
class Filter:
    name: str
    label: str


# The request log's filters: facets of the logs route, and the key.
FILTERS = (
    Filter("model", "Model"),
    Filter("provider", "Provider"),
    Filter("status_code", "Status code"),
    Filter("has_error", "Has error"),
    Filter("source", "Source"),
    Filter("endpoint", "Endpoint"),
    Filter("is_stream", "Streamed"),
    Filter("api_key_id", "Key"),
)
FILTER_NAMES = tuple(f.name for f in FILTERS)


def _query(ctx: Ctx, names: tuple[str, ...], **fixed: str) -> ImmutableMultiDict:
    """The page's values of `names` (repeats kept, so the route refuses them)."""
    items = [(k, v) for k, v in ctx.request.query_params.multi_items() if k in names]
    items += list(fixed.items())
    return ImmutableMultiDict(items)


def selected(ctx: Ctx) -> dict[str, str]:
    query = ctx.request.query_params
    return {name: query.get(name, "") for name in (*FILTER_NAMES, "granularity")}


def filtered(ctx: Ctx) -> bool:
    return any(ctx.request.query_params.get(name) for name in FILTER_NAMES)


def usage_by_model(ctx: Ctx, project_id: str) -> dict[str, Any]:
    """Tokens per period and model from the activity route, as chart series."""
    granularity = ctx.request.query_params.get("granularity") or "1h"
    found = ctx.api(
        gateway_usage.activity,
        "GET",
        USAGE + "/activity",
        query=_query(
            ctx, (*FILTER_NAMES, *RANGE), granularity=granularity, group_by="model"
        ),
        project_id=project_id,
    )
    buckets = found["data"]
    labels = sorted({b["timestamp"] for b in buckets})
    series: dict[str, dict[str, Any]] = {}
    for bucket in buckets:
        model = bucket.get("model") or ""
        entry = series.setdefault(
            model, {"model": model, "requests": 0, "cost_usd": 0.0, "by_label": {}}
        )
        entry["requests"] += bucket["request_count"]
        entry["cost_usd"] += bucket["cost_usd"]
        entry["by_label"][bucket["timestamp"]] = bucket["total_tokens"]
    return {
        "granularity": found["granularity"],
        "from": found["from_"],
        "to": found["to"],
        "labels": labels,
        "series": [
            {
                "model": entry["model"],
                "requests": entry["requests"],
                "cost_usd": entry["cost_usd"],
                "tokens": [entry["by_label"].get(label, 0) for label in labels],
            }
            for _, entry in sorted(series.items())
        ],
    }


def request_log(
    ctx: Ctx, project_id: str, keys: list[dict[str, Any]]
) -> dict[str, Any]:
    """One page of the logs route and the facets route's values per filter."""
    query = ctx.request.query_params
    found = ctx.api(
        gateway_usage.logs,
        "GET",
        USAGE + "/logs",
        query=_query(ctx, (*FILTER_NAMES, *RANGE, "offset"), limit=str(PAGE_SIZE)),
        project_id=project_id,
    )
    facets = ctx.api(
        gateway_usage.log_facets,
        "GET",
        USAGE + "/logs/facets",
        query=_query(ctx, (*FILTER_NAMES, *RANGE)),
        project_id=project_id,
    )
    options: dict[str, list[dict[str, Any]]] = {
        name: [
            {"value": v["value"], "text": f"{v['value']} ({v['count']})"}
            for v in facets.get(name, [])
        ]
        for name in FILTER_NAMES
    }
    options["api_key_id"] = [
        {"value": k["id"], "text": f"{k['label']} ({k['prefix']}…)"} for k in keys
    ]
    for name in FILTER_NAMES:
        chosen = query.get(name, "")
        if chosen and chosen not in {o["value"] for o in options[name]}:
            options[name].append({"value": chosen, "text": f"{chosen} (0)"})
    offset = int(query.get("offset") or 0)
    older = None
    if found["has_more"]:
        older = {
            **{k: v for k, v in selected(ctx).items() if v},
            "to": found["to"],
            "offset": str(offset + PAGE_SIZE),
        }
    return {"rows": found["logs"], "options": options, "older": older}


def request_detail(ctx: Ctx, project_id: str, request_id: str) -> dict[str, Any]:
    """The log detail route: the request and the memory messages it saved."""
    return dict(
        ctx.api(
            gateway_usage.log_detail,
            "GET",
            USAGE + "/logs/{request_id}",
            project_id=project_id,
            request_id=request_id,
        )
    )
