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
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from chalicelib.dashboard import create_dashboard
from chalicelib.errors import MethodNotAllowed, NotFound, ProblemError
from chalicelib.streaming import ROUTES, problem

_SLASHES = re.compile(r"/{2,}")


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
        body = await request.body()
        path = request.url.path
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
            response = problem(self._routing_error(request), request.url.path)
        else:
            response = self._to_response(result)
        await response(scope, receive, send)

    def _routing_error(self, request: Request) -> ProblemError:
        return NotFound(f"No route for {request.method} {request.url.path}.")

    def _to_response(self, result: dict[str, Any]) -> Response:
        body = result.get("body") or b""
        if result.get("isBase64Encoded"):
            body = base64.b64decode(body)
        headers = dict(result.get("headers") or {})
        for name, values in (result.get("multiValueHeaders") or {}).items():
            headers[name] = ", ".join(values)
        status = int(result["statusCode"])
        if status == 405 or _chalice_error(status, body):
            error = MethodNotAllowed if status == 405 else ProblemError
            return problem(error(_chalice_message(body)), "")
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
            scope["raw_path"] = scope["path"].encode()
        await self._app(scope, receive, send)


def create_front(chalice_app: Chalice) -> Any:
    routes: list[Route | Mount] = [
        *ROUTES,
        Mount("/dashboard", app=create_dashboard()),
        Mount("/", app=ChaliceBridge(chalice_app)),
    ]
    return CollapseSlashes(Starlette(routes=routes))
