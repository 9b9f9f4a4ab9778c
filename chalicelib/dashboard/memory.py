"""Memory as the dashboard shows it: threads by resource.

TODO(#6): read threads, messages and observation history from the memory
service (issue 6) through its API handlers; until it exists, threads are
the thread and resource ids the gateway recorded on each request.
"""

from typing import Any

from chalicelib.dashboard import gateway_data
from chalicelib.dashboard.web import Ctx
from chalicelib.routes import gateway as gateway_routes


def load(ctx: Ctx) -> dict[str, Any]:
    query = ctx.request.query_params
    projects = ctx.api(gateway_routes.list_projects, "GET", "/v1/gateway/projects")[
        "projects"
    ]
    resources: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for project in projects:
        for record in gateway_data.requests(project["id"], gateway_data.Filters())[
            "rows"
        ]:
            if not record["thread_id"]:
                continue
            resource = record["resource_id"] or "(no resource)"
            threads = resources.setdefault(resource, {})
            record["project_id"] = project["id"]
            threads.setdefault(record["thread_id"], []).append(record)
    thread_id = query.get("thread", "")
    selected = None
    for threads in resources.values():
        if thread_id in threads:
            selected = sorted(threads[thread_id], key=lambda r: r["timestamp"] or "")
    return {
        "title": "Memory",
        "resources": {r: sorted(t) for r, t in sorted(resources.items())},
        "thread_id": thread_id,
        "thread": selected,
    }
