"""The LLM proxy's HTTP routes (OpenAI and Anthropic wire formats).

Served by the streaming app (chalicelib/streaming.py), so responses pass
through chunk by chunk instead of being buffered by API Gateway.
"""

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from chalicelib.services.gateway import keys
from chalicelib.services.gateway.catalogue import get_catalogue
from chalicelib.services.gateway.proxy import (
    ProxyCall,
    Refusal,
    Reply,
    gateway_secret,
    new_outcome,
    refusal_reply,
)
from chalicelib.services.gateway.wire import ENDPOINTS, Endpoint

# The catalogue has no release dates; OpenAI's list format wants a number.
CATALOGUE_CREATED = 1735689600


def _headers(request: Request) -> dict[str, str]:
    return {k.lower(): v for k, v in request.headers.items()}


def _response(reply: Reply) -> Response:
    if reply.stream is not None:
        return StreamingResponse(
            reply.stream,
            status_code=reply.status,
            headers={**reply.headers, "cache-control": "no-cache"},
            media_type=reply.media_type,
        )
    return Response(
        reply.body,
        status_code=reply.status,
        headers=reply.headers,
        media_type=reply.media_type,
    )


async def _authenticate(
    request: Request, endpoint: Endpoint, request_id: str
) -> keys.KeyContext | Response:
    try:
        return await run_in_threadpool(
            keys.authenticate_key, gateway_secret(_headers(request))
        )
    except keys.KeyRefused as exc:
        refusal = Refusal(401, str(exc), "invalid_api_key")
        return _response(refusal_reply(endpoint, refusal, request_id))


def _proxy_route(name: str):  # type: ignore[no-untyped-def]
    endpoint = ENDPOINTS[name]
    route = f"/v1{endpoint.path}"

    async def handle(request: Request) -> Response:
        outcome = new_outcome(endpoint, route)
        context = await _authenticate(request, endpoint, outcome.request_id)
        if isinstance(context, Response):
            return context
        call = ProxyCall(context, endpoint, outcome)
        reply = await call.run(await request.body(), _headers(request))
        return _response(reply)

    handle.__name__ = f"proxy_{name}"
    return Route(route, handle, methods=["POST"])


async def list_models(request: Request) -> Response:
    """The catalogue in OpenAI's list format, limited to the key's models."""
    context = await _authenticate(request, ENDPOINTS["chat"], "")
    if isinstance(context, Response):
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
