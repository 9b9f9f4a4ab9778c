"""The web dashboard: server-rendered pages over the API's own handlers.

A Starlette app mounted at `/dashboard` (locally by local/front.py; on AWS
beside the streaming app). The Mastra CLI's "Full log" links land here:
`<MASTRA_PROJECTS_URL>/orgs/<org>/projects/<project>/deploys/<deploy>`.
"""

from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from chalicelib.dashboard import views
from chalicelib.dashboard.web import HERE

ORG = "/orgs/{org_id}"
PROJECT = ORG + "/projects/{project_id}"
GET_POST = ["GET", "POST"]


def create_dashboard() -> Starlette:
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
        Mount("/static", app=StaticFiles(directory=str(HERE / "static"))),
    ]
    for kind in views.PRODUCTS:
        path = f"{PROJECT}/{kind}/{{deploy_id}}"
        routes.append(Route(path, views.deploy_page(kind), methods=["GET"]))
        routes.append(
            Route(path + "/events", views.deploy_events(kind), methods=["GET"])
        )
    return Starlette(routes=routes)
