"""A fake LLM provider on loopback speaking the OpenAI and Anthropic formats.

The last user message steers each reply with words in it:
`status:<code>` answers that error, `slow:<seconds>` delays the first
token, `drip:<seconds>` pauses between streamed chunks, `hold` waits until
`release()` is called, `tool` answers with a tool call, `nousage` streams
without a usage chunk, `cached:<n>` reports n cached input tokens,
`words:<n>` makes a reply of n words. Everything it was sent, the usage
it reported and the response id it gave (new for each reply) are kept for
tests to compare with the gateway's request records.
"""

import asyncio
import json
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.local_platform import free_port

DIRECTIVE = re.compile(r"(status|slow|drip|cached|words):([0-9.]+)")


@dataclass
class Seen:
    path: str
    model: str
    credential: str
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class Reported:
    """The usage the fake upstream reported for one call."""

    path: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    streamed: bool
    usage_sent: bool
    generation_id: str = ""


@dataclass
class Plan:
    status: int | None = None
    slow: float = 0.0
    drip: float = 0.0
    hold: bool = False
    tool: bool = False
    nousage: bool = False
    cached: int = 0
    words: int = 5


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [t for item in value for t in _texts(item)]
    if isinstance(value, dict):
        for name in ("content", "text", "input", "output"):
            if name in value:
                return _texts(value[name])
    return []


def _plan(text: str) -> Plan:
    plan = Plan(hold="hold" in text.split(), tool="tool" in text.split())
    plan.nousage = "nousage" in text.split()
    for name, value in DIRECTIVE.findall(text):
        if name == "status":
            plan.status = int(value)
        elif name == "slow":
            plan.slow = float(value)
        elif name == "drip":
            plan.drip = float(value)
        elif name == "cached":
            plan.cached = int(value)
        elif name == "words":
            plan.words = int(value)
    return plan


def _sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    payload = data if isinstance(data, str) else json.dumps(data)
    return f"{head}data: {payload}\n\n".encode()


@dataclass
class FakeUpstream:
    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    reported: list[Reported] = field(default_factory=list)
    gate: threading.Event = field(default_factory=threading.Event)
    held: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    replies: int = 0

    def release(self) -> None:
        self.gate.set()

    def reset(self) -> None:
        with self.lock:
            self.seen.clear()
            self.reported.clear()
            self.held = 0
        self.gate = threading.Event()

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/responses", self._responses, methods=["POST"]),
                Route("/v1/messages", self._messages, methods=["POST"]),
            ]
        )

    async def _receive(self, request: Request, text_of: str) -> tuple[dict, Plan, int]:
        body = await request.json()
        headers = {k.lower(): v for k, v in request.headers.items()}
        credential = headers.get("x-api-key") or headers.get("authorization", "")
        credential = credential.removeprefix("Bearer ")
        with self.lock:
            self.seen.append(
                Seen(request.url.path, body.get("model", ""), credential, body, headers)
            )
        texts = _texts(body.get(text_of, []))
        plan = _plan(texts[-1] if texts else "")
        if plan.hold:
            with self.lock:
                self.held += 1
            await asyncio.to_thread(self.gate.wait, 30)
        if plan.slow:
            await asyncio.sleep(plan.slow)
        prompt = sum(len(t.split()) for t in texts)
        return body, plan, prompt

    def _new_id(self, prefix: str) -> str:
        with self.lock:
            self.replies += 1
            return f"{prefix}{self.replies:04d}"

    def _report(
        self,
        path: str,
        model: str,
        prompt: int,
        plan: Plan,
        streamed: bool,
        sent: bool,
        generation_id: str = "",
    ) -> None:
        with self.lock:
            self.reported.append(
                Reported(
                    path,
                    model,
                    prompt,
                    plan.words,
                    plan.cached,
                    streamed,
                    sent,
                    generation_id,
                )
            )

    # OpenAI Chat Completions

    async def _chat(self, request: Request) -> Response:
        body, plan, prompt = await self._receive(request, "messages")
        model = body["model"]
        if plan.status:
            return _openai_error(plan.status)
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": plan.words,
            "total_tokens": prompt + plan.words,
            "prompt_tokens_details": {"cached_tokens": plan.cached},
        }
        words = [f"word{i}" for i in range(plan.words)]
        reply_id = self._new_id("chatcmpl-fake")
        if not body.get("stream"):
            self._report("chat", model, prompt, plan, False, True, reply_id)
            message: dict[str, Any] = {"role": "assistant", "content": " ".join(words)}
            finish = "stop"
            if plan.tool:
                message = {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [_tool(reply_id)],
                }
                finish = "tool_calls"
            return JSONResponse(
                {
                    "id": reply_id,
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [
                        {"index": 0, "message": message, "finish_reason": finish}
                    ],
                    "usage": usage,
                }
            )
        options = body.get("stream_options") or {}
        send_usage = bool(options.get("include_usage")) and not plan.nousage
        self._report("chat", model, prompt, plan, True, send_usage, reply_id)
        return StreamingResponse(
            self._chat_chunks(
                reply_id, model, words, plan, usage if send_usage else None
            ),
            media_type="text/event-stream",
        )

    async def _chat_chunks(
        self,
        reply_id: str,
        model: str,
        words: list[str],
        plan: Plan,
        usage: dict | None,
    ) -> AsyncIterator[bytes]:
        def chunk(delta: dict, finish: str | None = None) -> dict:
            data: dict[str, Any] = {
                "id": reply_id,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            if usage is not None:
                data["usage"] = None
            return data

        yield _sse(chunk({"role": "assistant", "content": ""}))
        if plan.tool:
            call = _tool(reply_id)
            yield _sse(chunk({"tool_calls": [{"index": 0, **call}]}))
            yield _sse(chunk({}, "tool_calls"))
        else:
            for i, word in enumerate(words):
                yield _sse(chunk({"content": word if i == 0 else f" {word}"}))
                await asyncio.sleep(plan.drip)
            yield _sse(chunk({}, "stop"))
        if usage is not None:
            yield _sse(
                {
                    "id": reply_id,
                    "object": "chat.completion.chunk",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [],
                    "usage": usage,
                }
            )
        yield _sse("[DONE]")

    # OpenAI Responses

    async def _responses(self, request: Request) -> Response:
        body, plan, prompt = await self._receive(request, "input")
        model = body["model"]
        if plan.status:
            return _openai_error(plan.status)
        text = " ".join(f"word{i}" for i in range(plan.words))
        reply_id = self._new_id("resp_fake")
        output: list[dict[str, Any]] = [
            {
                "type": "message",
                "id": "msg_fake",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ]
        if plan.tool:
            call = _tool(reply_id)
            output = [
                {
                    "type": "function_call",
                    "id": f"fc_{reply_id}",
                    "call_id": call["id"],
                    "name": call["function"]["name"],
                    "arguments": call["function"]["arguments"],
                    "status": "completed",
                }
            ]
        response = {
            "id": reply_id,
            "object": "response",
            "created_at": int(time.time()),
            "status": "completed",
            "model": model,
            "output": output,
            "usage": {
                "input_tokens": prompt,
                "output_tokens": plan.words,
                "total_tokens": prompt + plan.words,
                "input_tokens_details": {"cached_tokens": plan.cached},
                "output_tokens_details": {"reasoning_tokens": 0},
            },
        }
        streamed = bool(body.get("stream"))
        self._report("responses", model, prompt, plan, streamed, True, reply_id)
        if not body.get("stream"):
            return JSONResponse(response)

        async def events() -> AsyncIterator[bytes]:
            created = {**response, "status": "in_progress", "output": [], "usage": None}
            yield _sse(
                {"type": "response.created", "response": created, "sequence_number": 0},
                "response.created",
            )
            if plan.tool:
                yield _sse(
                    {
                        "type": "response.output_item.done",
                        "output_index": 0,
                        "item": output[0],
                        "sequence_number": 1,
                    },
                    "response.output_item.done",
                )
            else:
                yield _sse(
                    {
                        "type": "response.output_text.delta",
                        "item_id": "msg_fake",
                        "output_index": 0,
                        "content_index": 0,
                        "delta": text,
                        "sequence_number": 1,
                    },
                    "response.output_text.delta",
                )
            yield _sse(
                {
                    "type": "response.completed",
                    "response": response,
                    "sequence_number": 2,
                },
                "response.completed",
            )

        return StreamingResponse(events(), media_type="text/event-stream")

    # Anthropic Messages

    async def _messages(self, request: Request) -> Response:
        body, plan, prompt = await self._receive(request, "messages")
        model = body["model"]
        if plan.status:
            return _anthropic_error(plan.status)
        usage = {
            "input_tokens": prompt - plan.cached,
            "output_tokens": plan.words,
            "cache_read_input_tokens": plan.cached,
            "cache_creation_input_tokens": 0,
        }
        words = [f"word{i}" for i in range(plan.words)]
        reply_id = self._new_id("msg_fake")
        message = {
            "id": reply_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": " ".join(words)}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": usage,
        }
        if plan.tool:
            message["content"] = [
                {
                    "type": "tool_use",
                    "id": f"toolu_{reply_id}",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                }
            ]
            message["stop_reason"] = "tool_use"
        streamed = bool(body.get("stream"))
        self._report("messages", model, prompt, plan, streamed, True, reply_id)
        if not streamed:
            return JSONResponse(message)
        return StreamingResponse(
            self._anthropic_events(message, words, usage, plan),
            media_type="text/event-stream",
        )

    async def _anthropic_events(
        self, message: dict, words: list[str], usage: dict, plan: Plan
    ) -> AsyncIterator[bytes]:
        start = {
            **message,
            "content": [],
            "stop_reason": None,
            "usage": {**usage, "output_tokens": 1},
        }
        yield _sse({"type": "message_start", "message": start}, "message_start")
        if plan.tool:
            block = {**message["content"][0], "input": {}}
            deltas = [{"type": "input_json_delta", "partial_json": '{"city": "Paris"}'}]
        else:
            block = {"type": "text", "text": ""}
            deltas = [
                {"type": "text_delta", "text": w if i == 0 else f" {w}"}
                for i, w in enumerate(words)
            ]
        yield _sse(
            {"type": "content_block_start", "index": 0, "content_block": block},
            "content_block_start",
        )
        for delta in deltas:
            yield _sse(
                {"type": "content_block_delta", "index": 0, "delta": delta},
                "content_block_delta",
            )
            await asyncio.sleep(0)
        yield _sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
        yield _sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": plan.words},
            },
            "message_delta",
        )
        yield _sse({"type": "message_stop"}, "message_stop")


def _tool(reply_id: str) -> dict:
    return {
        "id": f"call_{reply_id}",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }


def _openai_error(status: int) -> Response:
    return JSONResponse(
        {
            "error": {
                "message": f"fake upstream failure {status}",
                "type": "server_error" if status >= 500 else "invalid_request_error",
                "param": None,
                "code": f"fake_{status}",
            }
        },
        status_code=status,
    )


def _anthropic_error(status: int) -> Response:
    kind = "api_error" if status >= 500 else "invalid_request_error"
    return JSONResponse(
        {
            "type": "error",
            "error": {"type": kind, "message": f"fake upstream failure {status}"},
        },
        status_code=status,
    )


@contextmanager
def serve_in_thread(app: Any, port: int | None = None) -> Iterator[str]:
    """Serve an ASGI app on loopback in a thread; stopped when the block ends."""
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def fake_upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream()
    with serve_in_thread(fake.app()) as url:
        fake.url = url
        yield fake
