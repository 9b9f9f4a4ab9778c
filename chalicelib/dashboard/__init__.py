"""The web dashboard: server-rendered pages over the API's own handlers.

A Starlette app mounted at `/dashboard` (locally by local/front.py; on AWS
in the streaming app, which CloudFront sends `/dashboard*` to). The Mastra
CLI's "Full log" links land here:
`<MASTRA_PROJECTS_URL>/orgs/<org>/projects/<project>/deploys/<deploy>`.
"""

from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

BASE = "/dashboard"
STATIC = Path(__file__).resolve().parent / "static"
ORG = "/orgs/{org_id}"
PROJECT = ORG + "/projects/{project_id}"
GET_POST = ["GET", "POST"]


def create_dashboard() -> Starlette:
    # The pages import every route group; see `OnFirstRequest`.
    from chalicelib.dashboard import views

    routes = [
        Route("/", views.home, methods=["GET"]),
        Route("/sign-in", views.sign_in, methods=GET_POST),
        Route("/sign-out", views.sign_out, methods=["POST"]),
        Route(ORG, views.organization, methods=GET_POST),
        Route(ORG + "/tokens", views.api_tokens, methods=GET_POST),
        Route(ORG + "/projects", views.project_list, methods=GET_POST),
        Route(PROJECT, views.project_detail, methods=["GET"]),
        Route(PROJECT + "/settings", views.server_settings, methods=GET_POST),
        Route(ORG + "/gateway", views.gateway_list, methods=GET_POST),
        Route(ORG + "/gateway/{project_id}", views.gateway_project, methods=GET_POST),
        Route(
            ORG + "/gateway/{project_id}/requests/{request_id}",
            views.gateway_request,
            methods=["GET"],
        ),
        Route(ORG + "/memory", views.memory_page, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=str(STATIC))),
    ]
    for kind in views.PRODUCTS:
        path = f"{PROJECT}/{kind}/{{deploy_id}}"
        routes.append(Route(path, views.deploy_page(kind), methods=["GET"]))
        routes.append(
            Route(path + "/events", views.deploy_events(kind), methods=["GET"])
        )
    app = Starlette(routes=routes)
    # Starlette's slash redirects are absolute URLs built from the Host
    # header, which behind CloudFront names the origin, not the site.
    app.router.redirect_slashes = False
    return app


async def _to_root(request: Request) -> Response:
    return RedirectResponse(BASE + "/", status_code=307)


class OnFirstRequest:
    """The dashboard, built when it is first asked for.

    The streaming function also serves the LLM gateway, whose cold starts
    would otherwise pay for importing every route group and Jinja2 (about
    0.2 s here) before the first proxied request.
    """

    def __init__(self) -> None:
        self._app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            self._app = await run_in_threadpool(create_dashboard)
        await self._app(scope, receive, send)


def mounted() -> list[Route | Mount]:
    """The dashboard at `/dashboard/`, and `/dashboard` (MASTRA_PROJECTS_URL,
    without a trailing slash) redirected there by a relative Location."""
    return [
        Route(BASE, _to_root, methods=["GET", "HEAD"]),
        Mount(BASE, app=OnFirstRequest()),
    ]
