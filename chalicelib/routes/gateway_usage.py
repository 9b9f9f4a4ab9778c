"""`/v1/gateway/projects/{id}/usage`: activity, memory activity, logs, facets.

Read-only, for every member of the organization. Aggregates come from the
hourly counters, logs from one keyed Query; see services/gateway/usage.py.
"""

from chalice import Blueprint

from chalicelib.errors import BadRequest
from chalicelib.http import Api, Call
from chalicelib.schemas.gateway_usage import (
    Activity,
    ActivityBucket,
    Facets,
    HasActivity,
    LogDetail,
    LogMessage,
    Logs,
    MemoryActivity,
    MemoryBucket,
    RequestLog,
)
from chalicelib.services.clock import iso
from chalicelib.services.gateway import keys, usage

bp = Blueprint(__name__)
api = Api(bp)
USAGE = "/v1/gateway/projects/{project_id}/usage"


@api.route(USAGE + "/has-activity", "GET")
def has_activity(call: Call, project_id: str) -> HasActivity:
    project = keys.get_project(call.principal.org_id, project_id)
    return HasActivity(has_activity=usage.has_activity(project.id))


@api.route(USAGE + "/activity", "GET")
def activity(call: Call, project_id: str) -> Activity:
    """Every metric per period, grouped by up to four dimensions."""
    project = keys.get_project(call.principal.org_id, project_id)
    granularity = usage.parse_granularity(call.query("granularity"))
    group_by = usage.parse_group_by(call.query("group_by"))
    since, to = usage.parse_range(call.query("from"), call.query("to"), granularity)
    filters = usage.parse_filters(call.query, usage.COUNTER_FILTERS)
    data = usage.activity(project.id, granularity, group_by, since, to, filters)
    return Activity(
        project_id=project.id,
        from_=iso(since) or "",
        to=iso(to) or "",
        granularity=granularity,
        group_by=group_by,
        data=[ActivityBucket(**bucket) for bucket in data],
    )


@api.route(USAGE + "/memory-activity", "GET")
def memory_activity(call: Call, project_id: str) -> MemoryActivity:
    """Tokens the observer and reflector spent, apart from the app's own."""
    project = keys.get_project(call.principal.org_id, project_id)
    granularity = usage.parse_granularity(call.query("granularity"))
    group_by = call.query("group_by") or call.query("groupBy")
    if group_by not in (None, "", "api_key_id", "apiKeyId"):
        raise BadRequest(
            "Memory activity can only be grouped by api_key_id.",
            errors=[{"field": "group_by", "message": "must be api_key_id"}],
        )
    since, to = usage.parse_range(call.query("from"), call.query("to"), granularity)
    data = usage.memory_activity(project.id, granularity, bool(group_by), since, to)
    return MemoryActivity(
        project_id=project.id,
        from_=iso(since) or "",
        to=iso(to) or "",
        granularity=granularity,
        data=[MemoryBucket(**bucket) for bucket in data],
    )


@api.route(USAGE + "/logs", "GET")
def logs(call: Call, project_id: str) -> Logs:
    """Newest first by (time, request id); pass `to` back to page stably."""
    project = keys.get_project(call.principal.org_id, project_id)
    since, to = usage.parse_range(call.query("from"), call.query("to"), "daily")
    filters = usage.parse_filters(call.query, usage.LOG_FILTERS)
    limit = usage.parse_int(
        "limit", call.query("limit"), usage.DEFAULT_LIMIT, 1, usage.MAX_LIMIT
    )
    offset = usage.parse_int("offset", call.query("offset"), 0, 0, usage.MAX_OFFSET)
    page, has_more = usage.logs(project.id, since, to, filters, limit, offset)
    return Logs(
        project_id=project.id,
        from_=iso(since) or "",
        to=iso(to) or "",
        logs=[RequestLog(**usage.log_public(r)) for r in page],
        has_more=has_more,
    )


@api.route(USAGE + "/logs/facets", "GET")
def log_facets(call: Call, project_id: str) -> Facets:
    """Request counts per value; each facet honours every filter but its own."""
    project = keys.get_project(call.principal.org_id, project_id)
    for name in ("thread_id", "resource_id"):
        if call.query(name):
            raise BadRequest(
                f"Facets cannot be filtered by {name}.",
                errors=[{"field": name, "message": "is not a facet filter"}],
            )
    since, to = usage.parse_range(call.query("from"), call.query("to"), "daily")
    filters = usage.parse_filters(call.query, usage.COUNTER_FILTERS)
    found = usage.facets(project.id, since, to, filters)
    return Facets.model_validate(found)


@api.route(USAGE + "/logs/{request_id}", "GET")
def log_detail(call: Call, project_id: str, request_id: str) -> LogDetail:
    """One request and the memory messages it saved."""
    project = keys.get_project(call.principal.org_id, project_id)
    record = usage.find_request(project.id, request_id)
    return LogDetail(
        log=RequestLog(**usage.log_public(record)),
        messages=[LogMessage(**m) for m in usage.request_messages(record)],
    )
