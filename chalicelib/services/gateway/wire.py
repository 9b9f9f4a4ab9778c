"""The three wire formats the proxy speaks: requests, usage, errors.

`chat` is OpenAI Chat Completions, `responses` the OpenAI Responses API,
`messages` the Anthropic Messages API. Each endpoint answers errors the
gateway raises in its own provider's error format.
"""

import json
from dataclasses import dataclass, field
from typing import Any

from chalicelib.services.gateway.records import Usage

# OpenAI's error `type` for each status; Anthropic's is the same idea.
_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "invalid_request_error",
    429: "rate_limit_error",
}
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


@dataclass(frozen=True)
class Endpoint:
    name: str
    path: str
    error_format: str
    native_provider: str


ENDPOINTS = {
    "chat": Endpoint("chat", "/chat/completions", "openai", "openai"),
    "responses": Endpoint("responses", "/responses", "openai", "openai"),
    "messages": Endpoint("messages", "/messages", "anthropic", "anthropic"),
}


def error_body(endpoint: Endpoint, status: int, message: str, code: str) -> bytes:
    """An error raised by the gateway, in the endpoint's provider format."""
    if endpoint.error_format == "anthropic":
        kind = _ANTHROPIC_TYPES.get(status, "api_error")
        return json.dumps(
            {"type": "error", "error": {"type": kind, "message": message}}
        ).encode()
    kind = _OPENAI_TYPES.get(
        status, "api_error" if status >= 500 else "invalid_request_error"
    )
    return json.dumps(
        {"error": {"message": message, "type": kind, "param": None, "code": code}}
    ).encode()


def error_message(payload: bytes) -> str:
    """The message inside an upstream error body, in either format."""
    try:
        parsed = json.loads(payload)
    except ValueError:
        return payload[:200].decode(errors="replace")
    if isinstance(parsed, dict):
        error = parsed.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:500]
        if isinstance(error, str):
            return error[:500]
    return "upstream error"


@dataclass
class Prepared:
    body: bytes
    is_stream: bool
    output_budget: int | None
    strip_usage_chunk: bool = False


def prepare(
    endpoint: Endpoint, request: dict[str, Any], upstream_model: str
) -> Prepared:
    """The body to send upstream: the provider's own model id, usage asked for."""
    body = dict(request)
    body["model"] = upstream_model
    is_stream = bool(body.get("stream"))
    strip = False
    if endpoint.name == "chat" and is_stream:
        options = body.get("stream_options")
        options = dict(options) if isinstance(options, dict) else {}
        if not options.get("include_usage"):
            options["include_usage"] = True
            strip = True
        body["stream_options"] = options
    budget = None
    for name in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
        value = body.get(name)
        if isinstance(value, int) and value > 0:
            budget = value
            break
    return Prepared(json.dumps(body).encode(), is_stream, budget, strip)


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) else 0


def openai_usage(usage: Any) -> Usage | None:
    """Usage from a chat (`prompt_tokens`) or responses (`input_tokens`) body."""
    if not isinstance(usage, dict):
        return None
    if "input_tokens" in usage:
        details = usage.get("input_tokens_details") or {}
        return Usage(
            _int(usage.get("input_tokens")),
            _int(usage.get("output_tokens")),
            _int(details.get("cached_tokens")) if isinstance(details, dict) else 0,
        )
    details = usage.get("prompt_tokens_details") or {}
    return Usage(
        _int(usage.get("prompt_tokens")),
        _int(usage.get("completion_tokens")),
        _int(details.get("cached_tokens")) if isinstance(details, dict) else 0,
    )


def anthropic_usage(usage: Any, into: Usage | None = None) -> Usage | None:
    """Anthropic counts cache reads and writes apart from `input_tokens`."""
    if not isinstance(usage, dict):
        return into
    result = into or Usage()
    if "input_tokens" in usage or "cache_read_input_tokens" in usage:
        cached = _int(usage.get("cache_read_input_tokens"))
        result.prompt_tokens = (
            _int(usage.get("input_tokens"))
            + cached
            + _int(usage.get("cache_creation_input_tokens"))
        )
        result.cached_tokens = cached
        result.cache_write_tokens = _int(usage.get("cache_creation_input_tokens"))
    if "output_tokens" in usage:
        result.completion_tokens = _int(usage.get("output_tokens"))
    return result


def body_usage(endpoint: Endpoint, payload: bytes) -> Usage | None:
    """Usage from a whole (non-streamed) response body."""
    return body_facts(endpoint, payload)[0]


def body_facts(endpoint: Endpoint, payload: bytes) -> tuple[Usage | None, str | None]:
    """Usage and the upstream's response id from a whole response body.

    The id is the chat completion's, the Responses API response's or the
    Anthropic message's `id`.
    """
    try:
        parsed = json.loads(payload)
    except ValueError:
        return None, None
    if not isinstance(parsed, dict):
        return None, None
    if endpoint.name == "messages":
        usage = anthropic_usage(parsed.get("usage"))
    else:
        usage = openai_usage(parsed.get("usage"))
    return usage, _id(parsed)


def _id(value: Any) -> str | None:
    found = value.get("id") if isinstance(value, dict) else None
    return found[:256] if isinstance(found, str) and found else None


# Event types after which a stream has nothing more to say, per endpoint
# (chat completions end with `data: [DONE]`).
FINAL_EVENTS = {
    "messages": ("message_stop",),
    "responses": ("response.completed", "response.failed", "response.incomplete"),
}


@dataclass
class StreamWatcher:
    """Reads each server-sent event for usage and errors as it passes."""

    endpoint: Endpoint
    strip_usage_chunk: bool
    usage: Usage | None = None
    error: str | None = None
    # The upstream's response id: chunk `id`, `response.id`, `message.id`.
    generation_id: str | None = None
    # The format's last event has passed ([DONE], message_stop, or a
    # response's final state).
    finished: bool = False
    _lines: list[str] = field(default_factory=list)

    def feed_line(self, line: str) -> str | None:
        """Take one line; return a whole event's text once it is complete."""
        if line:
            self._lines.append(line)
            return None
        return self._complete()

    def flush(self) -> str | None:
        return self._complete() if self._lines else None

    def _complete(self) -> str | None:
        lines, self._lines = self._lines, []
        if not lines:
            return None
        data = "\n".join(
            line[5:].removeprefix(" ") for line in lines if line.startswith("data:")
        )
        if self._observe(data):
            return "\n".join(lines) + "\n\n"
        return None

    def _observe(self, data: str) -> bool:
        """Record usage or an error; False drops an event the client never asked for."""
        if data == "[DONE]":
            self.finished = True
            return True
        if not data:
            return True
        try:
            event = json.loads(data)
        except ValueError:
            return True
        if not isinstance(event, dict):
            return True
        if event.get("type") in FINAL_EVENTS.get(self.endpoint.name, ()):
            self.finished = True
        if isinstance(event.get("error"), dict):
            self.error = str(event["error"].get("message") or "stream error")[:500]
        if self.endpoint.name == "messages":
            self._anthropic(event)
            return True
        if self.endpoint.name == "responses":
            response = event.get("response")
            if self.generation_id is None:
                self.generation_id = _id(response)
            if isinstance(response, dict) and response.get("usage"):
                self.usage = openai_usage(response["usage"])
            return True
        if self.generation_id is None:
            self.generation_id = _id(event)
        if event.get("usage"):
            self.usage = openai_usage(event["usage"])
            if self.strip_usage_chunk and not event.get("choices"):
                return False
        return True

    def _anthropic(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "message_start" and isinstance(event.get("message"), dict):
            self.generation_id = self.generation_id or _id(event["message"])
            self.usage = anthropic_usage(event["message"].get("usage"), self.usage)
        elif kind == "message_delta":
            self.usage = anthropic_usage(event.get("usage"), self.usage)
