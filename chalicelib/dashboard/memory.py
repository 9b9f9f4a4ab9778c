"""Memory as the dashboard shows it: threads by resource, messages, observations.

Every read calls the memory routes' own handlers
(`/v1/gateway/projects/{id}/memory/threads...`), so paging and filters are
parsed, validated and authorized as for the API, from the same store.
"""

from typing import Any

from starlette.datastructures import ImmutableMultiDict

from chalicelib.dashboard.web import Ctx
from chalicelib.routes import gateway as gateway_routes
from chalicelib.routes import gateway_memory

THREADS = gateway_memory.THREADS
THREAD = gateway_memory.THREAD
THREADS_PER_PAGE = "20"
MESSAGES_PER_PAGE = "100"


def _query(ctx: Ctx, renamed: dict[str, str], **fixed: str) -> ImmutableMultiDict:
    """Page values under the route's names (repeats kept, so they are refused)."""
    query = ctx.request.query_params
    items = [(api, v) for page, api in renamed.items() for v in query.getlist(page)]
    items += [(k, v) for k, v in fixed.items() if v]
    return ImmutableMultiDict(items)


def _links(ctx: Ctx, found: dict[str, Any], name: str) -> dict[str, Any]:
    """Query values of the newer and older pages of a paged list."""
    page = int(found["page"])
    here = dict(ctx.request.query_params)
    links: dict[str, Any] = {
        "first": page * int(found["per_page"]) + 1,
        "newer": None,
        "older": None,
    }
    if page > 0:
        links["newer"] = {**here, name: str(page - 1)}
    if found["has_more"]:
        links["older"] = {**here, name: str(page + 1)}
    return links


def load(ctx: Ctx) -> dict[str, Any]:
    query = ctx.request.query_params
    projects = ctx.api(gateway_routes.list_projects, "GET", "/v1/gateway/projects")[
        "projects"
    ]
    project_id = query.get("project") or (projects[0]["id"] if projects else "")
    resource = query.get("resource", "").strip()
    context: dict[str, Any] = {
        "title": "Memory",
        "projects": projects,
        "project_id": project_id,
        "resource": resource,
        "resources": {},
        "thread": None,
    }
    if not project_id:
        return context
    found = ctx.api(
        gateway_memory.list_threads,
        "GET",
        THREADS,
        query=_query(
            ctx, {"page": "page"}, perPage=THREADS_PER_PAGE, resourceId=resource
        ),
        project_id=project_id,
    )
    resources: dict[str, list[dict[str, Any]]] = {}
    for thread in found["threads"]:
        resources.setdefault(thread["resource_id"], []).append(thread)
    context.update(
        resources=resources,
        total=found["total"],
        thread_pages=_links(ctx, found, "page"),
    )
    thread_id = query.get("thread", "")
    if thread_id:
        context.update(_thread(ctx, project_id, thread_id))
    return context


def _thread(ctx: Ctx, project_id: str, thread_id: str) -> dict[str, Any]:
    """One thread: its messages oldest first, and its observation history."""
    thread = ctx.api(
        gateway_memory.get_thread,
        "GET",
        THREAD,
        project_id=project_id,
        thread_id=thread_id,
    )["thread"]
    messages = ctx.api(
        gateway_memory.list_messages,
        "GET",
        THREAD + "/messages",
        query=_query(ctx, {"mpage": "page"}, perPage=MESSAGES_PER_PAGE),
        project_id=project_id,
        thread_id=thread_id,
    )
    history = ctx.api(
        gateway_memory.observation_history,
        "GET",
        THREAD + "/observations/history",
        project_id=project_id,
        thread_id=thread_id,
    )
    return {
        "thread": thread,
        "messages": messages["messages"],
        "message_total": messages["total"],
        "message_pages": _links(ctx, messages, "mpage"),
        "observations": history["observations"],
        "generation": history["generation"],
    }
