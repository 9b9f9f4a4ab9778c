"""The dashboard's pages. Every read and write goes through an API handler."""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from chalicelib.dashboard import gateway_data, memory
from chalicelib.dashboard.web import (
    ACCESS_COOKIE,
    BASE,
    CSRF_COOKIE,
    REFRESH_COOKIE,
    Ctx,
    act,
    check_csrf,
    clear_cookies,
    client_ip,
    csrf_of,
    page,
    principal_of,
    problem_page,
    render,
    safe_next,
    set_cookie,
)
from chalicelib.errors import BadRequest, NotFound, ProblemError
from chalicelib.log import logger
from chalicelib.routes import (
    auth as auth_routes,
)
from chalicelib.routes import (
    gateway as gateway_routes,
)
from chalicelib.routes import (
    members as member_routes,
)
from chalicelib.routes import (
    server as server_routes,
)
from chalicelib.routes import (
    server_ops,
    studio,
    tokens,
)
from chalicelib.services import deploy_logs, lifecycle, sessions
from chalicelib.settings import get_settings

ROLES = ("admin", "member")
INVITES = "/v1/org/members/invitations"
INVITE = INVITES + "/{invitation_id}"
MEMBER = "/v1/org/members/{member_id}"
TOKENS = "/v1/auth/tokens"
SERVER = "/v1/server/projects/{project_id}"
GW = "/v1/gateway/projects/{project_id}"


def orgs(ctx: Ctx) -> list[dict[str, Any]]:
    found = ctx.api(auth_routes.list_orgs, "GET", "/v1/auth/orgs")
    return list(found["organizations"])


def show(ctx: Ctx, template: str, context: dict[str, Any], status: int) -> Response:
    context.setdefault("orgs", orgs(ctx))
    return render(ctx, template, context, status)


# Sign-in and sign-out -----------------------------------------------------


async def sign_in(request: Request) -> Response:
    form = await request.form() if request.method == "POST" else None
    return await run_in_threadpool(_sign_in, request, form)


def _sign_in(request: Request, form: Any) -> Response:
    csrf, fresh = csrf_of(request)
    target = safe_next(
        (form.get("next") if form is not None else None)
        or request.query_params.get("next")
    )
    error, status, email = None, 200, ""
    if form is not None:
        email = str(form.get("email") or "")
        try:
            check_csrf(request, form)
            user = sessions.sign_in(
                email, str(form.get("password") or ""), client_ip(request)
            )
            org_id = sessions.default_org(user)
            if org_id is None:
                raise ProblemError("Your account is not in any organization yet.")
            tokens_ = sessions.start(user.id, org_id)
        except ProblemError as exc:
            error, status = exc.detail, exc.status
        else:
            if target == BASE + "/":
                target = f"{BASE}/orgs/{quote(org_id, safe='')}"
            response: Response = RedirectResponse(target, status_code=303)
            set_cookie(response, request, ACCESS_COOKIE, tokens_.access_token)
            set_cookie(response, request, REFRESH_COOKIE, tokens_.refresh_token)
            logger.info("Dashboard sign-in", user_id=user.id)
            return response
    response = render(
        request,
        "sign_in.html",
        {
            "title": "Sign in",
            "csrf": csrf,
            "next": target,
            "error": error,
            "email": email,
        },
        status,
    )
    if fresh:
        set_cookie(response, request, CSRF_COOKIE, csrf)
    return response


async def sign_out(request: Request) -> Response:
    form = await request.form()
    return await run_in_threadpool(_sign_out, request, form)


def _sign_out(request: Request, form: Any) -> Response:
    try:
        check_csrf(request, form)
    except ProblemError as exc:
        return problem_page(request, exc.detail, exc.status)
    for name in (ACCESS_COOKIE, REFRESH_COOKIE):
        session_id = sessions.session_id_of(request.cookies.get(name, ""))
        if session_id:
            sessions.end(session_id)
            break
    response: Response = RedirectResponse(f"{BASE}/sign-in", status_code=303)
    clear_cookies(response, request)
    return response


@page
def home(ctx: Ctx) -> Response:
    return RedirectResponse(
        f"{BASE}/orgs/{quote(ctx.org_id, safe='')}", status_code=303
    )


# Organization: members, roles, invitations ---------------------------------


@page
def organization(ctx: Ctx) -> Response:
    return act(ctx, ORG_ACTIONS, _show_org)


def _show_org(ctx: Ctx, extra: dict[str, Any], status: int) -> Response:
    members = ctx.api(member_routes.list_members, "GET", "/v1/org/members")
    invitations = ctx.api(member_routes.list_invitations, "GET", INVITES)
    outbox: list[dict[str, Any]] = []
    if ctx.can("GET", "/v1/org/outbox"):
        outbox = ctx.api(member_routes.outbox, "GET", "/v1/org/outbox")["messages"]
    links = {m["invitation_id"]: m["link"] for m in reversed(outbox)}
    return show(
        ctx,
        "organization.html",
        {
            "title": "Organization",
            "members": members["members"],
            "invitations": invitations["invitations"],
            "links": links,
            "roles": ROLES,
            "paths": {"invite": INVITES, "invitation": INVITE, "member": MEMBER},
            **extra,
        },
        status,
    )


def _invite(ctx: Ctx) -> dict[str, Any]:
    done = ctx.api(
        member_routes.invite,
        "POST",
        INVITES,
        body={"email": ctx.value("email"), "role": ctx.value("role") or "member"},
    )
    return {"notice": f"Invited {done['invitation']['email']}."}


def _revoke_invitation(ctx: Ctx) -> dict[str, Any]:
    ctx.api(
        member_routes.revoke_invitation,
        "DELETE",
        INVITE,
        invitation_id=ctx.value("invitation_id"),
    )
    return {"notice": "Invitation revoked."}


def _change_role(ctx: Ctx) -> dict[str, Any]:
    done = ctx.api(
        member_routes.change_role,
        "PATCH",
        MEMBER,
        body={"role": ctx.value("role")},
        member_id=ctx.value("member_id"),
    )
    member = done["member"]
    return {"notice": f"{member['email']} is now {member['role']}."}


def _remove_member(ctx: Ctx) -> dict[str, Any]:
    ctx.api(
        member_routes.remove_member, "DELETE", MEMBER, member_id=ctx.value("member_id")
    )
    return {"notice": "Member removed."}


ORG_ACTIONS = {
    "invite": _invite,
    "revoke": _revoke_invitation,
    "role": _change_role,
    "remove": _remove_member,
}


# API tokens ------------------------------------------------------------------


@page
def api_tokens(ctx: Ctx) -> Response:
    return act(ctx, TOKEN_ACTIONS, _show_tokens)


def _show_tokens(ctx: Ctx, extra: dict[str, Any], status: int) -> Response:
    found = ctx.api(tokens.list_tokens, "GET", TOKENS)
    return show(
        ctx,
        "tokens.html",
        {"title": "API tokens", "tokens": found["tokens"], **extra},
        status,
    )


def _create_token(ctx: Ctx) -> dict[str, Any]:
    done = ctx.api(
        tokens.create_token, "POST", TOKENS, body={"name": ctx.value("name")}
    )
    return {"created": done["token"], "secret": done["secret"]}


def _revoke_token(ctx: Ctx) -> dict[str, Any]:
    ctx.api(
        tokens.revoke_token,
        "DELETE",
        TOKENS + "/{token_id}",
        token_id=ctx.value("token_id"),
    )
    return {"notice": "Token revoked."}


TOKEN_ACTIONS = {"create": _create_token, "revoke": _revoke_token}


# Studio and Server projects ------------------------------------------------


@page
def project_list(ctx: Ctx) -> Response:
    return act(ctx, {"create": _create_project}, _show_projects)


def _show_projects(ctx: Ctx, extra: dict[str, Any], status: int) -> Response:
    studio_projects = ctx.api(studio.list_projects, "GET", "/v1/studio/projects")
    server_projects = ctx.api(server_routes.list_projects, "GET", "/v1/server/projects")
    return show(
        ctx,
        "projects.html",
        {
            "title": "Projects",
            "studio": studio_projects["projects"],
            "server": server_projects["projects"],
            **extra,
        },
        status,
    )


def _create_project(ctx: Ctx) -> dict[str, Any]:
    product = ctx.value("product")
    handler = {"studio": studio.create_project, "server": server_routes.create_project}
    if product not in handler:
        raise BadRequest("Choose Studio or Server.")
    done = ctx.api(
        handler[product],
        "POST",
        f"/v1/{product}/projects",
        body={"name": ctx.value("name")},
    )
    return {"notice": f"Project {done['project']['name']} created."}


@page
def project_detail(ctx: Ctx) -> Response:
    project_id = ctx.request.path_params["project_id"]
    studio_detail = ctx.api(
        studio.get_project,
        "GET",
        "/v1/studio/projects/{project_id}",
        project_id=project_id,
    )
    server_detail = ctx.api(
        server_routes.get_project, "GET", SERVER, project_id=project_id
    )
    return show(
        ctx,
        "project.html",
        {
            "title": studio_detail["project"]["name"],
            "project": studio_detail["project"],
            "server_project": server_detail["project"],
            "studio_deploys": studio_detail["deploys"],
            "server_deploys": server_detail["deploys"],
        },
        200,
    )


# Deploys, with live status and logs -----------------------------------------


PRODUCTS = {"deploys": "studio", "server-deploys": "server"}


def _deploy(ctx: Ctx, product: str, project_id: str, deploy_id: str) -> dict:
    if product == "studio":
        deploy = ctx.api(
            studio.get_deploy,
            "GET",
            "/v1/studio/deploys/{deploy_id}",
            deploy_id=deploy_id,
        )["deploy"]
    else:
        deploy = ctx.api(
            server_routes.get_deploy,
            "GET",
            "/v1/server/deploys/{deploy_id}",
            deploy_id=deploy_id,
        )
    if deploy["project_id"] != project_id:
        raise NotFound(f"Deploy {deploy_id} not found.")
    return dict(deploy)


def deploy_page(kind: str) -> Any:
    product = PRODUCTS[kind]

    @page
    def view(ctx: Ctx) -> Response:
        params = ctx.request.path_params
        deploy = _deploy(ctx, product, params["project_id"], params["deploy_id"])
        return show(
            ctx,
            "deploy.html",
            {
                "title": f"Deploy {deploy['id']}",
                "deploy": deploy,
                "product": product,
                "events_url": f"{ctx.request.url.path}/events",
            },
            200,
        )

    return view


def deploy_events(kind: str) -> Any:
    """The deploy's log and status as SSE, for the page's EventSource.

    EventSource cannot send an Authorization header, so this authenticates
    the cookie (as pages do) and relays what the log stream route sends:
    every line from the first, or after `Last-Event-ID` on a reconnect.
    """
    product = PRODUCTS[kind]

    async def endpoint(request: Request) -> Response:
        params = request.path_params
        try:
            principal, _ = await run_in_threadpool(
                principal_of, request, params["org_id"]
            )
            ctx = Ctx(request, principal, None, "")
            await run_in_threadpool(
                _deploy, ctx, product, params["project_id"], params["deploy_id"]
            )
        except ProblemError as exc:
            return problem_page(request, exc.detail, exc.status)
        resume = request.headers.get("last-event-id", "")
        after = int(resume) if resume.isdigit() else 0
        return EventSourceResponse(
            _events(params["deploy_id"], product, after),
            ping=15,
            sep="\n",
            send_timeout=30,
        )

    return endpoint


def _done(product: str, status: str) -> bool:
    return status == lifecycle.Status.RUNNING or status in lifecycle.TERMINAL


async def _events(
    deploy_id: str, product: str, after: int
) -> AsyncIterator[ServerSentEvent]:
    settings = get_settings()
    cursor = deploy_logs.Cursor(deploy_id, after)
    deadline = time.monotonic() + settings.sse_max_seconds
    last_status = ""
    while time.monotonic() < deadline:
        lines = await run_in_threadpool(cursor.poll)
        for line in lines:
            yield ServerSentEvent(data=line.text, id=str(line.seq), event="log")
        deploy = await run_in_threadpool(lifecycle.load, deploy_id)
        status = lifecycle.public_status(product, deploy.status)
        if status != last_status:
            last_status = status
            yield ServerSentEvent(
                data=json.dumps({"status": status, "error": deploy.error}),
                event="status",
            )
        if not lines and _done(product, deploy.status):
            await asyncio.sleep(0.5)
            cursor = deploy_logs.Cursor(deploy_id, cursor.position, gap_grace=0)
            for line in await run_in_threadpool(cursor.poll):
                yield ServerSentEvent(data=line.text, id=str(line.seq), event="log")
            yield ServerSentEvent(data=status, event="end")
            return
        await asyncio.sleep(settings.sse_poll_seconds)


# Server project settings ---------------------------------------------------


@page
def server_settings(ctx: Ctx) -> Response:
    return act(ctx, SETTINGS_ACTIONS, _show_settings)


def _pid(ctx: Ctx) -> str:
    return str(ctx.request.path_params["project_id"])


def _show_settings(ctx: Ctx, extra: dict[str, Any], status: int) -> Response:
    project_id = _pid(ctx)
    detail = ctx.api(server_routes.get_project, "GET", SERVER, project_id=project_id)
    env_vars = ctx.api(
        server_ops.get_env, "GET", SERVER + "/env", project_id=project_id
    )
    domains = ctx.api(
        server_ops.list_domains, "GET", SERVER + "/domains", project_id=project_id
    )
    reveal = ctx.request.query_params.get("reveal") == "1" or extra.pop("reveal", False)
    return show(
        ctx,
        "settings.html",
        {
            "title": f"{detail['project']['name']} settings",
            "project": detail["project"],
            "env": sorted(env_vars["envVars"].items()),
            "reveal": reveal,
            "domains": domains["domains"],
            **extra,
        },
        status,
    )


def _write_env(ctx: Ctx, change: dict[str, str | None]) -> None:
    project_id = _pid(ctx)
    current = ctx.api(server_ops.get_env, "GET", SERVER + "/env", project_id=project_id)
    values = dict(current["envVars"])
    for name, value in change.items():
        if value is None:
            values.pop(name, None)
        else:
            values[name] = value
    ctx.api(
        server_ops.put_env,
        "PUT",
        SERVER + "/env",
        body={"envVars": values},
        headers={"if-match": current["_headers"].get("ETag", "")},
        project_id=project_id,
    )


def _set_env(ctx: Ctx) -> dict[str, Any]:
    name = ctx.value("name")
    raw = ctx.form.get("value") if ctx.form is not None else None
    _write_env(ctx, {name: raw if isinstance(raw, str) else ""})
    return {
        "notice": f"{name} saved; it applies to the next deploy or restart.",
    }


def _unset_env(ctx: Ctx) -> dict[str, Any]:
    name = ctx.value("name")
    _write_env(ctx, {name: None})
    return {"notice": f"{name} removed."}


def _add_domain(ctx: Ctx) -> dict[str, Any]:
    done = ctx.api(
        server_ops.add_domain,
        "POST",
        SERVER + "/domains",
        body={"domain": ctx.value("domain")},
        project_id=_pid(ctx),
    )
    return {"notice": f"{done['domain']} added; create its DNS records."}


def _remove_domain(ctx: Ctx) -> dict[str, Any]:
    ctx.api(
        server_ops.remove_domain,
        "DELETE",
        SERVER + "/domains/{domain}",
        project_id=_pid(ctx),
        domain=ctx.value("domain"),
    )
    return {"notice": "Domain removed."}


def _always_on(ctx: Ctx) -> dict[str, Any]:
    on = ctx.value("enabled") == "1"
    handler = server_ops.always_on if on else server_ops.always_off
    ctx.api(
        handler,
        "POST" if on else "DELETE",
        SERVER + "/always-on",
        project_id=_pid(ctx),
    )
    return {"notice": "Always-on is " + ("on." if on else "off.")}


def _pause(ctx: Ctx) -> dict[str, Any]:
    ctx.api(server_ops.pause, "POST", SERVER + "/pause", project_id=_pid(ctx))
    return {"notice": "The server is paused."}


def _restart(ctx: Ctx) -> dict[str, Any]:
    done = ctx.api(
        server_ops.restart, "POST", SERVER + "/restart", project_id=_pid(ctx)
    )
    return {"notice": f"Restarting as deploy {done['id']}.", "restarted": done["id"]}


SETTINGS_ACTIONS = {
    "set-env": _set_env,
    "unset-env": _unset_env,
    "add-domain": _add_domain,
    "remove-domain": _remove_domain,
    "always-on": _always_on,
    "pause": _pause,
    "restart": _restart,
}


# Gateway -----------------------------------------------------------------


@page
def gateway_list(ctx: Ctx) -> Response:
    return act(ctx, {"provision": _provision}, _show_gateway_list)


def _show_gateway_list(ctx: Ctx, extra: dict[str, Any], status: int) -> Response:
    found = ctx.api(gateway_routes.list_projects, "GET", "/v1/gateway/projects")
    return show(
        ctx,
        "gateway_list.html",
        {"title": "Gateway", "projects": found["projects"], **extra},
        status,
    )


def _provision(ctx: Ctx) -> dict[str, Any]:
    done = ctx.api(
        gateway_routes.provision_project,
        "POST",
        "/v1/gateway/projects/provision",
        body={"name": ctx.value("name") or None},
    )
    return {"secret": done["secret"], "created": done["project"]}


@page
def gateway_project(ctx: Ctx) -> Response:
    return act(ctx, GATEWAY_ACTIONS, _show_gateway)


def _gateway_project(ctx: Ctx) -> dict[str, Any]:
    found = ctx.api(gateway_routes.get_project, "GET", GW, project_id=_pid(ctx))
    return dict(found["project"])


def _show_gateway(ctx: Ctx, extra: dict[str, Any], status: int) -> Response:
    project = _gateway_project(ctx)
    keys = ctx.api(
        gateway_routes.list_keys, "GET", GW + "/keys", project_id=project["id"]
    )
    bindings = ctx.api(
        gateway_routes.list_project_bindings,
        "GET",
        GW + "/bindings",
        project_id=project["id"],
    )
    return show(
        ctx,
        "gateway.html",
        {
            "title": project["name"],
            "project": project,
            "keys": keys["keys"],
            "bindings": bindings["bindings"],
            "usage": gateway_data.usage_by_model(ctx, project["id"]),
            "log": gateway_data.request_log(ctx, project["id"], keys["keys"]),
            "selected": gateway_data.selected(ctx),
            "filtered": gateway_data.filtered(ctx),
            "filters": gateway_data.FILTERS,
            "granularities": gateway_data.GRANULARITIES,
            **extra,
        },
        status,
    )


def _create_key(ctx: Ctx) -> dict[str, Any]:
    done = ctx.api(
        gateway_routes.create_key,
        "POST",
        GW + "/keys",
        body={"label": ctx.value("label")},
        project_id=_pid(ctx),
    )
    return {"secret": done["secret"], "notice": f"Key {done['key']['label']} created."}


def _revoke_key(ctx: Ctx) -> dict[str, Any]:
    ctx.api(
        gateway_routes.revoke_key,
        "DELETE",
        GW + "/keys/{key_id}",
        project_id=_pid(ctx),
        key_id=ctx.value("key_id"),
    )
    return {"notice": "Key revoked."}


def _add_binding(ctx: Ctx) -> dict[str, Any]:
    ctx.api(
        gateway_routes.add_project_binding,
        "POST",
        GW + "/bindings",
        body={"provider": ctx.value("provider"), "apiKey": ctx.value("api_key")},
        project_id=_pid(ctx),
    )
    return {"notice": f"Binding for {ctx.value('provider')} saved."}


def _remove_binding(ctx: Ctx) -> dict[str, Any]:
    ctx.api(
        gateway_routes.remove_project_binding,
        "DELETE",
        GW + "/bindings/{provider}",
        project_id=_pid(ctx),
        provider=ctx.value("provider"),
    )
    return {"notice": "Binding removed."}


GATEWAY_ACTIONS = {
    "create-key": _create_key,
    "revoke-key": _revoke_key,
    "add-binding": _add_binding,
    "remove-binding": _remove_binding,
}


@page
def gateway_request(ctx: Ctx) -> Response:
    project = _gateway_project(ctx)
    found = gateway_data.request_detail(
        ctx, project["id"], ctx.request.path_params["request_id"]
    )
    return show(
        ctx,
        "gateway_request.html",
        {
            "title": f"Request {found['log']['request_id']}",
            "project": project,
            "record": found["log"],
            "messages": found["messages"],
        },
        200,
    )


# Memory --------------------------------------------------------------------


@page
def memory_page(ctx: Ctx) -> Response:
    return show(ctx, "memory.html", memory.load(ctx), 200)
