"""One proxied LLM call: check the key's rights, call upstream, record it.

Framework-free: `ProxyCall.run` returns a `Reply` whose body is bytes or an
async iterator of server-sent events, passed on as the upstream sends them.
Every request that gets past key authentication ends in exactly one
request record, whatever happens (refusal, upstream error, disconnect):
the HTTP layer awaits `Reply.finish` once the response is over, so the
record is written after the client has its last byte, not before.
"""

import asyncio
import json
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
from starlette.concurrency import run_in_threadpool

from chalicelib.log import logger
from chalicelib.services.clock import new_id, now
from chalicelib.services.gateway import keys, limits, records, writer
from chalicelib.services.gateway import memory as gateway_memory
from chalicelib.services.gateway.catalogue import (
    NANOS_PER_USD,
    CatalogueModel,
    get_catalogue,
)
from chalicelib.services.gateway.wire import (
    Endpoint,
    Prepared,
    StreamWatcher,
    body_facts,
    error_body,
    error_message,
    prepare,
)
from chalicelib.settings import get_settings

# Headers a client may send that the upstream needs to see.
FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta", "openai-beta")
# Upstream response headers worth passing back.
RETURNED_HEADERS = ("retry-after", "x-request-id", "request-id", "openai-processing-ms")
ANTHROPIC_VERSION = "2023-06-01"
STATUS_CLIENT_CLOSED = 499


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None
    media_type: str = "application/json"
    finish: Callable[[], Awaitable[None]] | None = None


class Refusal(Exception):
    """The gateway itself refuses the request (before or instead of upstream)."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}


def gateway_secret(headers: dict[str, str]) -> str | None:
    """The gateway key from `Authorization: Bearer` or `x-api-key`."""
    authorization = (headers.get("authorization") or "").strip()
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    api_key = (headers.get("x-api-key") or "").strip()
    return api_key or None


def refusal_reply(endpoint: Endpoint, refusal: Refusal, request_id: str) -> Reply:
    return Reply(
        refusal.status,
        {"x-request-id": request_id, **refusal.headers},
        error_body(endpoint, refusal.status, refusal.message, refusal.code),
    )


_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)


def http_client() -> httpx.AsyncClient:
    """One pooled upstream client per event loop."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        settings = get_settings()
        client = httpx.AsyncClient(
            timeout=httpx.Timeout(
                settings.gateway_read_timeout_seconds,
                connect=settings.gateway_connect_timeout_seconds,
            ),
            limits=httpx.Limits(max_connections=512, max_keepalive_connections=64),
        )
        _clients[loop] = client
    return client


@dataclass
class ProxyCall:
    """One request against `endpoint` made with an authenticated key."""

    context: keys.KeyContext
    endpoint: Endpoint
    outcome: records.Outcome
    clock: float = field(default_factory=time.monotonic)
    model: CatalogueModel | None = None
    reservation: limits.Reservation | None = None
    memory: gateway_memory.ProxyMemory | None = None
    _finished: bool = False
    _memory_saved: bool = False

    async def run(self, raw_body: bytes, headers: dict[str, str]) -> Reply:
        self.outcome.thread_id = headers.get("x-thread-id")
        self.outcome.resource_id = headers.get("x-resource-id")
        try:
            prepared, url, upstream_headers = await self._admit(raw_body, headers)
            reply = await self._call_upstream(prepared, url, upstream_headers)
        except Refusal as refusal:
            self.outcome.status_code = refusal.status
            self.outcome.error = refusal.message
            reply = refusal_reply(self.endpoint, refusal, self.outcome.request_id)
        reply.finish = self.finish
        return reply

    async def _admit(
        self, raw_body: bytes, headers: dict[str, str]
    ) -> tuple[Prepared, str, dict[str, str]]:
        request = _json_object(raw_body)
        model = self._resolve_model(request.get("model"))
        if headers.get("x-thread-id"):
            request = await self._remember(request, headers)
        self.outcome.is_stream = bool(request.get("stream"))
        prepared = prepare(self.endpoint, request, model.upstream_model)
        if keys.credential_in_memory(self.context, model.provider):
            credential = keys.resolve_credential(self.context, model.provider)
        else:
            credential = await run_in_threadpool(
                keys.resolve_credential, self.context, model.provider
            )
        if credential is None:
            env = get_catalogue().providers[model.provider].env_name
            raise Refusal(
                400,
                f"No credential for provider {model.provider}: add a provider "
                f"binding to the key or project, or set "
                f"GATEWAY_PROVIDER_{env}_API_KEY on the platform.",
                "provider_not_configured",
            )
        self.outcome.source = credential.source
        key = self.context.key
        if key.rate_limit_rpm or key.spend_limit_nanos is not None:
            await run_in_threadpool(self._take_limits, prepared, len(raw_body))
        provider = get_catalogue().providers[model.provider]
        url = provider.base_url() + self.endpoint.path
        upstream_headers = _upstream_headers(provider.auth, credential, headers)
        if self.memory is not None:
            self.memory.upstream = gateway_memory.Upstream(url, upstream_headers, model)
        return prepared, url, upstream_headers

    async def _remember(
        self, request: dict[str, Any], headers: dict[str, str]
    ) -> dict[str, Any]:
        """Open the thread and put its history in front (issue 6)."""
        try:
            self.memory, request = await run_in_threadpool(
                gateway_memory.attach, self.context, self.endpoint, headers, request
            )
        except gateway_memory.MemoryRefusal as exc:
            raise Refusal(exc.status, exc.message, exc.code) from None
        return request

    def _resolve_model(self, requested: Any) -> CatalogueModel:
        if not isinstance(requested, str) or not requested.strip():
            raise Refusal(400, "The request needs a `model`.", "missing_model")
        model_id = requested.strip()
        if "/" not in model_id:
            model_id = f"{self.endpoint.native_provider}/{model_id}"
        self.outcome.model = model_id
        self.outcome.provider = model_id.partition("/")[0]
        model = get_catalogue().model(model_id)
        if model is None:
            raise Refusal(
                404,
                f"Model {model_id} is not in the gateway's catalogue.",
                "model_not_found",
            )
        allowed = self.context.key.allowed_models
        if allowed and model_id not in allowed:
            raise Refusal(
                403,
                f"This gateway key may not use model {model_id}.",
                "model_not_allowed",
            )
        provider = get_catalogue().providers[model.provider]
        if self.endpoint.name not in provider.formats:
            raise Refusal(
                400,
                f"Provider {model.provider} does not serve {self.endpoint.path}.",
                "unsupported_endpoint",
            )
        self.model = model
        return model

    def _take_limits(self, prepared: Prepared, body_bytes: int) -> None:
        key = self.context.key
        try:
            limits.take_request(key)
        except limits.RateLimited as exc:
            raise Refusal(
                429,
                f"Rate limit of {exc.limit} requests per minute reached for this key.",
                "rate_limit_exceeded",
                {"Retry-After": str(exc.retry_after)},
            ) from None
        try:
            self.reservation = limits.reserve(key, self._estimate(prepared, body_bytes))
        except limits.SpendLimited as exc:
            raise Refusal(
                402,
                f"Spend limit of {exc.limit_nanos / NANOS_PER_USD} USD reached "
                "for this key.",
                "spend_limit_exceeded",
            ) from None

    def _estimate(self, prepared: Prepared, body_bytes: int) -> int:
        # An upper bound: no tokenizer yields more tokens than body bytes, and
        # output cannot exceed the requested (or the model's) output budget.
        assert self.model is not None
        output = prepared.output_budget or min(
            get_settings().gateway_estimate_output_tokens,
            self.model.max_output_tokens,
        )
        return self.model.cost_nanos(body_bytes, output, 0)

    async def _call_upstream(
        self, prepared: Prepared, url: str, headers: dict[str, str]
    ) -> Reply:
        client = http_client()
        request = client.build_request(
            "POST", url, content=prepared.body, headers=headers
        )
        try:
            response = await client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise Refusal(
                502,
                f"The upstream provider {self.outcome.provider} could not be "
                f"reached ({type(exc).__name__}).",
                "upstream_unreachable",
            ) from None
        returned = {
            name: response.headers[name]
            for name in RETURNED_HEADERS
            if name in response.headers
        }
        returned["x-request-id"] = self.outcome.request_id
        media = response.headers.get("content-type", "application/json")
        if response.status_code >= 400 or not prepared.is_stream:
            return await self._whole(response, returned, media)
        watcher = StreamWatcher(self.endpoint, prepared.strip_usage_chunk)
        return Reply(
            response.status_code,
            returned,
            stream=self._relay(response, watcher),
            media_type="text/event-stream",
        )

    async def _whole(
        self, response: httpx.Response, headers: dict[str, str], media: str
    ) -> Reply:
        try:
            payload = await response.aread()
        except httpx.HTTPError:
            payload = b""
        finally:
            await response.aclose()
        self.outcome.status_code = response.status_code
        self.outcome.first_token_ms = self._elapsed_ms()
        if response.status_code >= 400:
            self.outcome.error = error_message(payload)
        else:
            usage, self.outcome.generation_id = body_facts(self.endpoint, payload)
            self.outcome.usage = usage or records.Usage()
            if self.memory is not None:
                self.memory.take_body(payload)
                # Saved before the client has the answer, so its next turn
                # (sent as soon as it has this one) finds this one.
                await self._save_memory()
        return Reply(response.status_code, headers, payload, media_type=media)

    async def _relay(
        self, response: httpx.Response, watcher: StreamWatcher
    ) -> AsyncIterator[bytes]:
        self.outcome.status_code = response.status_code
        try:
            async for line in response.aiter_lines():
                event = watcher.feed_line(line)
                if event is None:
                    continue
                if self.outcome.first_token_ms is None:
                    self.outcome.first_token_ms = self._elapsed_ms()
                if self.memory is not None:
                    self.memory.take_event(event)
                    if watcher.finished:
                        # As for whole answers: saved before the client
                        # sees the end of the stream.
                        await self._save_memory()
                yield event.encode()
            tail = watcher.flush()
            if tail:
                yield tail.encode()
        except httpx.HTTPError as exc:
            self.outcome.status_code = 502
            self.outcome.error = f"upstream stream broke ({type(exc).__name__})"
        except BaseException:
            self.outcome.status_code = STATUS_CLIENT_CLOSED
            self.outcome.error = "client disconnected mid-stream"
            raise
        finally:
            self.outcome.usage = watcher.usage or records.Usage()
            self.outcome.generation_id = watcher.generation_id
            if watcher.error and not self.outcome.error:
                self.outcome.error = watcher.error
            with anyio.CancelScope(shield=True):
                await response.aclose()

    def _elapsed_ms(self) -> int:
        return int((time.monotonic() - self.clock) * 1000)

    async def finish(self) -> None:
        """Price the call, settle its reservation, write its one record."""
        if self._finished:
            return
        self._finished = True
        outcome = self.outcome
        outcome.latency_ms = self._elapsed_ms()
        if self.model is not None:
            usage = outcome.usage
            outcome.cost_nanos = self.model.cost_nanos(
                usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens
            )
        if self.memory is not None:
            await self._save_memory()
        job = writer.Job(self.context, outcome, self.reservation)
        await writer.get_writer().submit(job)
        if self.memory is not None:
            gateway_memory.schedule_observation(self.memory)

    async def _save_memory(self) -> None:
        """The new turn and the answer go to the thread (once); their ids to
        the record."""
        assert self.memory is not None
        if self._memory_saved:
            return
        self._memory_saved = True
        try:
            self.outcome.message_ids = await run_in_threadpool(
                self.memory.save, self.outcome
            )
        except Exception:
            logger.exception(
                "Gateway memory save failed", request_id=self.outcome.request_id
            )


def provider_hint(endpoint: Endpoint, raw_body: bytes) -> str | None:
    """The provider the body's model routes to, so its bindings are read early."""
    try:
        requested = json.loads(raw_body or b"null").get("model")
    except (ValueError, AttributeError):
        return None
    if not isinstance(requested, str):
        return None
    model_id = requested.strip()
    if "/" not in model_id:
        model_id = f"{endpoint.native_provider}/{model_id}"
    model = get_catalogue().model(model_id)
    return model.provider if model is not None else None


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(raw or b"null")
    except ValueError:
        raise Refusal(
            400, "The request body is not valid JSON.", "invalid_json"
        ) from None
    if not isinstance(parsed, dict):
        raise Refusal(400, "The request body must be a JSON object.", "invalid_json")
    return parsed


def _upstream_headers(
    auth: str, credential: keys.Credential, client_headers: dict[str, str]
) -> dict[str, str]:
    headers = {"content-type": "application/json", "accept": "application/json"}
    for name in FORWARDED_HEADERS:
        if client_headers.get(name):
            headers[name] = client_headers[name]
    if auth == "x-api-key":
        headers["x-api-key"] = credential.api_key
        headers.setdefault("anthropic-version", ANTHROPIC_VERSION)
    else:
        headers["authorization"] = f"Bearer {credential.api_key}"
    return headers


def new_outcome(endpoint: Endpoint, route: str) -> records.Outcome:
    return records.Outcome(request_id=new_id("req"), endpoint=route, started_at=now())
