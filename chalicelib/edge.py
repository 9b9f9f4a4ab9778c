"""Transport rules every request meets, each decided here once (issue 8).

Used by chalicelib/http.py (every Chalice route), chalicelib/routes/fallback.py
(wrong methods, preflights), chalicelib/streaming.py and local/front.py.
"""

import re
from typing import Any
from urllib.parse import unquote

from chalicelib.errors import BadRequest, PayloadTooLarge
from chalicelib.settings import get_settings

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
CORS_ALLOWED_HEADERS = (
    "authorization, content-type, idempotency-key, if-match, "
    "x-organization-id, x-project-name, last-event-id"
)
CORS_EXPOSED_HEADERS = "etag, allow, idempotent-replayed, retry-after"
_PARAM = re.compile(r"\{([^}/]+)\}")


def body_limit() -> int:
    return get_settings().max_request_body_bytes


def check_body_size(declared: str | None, actual: int | None = None) -> None:
    """413 when the declared or actual size is over the documented limit."""
    limit = body_limit()
    size = actual
    if declared is not None and declared.strip().isdigit():
        size = max(size or 0, int(declared.strip()))
    if size is not None and size > limit:
        raise PayloadTooLarge(
            f"The request body is over the limit of {limit} bytes.",
            errors=[{"field": "body", "message": f"must be at most {limit} bytes"}],
        )


def decode_path_params(
    params: dict[str, str], context: dict[str, Any]
) -> dict[str, str]:
    """Path parameters decoded exactly once, whoever delivered the event.

    API Gateway hands Lambda decoded path parameters and a requestId;
    chalice's LocalGateway (the test client and local/front.py) hands them
    as they were written in the URL, so those are decoded here.
    """
    if "requestId" in context:
        return dict(params)
    return {name: unquote(value) for name, value in params.items()}


def single_query(params: Any, name: str) -> str | None:
    """One query value; a repeated parameter is a 400, never the last one."""
    if not params or name not in params:
        return None
    values = params.getlist(name) if hasattr(params, "getlist") else [params[name]]
    if len(values) > 1:
        raise BadRequest(
            f"Query parameter {name} was given {len(values)} times; give it once.",
            errors=[{"field": name, "message": "must be given once"}],
        )
    return values[0] if values else None


def path_pattern(template: str) -> re.Pattern[str]:
    """A route template like /v1/x/{id} as a regex over a raw URL path."""
    parts = _PARAM.split(template)
    regex = "".join(
        "[^/]+" if index % 2 else re.escape(part) for index, part in enumerate(parts)
    )
    return re.compile(f"^{regex}$")


def route_table() -> dict[str, set[str]]:
    """Every route template (Chalice and streaming) and its methods."""
    from chalicelib.http import ROUTE_RULES
    from chalicelib.streaming import ROUTES

    table: dict[str, set[str]] = {}
    for rule in ROUTE_RULES:
        table.setdefault(rule.path, set()).add(rule.method)
    for route in ROUTES:
        methods = set(getattr(route, "methods", None) or ()) - {"HEAD"}
        table.setdefault(route.path, set()).update(methods)
    return table


def allowed_methods(path: str) -> list[str]:
    """The methods a raw URL path answers to; empty for an unknown path."""
    found: set[str] = set()
    for template, methods in route_table().items():
        if path_pattern(template).match(path):
            found |= methods
    return sorted(found)


def cors_origins() -> list[str]:
    return [o.strip() for o in get_settings().cors_origins.split(",") if o.strip()]


def cors_headers(origin: str | None) -> dict[str, str]:
    """CORS response headers for an allowlisted Origin, on every response."""
    if not origin:
        return {}
    allowed = cors_origins()
    if origin not in allowed and "*" not in allowed:
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Expose-Headers": CORS_EXPOSED_HEADERS,
        "Vary": "Origin",
    }


def preflight_headers(origin: str | None, methods: list[str]) -> dict[str, str]:
    headers = cors_headers(origin)
    if headers:
        headers["Access-Control-Allow-Methods"] = ", ".join(methods)
        headers["Access-Control-Allow-Headers"] = CORS_ALLOWED_HEADERS
        headers["Access-Control-Max-Age"] = "600"
    return headers
