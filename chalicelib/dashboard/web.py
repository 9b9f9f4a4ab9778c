"""The dashboard's request plumbing: cookies, CSRF, and calling the API.

Pages never decide who may do what. Each page authenticates the cookie's
access token with `services.auth.authenticate` (exactly as a bearer token
is authenticated by the API), then calls the API's own route handlers in
process, guarded by the same `ROUTE_RULES` entry the API checks. Hiding a
control and refusing its form both ask that one rule.
"""

import hmac
import ipaddress
import json
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

from chalice import Response as ChaliceResponse
from chalice.app import Request as ChaliceRequest
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from chalicelib.dashboard import BASE
from chalicelib.errors import Forbidden, ProblemError, Unauthorized
from chalicelib.http import ROUTE_RULES, Call, RouteRule
from chalicelib.log import logger
from chalicelib.services import sessions
from chalicelib.services.auth import Principal, authenticate

ACCESS_COOKIE = "mastra_dash_access"
REFRESH_COOKIE = "mastra_dash_refresh"
CSRF_COOKIE = "mastra_dash_csrf"
CSRF_FIELD = "csrf"
HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        "img-src 'self' data:; connect-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}
FORBIDDEN_TEXT = "This needs the admin role in the organization."


def rule_for(method: str, path: str) -> RouteRule:
    for rule in ROUTE_RULES:
        if rule.method == method and rule.path == path:
            return rule
    raise LookupError(f"No API route {method} {path}")


def allowed(principal: Principal, method: str, path: str) -> bool:
    """What the API would let this caller do: the route's own rule."""
    rule = rule_for(method, path)
    return not rule.admin or principal.is_admin


@dataclass
class InProcessRequest:
    """What a route handler reads of a Chalice request, built from a page's."""

    method: str
    path: str
    headers: dict[str, str]
    raw_body: bytes = b""
    query_params: Mapping[str, str] | None = None
    context: dict[str, Any] = field(default_factory=dict)


@dataclass
class Ctx:
    """One dashboard request, once its cookie has been checked."""

    request: Request
    principal: Principal
    form: FormData | None
    csrf: str
    cookies: dict[str, str] = field(default_factory=dict)

    @property
    def org_id(self) -> str:
        return self.principal.org_id

    def value(self, name: str) -> str:
        raw = self.form.get(name) if self.form is not None else None
        return raw.strip() if isinstance(raw, str) else ""

    def can(self, method: str, path: str) -> bool:
        return allowed(self.principal, method, path)

    def api(
        self,
        handler: Callable[..., Any],
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        query: Mapping[str, str] | None = None,
        headers: dict[str, str] | None = None,
        **params: str,
    ) -> Any:
        """Call an API route handler as this member, under its route rule."""
        if not self.can(method, path):
            raise Forbidden(FORBIDDEN_TEXT)
        request = InProcessRequest(
            method=method,
            path=path.format(**{k: quote(v, safe="") for k, v in params.items()}),
            headers={
                "host": self.request.headers.get("host", "127.0.0.1"),
                "x-forwarded-proto": self.request.url.scheme,
                "x-organization-id": self.org_id,
                "content-type": "application/json",
                **(headers or {}),
            },
            raw_body=json.dumps(body).encode() if body is not None else b"",
            query_params=query,
            context={"identity": {"sourceIp": client_ip(self.request)}},
        )
        call = Call(cast(ChaliceRequest, request), self.principal)
        result = handler(call, **params)
        if isinstance(result, ChaliceResponse):
            return _response_json(result)
        if isinstance(result, BaseModel):
            return result.model_dump(by_alias=False)
        return result


def _response_json(response: ChaliceResponse) -> Any:
    body = response.body
    if response.status_code >= 400:
        raise ProblemError(str(json.loads(body).get("detail") or "Refused."))
    data = json.loads(body) if body else {}
    if isinstance(data, dict):
        data["_headers"] = dict(response.headers or {})
    return data


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def is_loopback(request: Request) -> bool:
    host = (request.url.hostname or "").strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def secure_cookies(request: Request) -> bool:
    """Secure everywhere but plain HTTP on loopback (`make run`). On AWS the
    Host is the function URL's and the scheme https (X-Forwarded-Proto)."""
    return request.url.scheme == "https" or not is_loopback(request)


def set_cookie(response: Response, request: Request, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
        path=BASE,
    )


def clear_cookies(response: Response, request: Request) -> None:
    for name in (ACCESS_COOKIE, REFRESH_COOKIE):
        response.delete_cookie(
            name,
            path=BASE,
            httponly=True,
            samesite="lax",
            secure=secure_cookies(request),
        )


def csrf_of(request: Request) -> tuple[str, bool]:
    """The CSRF secret (a cookie the page echoes in each form), and if new."""
    value = request.cookies.get(CSRF_COOKIE, "")
    if len(value) >= 32:
        return value, False
    return secrets.token_urlsafe(32), True


def check_csrf(request: Request, form: FormData | None) -> None:
    expected = request.cookies.get(CSRF_COOKIE, "")
    sent = form.get(CSRF_FIELD) if form is not None else None
    if (
        not expected
        or not isinstance(sent, str)
        or not hmac.compare_digest(expected, sent)
    ):
        raise Forbidden(
            "The form expired or did not come from this dashboard; reload the "
            "page and try again."
        )


def safe_next(target: str | None) -> str:
    """Only paths inside the dashboard, so sign-in cannot redirect elsewhere."""
    if (
        target
        and target.startswith(BASE + "/")
        and "\\" not in target
        and "//" not in target
    ):
        return target
    return BASE + "/"


def sign_in_redirect(request: Request) -> Response:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    return RedirectResponse(
        f"{BASE}/sign-in?next={quote(safe_next(target), safe='')}",
        status_code=303,
    )


def principal_of(request: Request, org_id: str | None) -> tuple[Principal, dict]:
    """Authenticate the access cookie as the API would; refresh it if stale."""
    access = request.cookies.get(ACCESS_COOKIE, "")
    headers = {"authorization": f"Bearer {access}"}
    if org_id:
        headers["x-organization-id"] = org_id
    if not access:
        raise Unauthorized("Sign in to continue.")
    try:
        return authenticate(headers), {}
    except Unauthorized:
        refresh = request.cookies.get(REFRESH_COOKIE, "")
        if not refresh:
            raise
        tokens = sessions.refresh(refresh)
        headers["authorization"] = f"Bearer {tokens.access_token}"
        renewed = {
            ACCESS_COOKIE: tokens.access_token,
            REFRESH_COOKIE: tokens.refresh_token,
        }
        return authenticate(headers), renewed


PageFunc = Callable[[Ctx], Response]


def render(
    ctx_or_request: Ctx | Request,
    template: str,
    context: dict[str, Any],
    status: int = 200,
) -> Response:
    if isinstance(ctx_or_request, Ctx):
        request = ctx_or_request.request
        context = {
            "principal": ctx_or_request.principal,
            "org_id": ctx_or_request.org_id,
            "csrf": ctx_or_request.csrf,
            "can": ctx_or_request.can,
            **context,
        }
    else:
        request = ctx_or_request
    context.setdefault("base", BASE)
    response = templates.TemplateResponse(
        request, template, context, status_code=status, headers=SECURITY_HEADERS
    )
    return response


def problem_page(
    request: Request, detail: str, status: int, ctx: Ctx | None = None
) -> Response:
    return render(
        ctx or request,
        "problem.html",
        {"title": "Something went wrong", "detail": detail, "status": status},
        status,
    )


def page(func: PageFunc) -> Callable[[Request], Awaitable[Response]]:
    """A signed-in page: cookie checked, org checked, CSRF checked on POST."""

    async def endpoint(request: Request) -> Response:
        form = await request.form() if request.method == "POST" else None
        return await run_in_threadpool(_serve, func, request, form)

    return endpoint


def _serve(func: PageFunc, request: Request, form: FormData | None) -> Response:
    org_id = request.path_params.get("org_id")
    csrf, fresh_csrf = csrf_of(request)
    try:
        if form is not None:
            check_csrf(request, form)
        principal, renewed = principal_of(request, org_id)
    except Unauthorized:
        if request.method == "GET":
            return sign_in_redirect(request)
        return problem_page(request, "Your session ended; sign in again.", 401)
    except ProblemError as exc:
        return problem_page(request, exc.detail, exc.status)
    ctx = Ctx(request, principal, form, csrf)
    try:
        response = func(ctx)
    except ProblemError as exc:
        response = problem_page(request, exc.detail, exc.status, ctx)
    except Exception:
        logger.exception("Dashboard page failed", path=request.url.path)
        response = problem_page(
            request, "The platform hit an internal error.", 500, ctx
        )
    for name, value in renewed.items():
        set_cookie(response, request, name, value)
    if fresh_csrf:
        set_cookie(response, request, CSRF_COOKIE, csrf)
    return response


def act(
    ctx: Ctx,
    actions: Mapping[str, Callable[[Ctx], dict[str, Any] | None]],
    show: Callable[[Ctx, dict[str, Any], int], Response],
) -> Response:
    """A page's POST: run the named action, then show the page again.

    A refused action shows the page with the problem's `detail` and status.
    """
    if ctx.form is None:
        return show(ctx, {}, 200)
    name = ctx.value("action")
    action = actions.get(name)
    if action is None:
        return show(ctx, {"error": f"Unknown action {name!r}."}, 400)
    try:
        extra = action(ctx) or {}
    except ProblemError as exc:
        detail = exc.detail
        if exc.errors:
            detail += " " + "; ".join(
                f"{e.get('field')}: {e.get('message')}" for e in exc.errors
            )
        return show(ctx, {"error": detail}, exc.status)
    return show(ctx, extra, 200)
