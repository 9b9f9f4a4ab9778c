"""One front port: streaming routes natively, everything else via Chalice.

The Chalice app runs through chalice's own LocalGateway, the same API
Gateway emulation `chalice local` uses, made thread-safe the same way.
"""

import base64
import json
import re
from typing import Any

from chalice import Chalice
from chalice.config import Config
from chalice.local import (
    CustomLocalChalice,
    LocalChalice,
    LocalGateway,
    LocalGatewayException,
)
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from chalicelib import edge
from chalicelib.dashboard import mounted as dashboard_routes
from chalicelib.errors import MethodNotAllowed, NotFound, ProblemError
from chalicelib.streaming import ROUTES, problem, routing_problem

_SLASHES = re.compile(r"/{2,}")
_RAW_SLASHES = re.compile(rb"/{2,}")


class ChaliceBridge:
    """An ASGI app that hands each request to the Chalice app."""

    def __init__(self, app: Chalice) -> None:
        if not isinstance(app, LocalChalice):
            CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
            app.__class__ = CustomLocalChalice
        self._app = app
        self._gateway = LocalGateway(app, Config(chalice_stage="local"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        origin = request.headers.get("origin")
        try:
            # The limit holds before the body is read (issue 8).
            edge.check_body_size(request.headers.get("content-length"))
        except ProblemError as exc:
            await self._problem(exc, request, origin)(scope, receive, send)
            return
        body = await request.body()
        # The path as sent (still percent-encoded): ids are decoded once, later.
        path = scope.get("raw_path", b"").decode("latin-1") or request.url.path
        if request.url.query:
            path = f"{path}?{request.url.query}"
        headers = dict(request.headers.items())
        try:
            result = await run_in_threadpool(
                self._gateway.handle_request,
                request.method,
                path,
                headers,
                body or None,
            )
        except LocalGatewayException:
            response = self._problem(self._routing_error(request), request, origin)
        else:
            response = self._to_response(result)
        await response(scope, receive, send)

    def _problem(
        self, error: ProblemError, request: Request, origin: str | None
    ) -> Response:
        response = problem(error, request.url.path)
        response.headers.update(edge.cors_headers(origin))
        return response

    def _routing_error(self, request: Request) -> ProblemError:
        raw = request.scope.get("raw_path", b"").decode("latin-1")
        allowed = edge.allowed_methods(raw or request.url.path)
        if allowed:
            # A streaming route's path with another method.
            return MethodNotAllowed(
                f"{request.method} is not allowed on {request.url.path}; "
                f"use {', '.join(allowed)}.",
                headers={"Allow": ", ".join(allowed)},
            )
        return NotFound(f"No route for {request.method} {request.url.path}.")

    def _to_response(self, result: dict[str, Any]) -> Response:
        body = result.get("body") or b""
        if result.get("isBase64Encoded"):
            body = base64.b64decode(body)
        headers = dict(result.get("headers") or {})
        for name, values in (result.get("multiValueHeaders") or {}).items():
            headers[name] = ", ".join(values)
        status = int(result["statusCode"])
        if _chalice_error(status, body):
            error = MethodNotAllowed if status == 405 else ProblemError
            allow = {k: v for k, v in headers.items() if k.lower() == "allow"}
            return problem(error(_chalice_message(body), headers=allow), "")
        headers.pop("Content-Length", None)
        media = headers.pop("Content-Type", None) or headers.pop("content-type", None)
        if status in (204, 304):
            return Response(status_code=status, headers=headers)
        return Response(body, status_code=status, headers=headers, media_type=media)


def _chalice_error(status: int, body: str | bytes) -> bool:
    # Chalice's own errors ({"Code", "Message"}) become problem+json too.
    if status < 400:
        return False
    try:
        parsed = json.loads(body)
    except ValueError:
        return False
    return isinstance(parsed, dict) and "Code" in parsed and "Message" in parsed


def _chalice_message(body: str | bytes) -> str:
    try:
        return str(json.loads(body).get("Message") or "Request refused.")
    except ValueError:
        return "Request refused."


class CollapseSlashes:
    """The CLI's raw calls turn a trailing-slash base URL into `//v1/...`."""

    def __init__(self, app: Any) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "//" in scope["path"]:
            scope = dict(scope)
            scope["path"] = _SLASHES.sub("/", scope["path"])
            raw = scope.get("raw_path") or scope["path"].encode()
            scope["raw_path"] = _RAW_SLASHES.sub(b"/", raw)
        await self._app(scope, receive, send)


def create_front(chalice_app: Chalice) -> Any:
    routes: list[Route | Mount] = [
        *ROUTES,
        *dashboard_routes(),
        Mount("/", app=ChaliceBridge(chalice_app)),
    ]
    # A path no route can match (e.g. a decoded newline) is problem+json too.
    handlers = {HTTPException: routing_problem}
    return CollapseSlashes(Starlette(routes=routes, exception_handlers=handlers))
