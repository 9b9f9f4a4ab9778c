"""The LLM proxy's HTTP routes (OpenAI and Anthropic wire formats).

Served by the streaming app (chalicelib/streaming.py), so responses pass
through chunk by chunk instead of being buffered by API Gateway.
"""

import asyncio
from collections.abc import Awaitable, Callable

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from chalicelib.log import logger
from chalicelib.services.gateway import keys
from chalicelib.services.gateway.catalogue import get_catalogue
from chalicelib.services.gateway.proxy import (
    ProxyCall,
    Refusal,
    Reply,
    gateway_secret,
    new_outcome,
    provider_hint,
    refusal_reply,
)
from chalicelib.services.gateway.wire import ENDPOINTS, Endpoint

# The catalogue has no release dates; OpenAI's list format wants a number.
CATALOGUE_CREATED = 1735689600


def _headers(request: Request) -> dict[str, str]:
    return {k.lower(): v for k, v in request.headers.items()}


class _Finishing:
    """Runs the reply's `finish` once the response is sent or abandoned."""

    def __init__(
        self, response: Response, finish: Callable[[], Awaitable[None]] | None
    ) -> None:
        self._response = response
        self._finish = finish

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._response(scope, receive, send)
        finally:
            if self._finish is not None:
                # A disconnect cancels the response; the record still goes out.
                with anyio.CancelScope(shield=True):
                    await self._finish()


def _response(reply: Reply) -> _Finishing:
    response: Response
    if reply.stream is not None:
        response = StreamingResponse(
            reply.stream,
            status_code=reply.status,
            headers={**reply.headers, "cache-control": "no-cache"},
            media_type=reply.media_type,
        )
    else:
        response = Response(
            reply.body,
            status_code=reply.status,
            headers=reply.headers,
            media_type=reply.media_type,
        )
    return _Finishing(response, reply.finish)


async def _authenticate(
    request: Request, endpoint: Endpoint, request_id: str, provider: str | None = None
) -> keys.KeyContext | _Finishing:
    secret = gateway_secret(_headers(request))
    try:
        # A leased context answers without I/O, so it stays on the loop.
        held = keys.held_context(secret, provider)
        if held is not None:
            if keys.lease_due(secret, provider):
                _renew_beside(secret, provider)
            return held
        return await run_in_threadpool(keys.authenticate_key, secret, provider)
    except keys.KeyRefused as exc:
        refusal = Refusal(401, str(exc), "invalid_api_key")
        return _response(refusal_reply(endpoint, refusal, request_id))


_renewals: set[asyncio.Task[None]] = set()


def _renew_beside(secret: str | None, provider: str | None) -> None:
    """Renew a key's lease in the background; this request goes on."""

    async def renew() -> None:
        try:
            await run_in_threadpool(keys.renew_lease, secret, provider)
        except Exception:
            logger.exception("Gateway key lease renewal failed")

    task = asyncio.get_running_loop().create_task(renew())
    _renewals.add(task)
    task.add_done_callback(_renewals.discard)


def _proxy_route(name: str):  # type: ignore[no-untyped-def]
    endpoint = ENDPOINTS[name]
    route = f"/v1{endpoint.path}"

    async def handle(request: Request) -> _Finishing:
        outcome = new_outcome(endpoint, route)
        body = await request.body()
        context = await _authenticate(
            request, endpoint, outcome.request_id, provider_hint(endpoint, body)
        )
        if isinstance(context, _Finishing):
            return context
        call = ProxyCall(context, endpoint, outcome)
        reply = await call.run(body, _headers(request))
        return _response(reply)

    handle.__name__ = f"proxy_{name}"
    return Route(route, handle, methods=["POST"])


async def list_models(request: Request) -> Response | _Finishing:
    """The catalogue in OpenAI's list format, limited to the key's models."""
    context = await _authenticate(request, ENDPOINTS["chat"], "")
    if isinstance(context, _Finishing):
        return context
    allowed = context.key.allowed_models
    models = [
        m for m in get_catalogue().models.values() if not allowed or m.id in allowed
    ]
    return JSONResponse(
        {
            "object": "list",
            "data": [
                {
                    "id": m.id,
                    "object": "model",
                    "created": CATALOGUE_CREATED,
                    "owned_by": m.provider,
                }
                for m in models
            ],
        }
    )


ROUTES = [
    _proxy_route("chat"),
    _proxy_route("responses"),
    _proxy_route("messages"),
    Route("/v1/models", list_models, methods=["GET"]),
]
