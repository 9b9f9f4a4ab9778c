"""Routes that must stream, as an ASGI app beside the Chalice API.

API Gateway buffers a Lambda's whole response, so these run where a
response can stream: beside `chalice local` on the laptop, and behind
Lambda response streaming (Lambda Web Adapter) on AWS.
"""

import asyncio
import time
from collections.abc import AsyncIterator

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chalicelib import edge, gateway_proxy
from chalicelib.dashboard import mounted as dashboard_routes
from chalicelib.errors import MethodNotAllowed, NotFound, ProblemError
from chalicelib.log import logger
from chalicelib.services import deploy_logs, deploys, lifecycle
from chalicelib.services.auth import authenticate
from chalicelib.settings import get_settings

STUDIO_TERMINAL = frozenset({"running", "failed", "stopped"})
# Lines written just before the final status change still get sent.
FINAL_DRAIN_SECONDS = 0.5


def problem(error: ProblemError, instance: str) -> Response:
    return JSONResponse(
        error.to_problem(instance),
        status_code=error.status,
        media_type="application/problem+json",
        headers=error.headers,
    )


async def studio_log_stream(request: Request) -> Response:
    """Replay a deploy's log, follow it, and close once the deploy is done."""
    deploy_id = request.path_params["deploy_id"]
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        principal = await run_in_threadpool(authenticate, headers)
        await run_in_threadpool(
            deploys.get_for_org, principal.org_id, deploy_id, "studio"
        )
    except ProblemError as exc:
        return problem(exc, request.url.path)
    resume = headers.get("last-event-id", "")
    after = int(resume) if resume.isdigit() else 0
    logger.info("Log stream opened", deploy_id=deploy_id, after=after)
    return EventSourceResponse(
        _events(deploy_id, after), ping=15, sep="\n", send_timeout=30
    )


async def _events(deploy_id: str, after: int) -> AsyncIterator[ServerSentEvent]:
    settings = get_settings()
    cursor = deploy_logs.Cursor(deploy_id, after)
    deadline = time.monotonic() + settings.sse_max_seconds
    while time.monotonic() < deadline:
        lines = await run_in_threadpool(cursor.poll)
        for line in lines:
            yield ServerSentEvent(data=line.text, id=str(line.seq))
        if not lines and await _finished(deploy_id):
            await asyncio.sleep(FINAL_DRAIN_SECONDS)
            cursor = deploy_logs.Cursor(deploy_id, cursor.position, gap_grace=0)
            for line in await run_in_threadpool(cursor.poll):
                yield ServerSentEvent(data=line.text, id=str(line.seq))
            return
        await asyncio.sleep(settings.sse_poll_seconds)


async def _finished(deploy_id: str) -> bool:
    deploy = await run_in_threadpool(lifecycle.load, deploy_id)
    return lifecycle.public_status("studio", deploy.status) in STUDIO_TERMINAL


ROUTES = [
    Route(
        "/v1/studio/deploys/{deploy_id}/logs/stream",
        studio_log_stream,
        methods=["GET"],
    ),
    *gateway_proxy.ROUTES,
]


def create_app() -> Starlette:
    """What the AWS streaming function serves: the streaming routes and the
    web dashboard (its pages stream deploy logs too, and API Gateway has
    no place for a Starlette app)."""
    cors = Middleware(
        CORSMiddleware,
        allow_origins=edge.cors_origins(),
        allow_methods=["GET", "POST"],
        allow_headers=[h.strip() for h in edge.CORS_ALLOWED_HEADERS.split(",")],
        expose_headers=[h.strip() for h in edge.CORS_EXPOSED_HEADERS.split(",")],
    )
    return Starlette(
        routes=[*ROUTES, *dashboard_routes()],
        middleware=[cors],
        exception_handlers={HTTPException: routing_problem},
    )


async def routing_problem(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 as problem+json, keeping its Allow header."""
    status = getattr(exc, "status_code", 404)
    headers = dict(getattr(exc, "headers", None) or {})
    error: ProblemError
    if status == 405:
        error = MethodNotAllowed(
            f"{request.method} is not allowed on {request.url.path}.", headers=headers
        )
    else:
        error = NotFound(f"No route for {request.method} {request.url.path}.")
    return problem(error, request.url.path)
