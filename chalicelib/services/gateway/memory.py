"""Memory through the proxy, in each wire format, and observational memory.

Before the upstream call, a request with `x-thread-id` and `x-resource-id`
gets the thread's observations and its unobserved recent messages put in
front of what the client sent. After the response, the new user turn and the
assistant's answer (read from the body, or from the events as they passed)
are saved to the thread. Once the unobserved messages pass the project's
token threshold, an observer call through the same provider condenses them
into an observation; once observations pass theirs, a reflection condenses
them into a new generation. Those calls run in the background after the
response and are counted as memory tokens of the key.
"""

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from chalicelib.log import logger
from chalicelib.models import GatewayProject, MemoryObservation, MemoryThread
from chalicelib.services.clock import new_id, now
from chalicelib.services.gateway import limits, records
from chalicelib.services.gateway import memory_store as store
from chalicelib.services.gateway.catalogue import CatalogueModel
from chalicelib.services.gateway.keys import KeyContext
from chalicelib.services.gateway.wire import Endpoint, body_usage
from chalicelib.settings import get_settings

CLAIM_SECONDS = 180
OBSERVER_MAX_TOKENS = 2048
OBSERVATIONS_HEADING = "Observations from earlier in this conversation:"
OBSERVER_INSTRUCTIONS = (
    "You are the memory observer of a conversation. Read the transcript and "
    "write concise, factual observations as bullet points: what the user "
    "wants, facts they stated, decisions made and open questions. Keep names, "
    "numbers and dates exactly. Answer with the observations only."
)
REFLECTOR_INSTRUCTIONS = (
    "You are the memory reflector of a conversation. Merge the observations "
    "below into one shorter list of bullet points, dropping repetition and "
    "anything superseded, keeping every fact still relevant. Answer with the "
    "merged observations only."
)

# Strong references to observer tasks while they run.
_tasks: set[asyncio.Task[None]] = set()


class MemoryRefusal(Exception):
    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


@dataclass
class Upstream:
    """How to reach the provider this request went to (for the observer)."""

    url: str
    headers: dict[str, str]
    model: CatalogueModel


def thresholds(project: GatewayProject) -> tuple[int, int]:
    settings = get_settings()
    observe = project.memory_observe_tokens or settings.gateway_memory_observe_tokens
    reflect = project.memory_reflect_tokens or settings.gateway_memory_reflect_tokens
    return int(observe), int(reflect)


# Reading a request: the client's new turn


def _content_parts(content: Any) -> list[dict[str, Any]]:
    """A message's content (a string or blocks) as format-2 parts, in order."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    parts: list[dict[str, Any]] = []
    if isinstance(content, list):
        for block in content:
            if isinstance(block, str):
                parts.append({"type": "text", "text": block})
            elif isinstance(block, dict):
                kind = block.get("type")
                if kind in ("text", "input_text", "output_text"):
                    parts.append({"type": "text", "text": str(block.get("text", ""))})
                else:
                    parts.append({"type": "source", "source": block})
    return parts


def _result_part(call_id: str, name: str, result: Any) -> dict[str, Any]:
    return {
        "type": "tool-invocation",
        "toolInvocation": {
            "state": "result",
            "toolCallId": call_id,
            "toolName": name,
            "args": {},
            "result": result,
        },
    }


def _tool_results(
    endpoint: Endpoint, item: Any, names: dict[str, str]
) -> list[dict[str, Any]]:
    """The tool-result parts one client item carries, in the endpoint's format."""
    if not isinstance(item, dict):
        return []
    if endpoint.name == "chat" and item.get("role") == "tool":
        call_id = str(item.get("tool_call_id") or "")
        return [_result_part(call_id, names.get(call_id, ""), item.get("content"))]
    if endpoint.name == "responses" and item.get("type") == "function_call_output":
        call_id = str(item.get("call_id") or "")
        return [_result_part(call_id, names.get(call_id, ""), item.get("output"))]
    if endpoint.name == "messages" and isinstance(item.get("content"), list):
        return [
            _result_part(
                str(block.get("tool_use_id") or ""),
                names.get(str(block.get("tool_use_id") or ""), ""),
                block.get("content"),
            )
            for block in item["content"]
            if isinstance(block, dict) and block.get("type") == "tool_result"
        ]
    return []


def _trailing_turn(
    endpoint: Endpoint, items: list[Any], names: dict[str, str]
) -> list[store.MessageIn]:
    """The client's items after the last assistant one: user turns and tool
    results (saved as `tool` messages)."""
    turn: list[store.MessageIn] = []
    for item in reversed(items):
        if not isinstance(item, dict):
            break
        results = _tool_results(endpoint, item, names)
        if item.get("role") == "user":
            content = item.get("content")
            if endpoint.name == "messages" and isinstance(content, list):
                content = [
                    b
                    for b in content
                    if not (isinstance(b, dict) and b.get("type") == "tool_result")
                ]
            turn.append(store.MessageIn("user", _content_parts(content)))
            if results:
                turn.append(store.MessageIn("tool", results))
        elif results:
            turn.append(store.MessageIn("tool", results))
        else:
            break
    turn.reverse()
    return [m for m in turn if m.parts]


def new_turn(
    endpoint: Endpoint, request: dict[str, Any], names: dict[str, str] | None = None
) -> list[store.MessageIn]:
    """What the client adds to the thread; `names` maps tool call ids to tools."""
    if endpoint.name == "responses":
        given = request.get("input")
        if isinstance(given, str):
            return [store.MessageIn("user", _content_parts(given))] if given else []
        items = given if isinstance(given, list) else []
    else:
        given = request.get("messages")
        items = given if isinstance(given, list) else []
    return _trailing_turn(endpoint, items, names or {})


# Writing a request: history and observations in front


@dataclass
class _Call:
    id: str
    name: str
    args: Any


@dataclass
class _Entry:
    """One replayed item: a user text, an assistant answer, or a tool result."""

    role: str
    text: str = ""
    calls: list[_Call] = field(default_factory=list)
    call_id: str = ""
    result: Any = None


def _invocations(message: Any) -> list[dict[str, Any]]:
    parts = store.message_content(message).get("parts") or []
    return [
        p["toolInvocation"]
        for p in parts
        if isinstance(p, dict)
        and p.get("type") == "tool-invocation"
        and isinstance(p.get("toolInvocation"), dict)
    ]


def _entries(messages: list[Any]) -> list[_Entry]:
    entries: list[_Entry] = []
    for message in messages:
        if message.role == "user":
            text = store.message_text(message)
            if text:
                entries.append(_Entry("user", text))
            continue
        if message.role not in ("assistant", "tool"):
            continue
        invocations = _invocations(message)
        results = [
            _Entry("result", call_id=str(i.get("toolCallId")), result=i.get("result"))
            for i in invocations
            if i.get("state") == "result"
        ]
        if message.role == "assistant":
            calls = [
                _Call(str(i.get("toolCallId")), str(i.get("toolName")), i.get("args"))
                for i in invocations
            ]
            entries.append(_Entry("assistant", store.message_text(message), calls))
        entries.extend(results)
    return entries


def tool_names(messages: list[Any]) -> dict[str, str]:
    """Tool call id to tool name, from stored assistant messages."""
    names: dict[str, str] = {}
    for message in messages:
        if message.role == "assistant":
            for i in _invocations(message):
                names[str(i.get("toolCallId"))] = str(i.get("toolName"))
    return names


def _answered_now(endpoint: Endpoint, request: dict[str, Any]) -> set[str]:
    """Tool call ids the client's own items answer."""
    given = request.get("input" if endpoint.name == "responses" else "messages")
    items = given if isinstance(given, list) else []
    return {
        part["toolInvocation"]["toolCallId"]
        for item in items
        for part in _tool_results(endpoint, item, {})
    }


def _called_now(endpoint: Endpoint, request: dict[str, Any]) -> set[str]:
    """Tool call ids the client sends again itself (its own copy wins)."""
    given = request.get("input" if endpoint.name == "responses" else "messages")
    found: set[str] = set()
    for item in given if isinstance(given, list) else []:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "function_call":
            found.add(str(item.get("call_id")))
        elif item.get("role") == "assistant":
            found.update(str(c.get("id")) for c in item.get("tool_calls") or [])
            content = item.get("content")
            blocks = content if isinstance(content, list) else []
            found.update(
                str(b.get("id"))
                for b in blocks
                if isinstance(b, dict) and b.get("type") == "tool_use"
            )
    return found


def _paired(
    entries: list[_Entry], answered_now: set[str], called_now: set[str]
) -> list[_Entry]:
    """Only calls with a result and results with a call: every provider
    refuses a tool call left unanswered or a result without its call."""
    called = {c.id for e in entries for c in e.calls} - called_now
    answered = {e.call_id for e in entries if e.role == "result"} | answered_now
    kept: list[_Entry] = []
    for entry in entries:
        if entry.role == "result":
            if entry.call_id in called:
                kept.append(entry)
            continue
        if entry.role == "assistant":
            entry.calls = [c for c in entry.calls if c.id in answered & called]
            if not entry.text and not entry.calls:
                continue
        kept.append(entry)
    return kept


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(
        isinstance(b, dict) and b.get("type") in ("text", "input_text", "output_text")
        for b in value
    ):
        return "\n".join(str(b.get("text", "")) for b in value)
    return json.dumps(value)


def _as_object(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value) if value else {}
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def _as_arguments(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value or {})


def _chat_items(entries: list[_Entry]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for entry in entries:
        if entry.role == "user":
            items.append({"role": "user", "content": entry.text})
        elif entry.role == "result":
            items.append(
                {
                    "role": "tool",
                    "tool_call_id": entry.call_id,
                    "content": _as_text(entry.result),
                }
            )
        else:
            item: dict[str, Any] = {"role": "assistant", "content": entry.text or None}
            if entry.calls:
                item["tool_calls"] = [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {
                            "name": c.name,
                            "arguments": _as_arguments(c.args),
                        },
                    }
                    for c in entry.calls
                ]
            items.append(item)
    return items


def _anthropic_items(entries: list[_Entry]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for entry in entries:
        blocks: list[dict[str, Any]]
        if entry.role == "user":
            role, blocks = "user", [{"type": "text", "text": entry.text}]
        elif entry.role == "result":
            result = entry.result
            if not isinstance(result, list):
                result = _as_text(result)
            role = "user"
            blocks = [
                {"type": "tool_result", "tool_use_id": entry.call_id, "content": result}
            ]
        else:
            role = "assistant"
            blocks = [{"type": "text", "text": entry.text}] if entry.text else []
            blocks += [
                {
                    "type": "tool_use",
                    "id": c.id,
                    "name": c.name,
                    "input": _as_object(c.args),
                }
                for c in entry.calls
            ]
        if items and items[-1]["role"] == role:
            items[-1]["content"].extend(blocks)
        else:
            items.append({"role": role, "content": blocks})
    for item in items:
        blocks = item["content"]
        if len(blocks) == 1 and blocks[0]["type"] == "text":
            item["content"] = blocks[0]["text"]
    while items and items[0]["role"] != "user":
        items.pop(0)
    return items


def _responses_items(entries: list[_Entry]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for entry in entries:
        if entry.role == "user":
            items.append({"role": "user", "content": entry.text})
        elif entry.role == "result":
            items.append(
                {
                    "type": "function_call_output",
                    "call_id": entry.call_id,
                    "output": _as_text(entry.result),
                }
            )
        else:
            if entry.text:
                items.append({"role": "assistant", "content": entry.text})
            items += [
                {
                    "type": "function_call",
                    "call_id": c.id,
                    "name": c.name,
                    "arguments": _as_arguments(c.args),
                }
                for c in entry.calls
            ]
    return items


def _history(
    endpoint: Endpoint, messages: list[Any], request: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Stored messages in the endpoint's format, tool calls and results too."""
    given = request or {}
    entries = _paired(
        _entries(messages),
        _answered_now(endpoint, given),
        _called_now(endpoint, given),
    )
    if endpoint.name == "messages":
        return _anthropic_items(entries)
    if endpoint.name == "responses":
        return _responses_items(entries)
    return _chat_items(entries)


def inject(
    endpoint: Endpoint,
    request: dict[str, Any],
    history: list[Any],
    observations: list[MemoryObservation],
) -> dict[str, Any]:
    """The request with stored context added, in the endpoint's own format."""
    body = dict(request)
    past = _history(endpoint, history, request)
    notes = "\n\n".join(o.text for o in observations if o.text)
    note = f"{OBSERVATIONS_HEADING}\n{notes}" if notes else ""
    if endpoint.name == "responses":
        given = body.get("input")
        current = (
            [{"role": "user", "content": given}]
            if isinstance(given, str)
            else list(given or [])
        )
        body["input"] = past + current
        if note:
            instructions = body.get("instructions")
            body["instructions"] = f"{instructions}\n\n{note}" if instructions else note
        return body
    current = list(body.get("messages") or [])
    if endpoint.name == "messages":
        body["messages"] = past + current
        if note:
            system = body.get("system")
            if isinstance(system, list):
                body["system"] = [*system, {"type": "text", "text": note}]
            else:
                body["system"] = f"{system}\n\n{note}" if system else note
        return body
    lead = 0
    while lead < len(current) and isinstance(current[lead], dict):
        if current[lead].get("role") not in ("system", "developer"):
            break
        lead += 1
    extra = [{"role": "system", "content": note}] if note else []
    body["messages"] = current[:lead] + extra + past + current[lead:]
    return body


# Reading a response: the assistant's answer


def _tool_part(call_id: str, name: str, arguments: Any) -> dict[str, Any]:
    args = arguments
    if isinstance(arguments, str):
        try:
            args = json.loads(arguments) if arguments else {}
        except ValueError:
            args = arguments
    return {
        "type": "tool-invocation",
        "toolInvocation": {
            "state": "call",
            "toolCallId": call_id,
            "toolName": name,
            "args": args,
        },
    }


def answer_parts(endpoint: Endpoint, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Format-2 parts of a whole response body."""
    parts: list[dict[str, Any]] = []
    if endpoint.name == "messages":
        for block in payload.get("content") or []:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text" and block.get("text"):
                parts.append({"type": "text", "text": block["text"]})
            elif block.get("type") == "tool_use":
                parts.append(
                    _tool_part(
                        str(block.get("id")), str(block.get("name")), block.get("input")
                    )
                )
        return parts
    if endpoint.name == "responses":
        for item in payload.get("output") or []:
            if not isinstance(item, dict):
                continue
            if item.get("type") == "message":
                for block in item.get("content") or []:
                    if isinstance(block, dict) and block.get("text"):
                        parts.append({"type": "text", "text": block["text"]})
            elif item.get("type") == "function_call":
                parts.append(
                    _tool_part(
                        str(item.get("call_id")),
                        str(item.get("name")),
                        item.get("arguments"),
                    )
                )
        return parts
    choices = payload.get("choices") or []
    message = choices[0].get("message") if choices else None
    if isinstance(message, dict):
        if message.get("content"):
            parts.append({"type": "text", "text": str(message["content"])})
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            parts.append(
                _tool_part(
                    str(call.get("id")),
                    str(function.get("name")),
                    function.get("arguments"),
                )
            )
    return parts


@dataclass
class StreamedAnswer:
    """Collects the assistant's answer from server-sent events as they pass."""

    endpoint: Endpoint
    text: list[str] = field(default_factory=list)
    tools: dict[int, dict[str, str]] = field(default_factory=dict)
    completed: list[dict[str, Any]] | None = None

    def feed(self, event_text: str) -> None:
        for line in event_text.splitlines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if not data or data == "[DONE]":
                continue
            try:
                event = json.loads(data)
            except ValueError:
                continue
            if isinstance(event, dict):
                self._event(event)

    def _event(self, event: dict[str, Any]) -> None:
        if self.endpoint.name == "messages":
            kind = event.get("type")
            index = int(event.get("index") or 0)
            if kind == "content_block_start":
                block = event.get("content_block") or {}
                if block.get("type") == "tool_use":
                    self.tools[index] = {
                        "id": str(block.get("id")),
                        "name": str(block.get("name")),
                        "arguments": "",
                    }
            elif kind == "content_block_delta":
                delta = event.get("delta") or {}
                if delta.get("type") == "text_delta":
                    self.text.append(str(delta.get("text", "")))
                elif delta.get("type") == "input_json_delta" and index in self.tools:
                    self.tools[index]["arguments"] += str(delta.get("partial_json", ""))
            return
        if self.endpoint.name == "responses":
            if event.get("type") == "response.output_text.delta":
                self.text.append(str(event.get("delta", "")))
            elif event.get("type") == "response.completed":
                response = event.get("response") or {}
                self.completed = answer_parts(self.endpoint, response)
            return
        for choice in event.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("content"):
                self.text.append(str(delta["content"]))
            for call in delta.get("tool_calls") or []:
                slot = self.tools.setdefault(
                    int(call.get("index") or 0),
                    {"id": "", "name": "", "arguments": ""},
                )
                function = call.get("function") or {}
                slot["id"] = call.get("id") or slot["id"]
                slot["name"] = function.get("name") or slot["name"]
                slot["arguments"] += function.get("arguments") or ""

    def parts(self) -> list[dict[str, Any]]:
        if self.completed is not None:
            return self.completed
        parts: list[dict[str, Any]] = []
        text = "".join(self.text)
        if text:
            parts.append({"type": "text", "text": text})
        for _, tool in sorted(self.tools.items()):
            parts.append(_tool_part(tool["id"], tool["name"], tool["arguments"]))
        return parts


# One proxied request's memory


@dataclass
class ProxyMemory:
    context: KeyContext
    endpoint: Endpoint
    thread: MemoryThread
    turn: list[store.MessageIn]
    upstream: Upstream | None = None
    body: bytes | None = None
    streamed: StreamedAnswer | None = None

    def take_body(self, payload: bytes) -> None:
        self.body = payload

    def take_event(self, event_text: str) -> None:
        if self.streamed is None:
            self.streamed = StreamedAnswer(self.endpoint)
        self.streamed.feed(event_text)

    def answer(self) -> list[dict[str, Any]]:
        if self.streamed is not None:
            return self.streamed.parts()
        if self.body:
            try:
                payload = json.loads(self.body)
            except ValueError:
                return []
            if isinstance(payload, dict):
                return answer_parts(self.endpoint, payload)
        return []

    def save(self, outcome: records.Outcome) -> list[str]:
        """Store the new turn and the answer; their ids go in the record."""
        if outcome.status_code >= 400 or outcome.status_code == 0:
            return []
        messages = list(self.turn)
        for message in messages:
            message.created_at = outcome.started_at
        answer = self.answer()
        if answer:
            messages.append(store.MessageIn("assistant", answer, created_at=now()))
        if not messages:
            return []
        saved = store.save_messages(self.thread, messages)
        return [m.id for m in saved]


def attach(
    context: KeyContext,
    endpoint: Endpoint,
    headers: dict[str, str],
    request: dict[str, Any],
) -> tuple[ProxyMemory | None, dict[str, Any]]:
    """Open the request's thread and add its context; (None, request) without."""
    thread_id = (headers.get("x-thread-id") or "").strip()
    resource_id = (headers.get("x-resource-id") or "").strip()
    if not thread_id:
        return None, request
    if not resource_id:
        raise MemoryRefusal(
            400,
            "x-thread-id needs x-resource-id: send the resource the thread belongs to.",
            "missing_resource_id",
        )
    if not store.valid_id(thread_id) or not store.valid_id(resource_id):
        raise MemoryRefusal(
            400,
            "x-thread-id and x-resource-id must be 1 to 256 printable characters.",
            "invalid_memory_header",
        )
    try:
        thread = store.open_thread(context.project.id, thread_id, resource_id)
    except store.ThreadForbidden:
        raise MemoryRefusal(
            404, f"Thread {thread_id} not found.", "thread_not_found"
        ) from None
    limit = get_settings().gateway_memory_recent_messages
    history = store.list_messages(thread, after=thread.observed_until, newest=limit)
    observations = store.active_observations(thread)
    turn = new_turn(endpoint, request, tool_names(history))
    memory = ProxyMemory(context, endpoint, thread, turn)
    return memory, inject(endpoint, request, history, observations)


# Observational memory, after the response


def schedule_observation(memory: ProxyMemory) -> None:
    """Start the observer in the background; the response is already out."""
    if memory.upstream is None:
        return
    task = asyncio.get_running_loop().create_task(observe(memory))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def observe(memory: ProxyMemory) -> None:
    thread = memory.thread
    try:
        await _observe(memory)
    except Exception:
        logger.exception(
            "Gateway memory observation failed",
            project_id=thread.project_id,
            thread_id=thread.id,
        )
        await asyncio.to_thread(_release, thread)


async def _observe(memory: ProxyMemory) -> None:
    observe_at, reflect_at = thresholds(memory.context.project)
    thread = await asyncio.to_thread(
        store.get_thread, memory.thread.project_id, memory.thread.id
    )
    tail = await asyncio.to_thread(
        store.list_messages, thread, after=thread.observed_until
    )
    if sum(int(m.tokens or 0) for m in tail) < observe_at:
        return
    if not await asyncio.to_thread(_claim, thread):
        return
    transcript = "\n\n".join(
        f"{m.role}: {store.message_text(m)}" for m in tail if store.message_text(m)
    )
    text, usage = await _condense(memory, OBSERVER_INSTRUCTIONS, transcript)
    generation = int(thread.generation or 0)
    await asyncio.to_thread(
        _record, memory, thread, "observation", generation, text, usage, len(tail)
    )
    await asyncio.to_thread(_mark_observed, thread, tail[-1].order_key)
    active = await asyncio.to_thread(store.active_observations, thread)
    if sum(int(o.tokens or 0) for o in active) >= reflect_at:
        merged = "\n\n".join(o.text for o in active)
        text, usage = await _condense(memory, REFLECTOR_INSTRUCTIONS, merged)
        await asyncio.to_thread(
            _record,
            memory,
            thread,
            "reflection",
            generation + 1,
            text,
            usage,
            0,
        )
        await asyncio.to_thread(_next_generation, thread, generation + 1)
    await asyncio.to_thread(_release, thread)


def _claim(thread: MemoryThread) -> bool:
    """Hold the thread for one observer run; False if another holds it."""
    stamp = int(time.time())
    try:
        thread.update(
            actions=[MemoryThread.observing_until.set(stamp + CLAIM_SECONDS)],
            condition=(
                MemoryThread.id.exists()
                & (MemoryThread.observed_until == thread.observed_until)
                & (
                    MemoryThread.observing_until.does_not_exist()
                    | (MemoryThread.observing_until < stamp)
                )
            ),
        )
    except Exception:
        return False
    return True


def _release(thread: MemoryThread) -> None:
    try:
        thread.update(
            actions=[MemoryThread.observing_until.remove()],
            condition=MemoryThread.id.exists(),
        )
    except Exception:
        return


def _mark_observed(thread: MemoryThread, until: str) -> None:
    thread.update(
        actions=[MemoryThread.observed_until.set(until)],
        condition=MemoryThread.id.exists(),
    )


def _next_generation(thread: MemoryThread, generation: int) -> None:
    thread.update(
        actions=[MemoryThread.generation.set(generation)],
        condition=MemoryThread.id.exists(),
    )


def _record(
    memory: ProxyMemory,
    thread: MemoryThread,
    kind: str,
    generation: int,
    text: str,
    usage: records.Usage,
    message_count: int,
) -> None:
    assert memory.upstream is not None
    model = memory.upstream.model
    stamp = now()
    record_id = new_id("obs")
    MemoryObservation(
        store.thread_key(thread.project_id, thread.id),
        store.observation_sort_key(generation, stamp, record_id),
        id=record_id,
        project_id=thread.project_id,
        thread_id=thread.id,
        resource_id=thread.resource_id,
        generation=generation,
        kind=kind,
        text=text,
        tokens=store.estimate_tokens(text),
        message_count=message_count,
        observed_until=thread.observed_until,
        model=model.id,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        created_at=stamp,
    ).save()
    logger.info(
        "Gateway memory condensed",
        project_id=thread.project_id,
        thread_id=thread.id,
        kind=kind,
        generation=generation,
        total_tokens=usage.total_tokens,
    )


def _observer_body(
    endpoint: Endpoint, upstream_model: str, instructions: str, text: str
) -> dict[str, Any]:
    if endpoint.name == "messages":
        return {
            "model": upstream_model,
            "max_tokens": OBSERVER_MAX_TOKENS,
            "system": instructions,
            "messages": [{"role": "user", "content": text}],
        }
    if endpoint.name == "responses":
        return {
            "model": upstream_model,
            "instructions": instructions,
            "input": text,
            "store": False,
        }
    return {
        "model": upstream_model,
        "messages": [
            {"role": "system", "content": instructions},
            {"role": "user", "content": text},
        ],
    }


async def _condense(
    memory: ProxyMemory, instructions: str, text: str
) -> tuple[str, records.Usage]:
    """One observer or reflector call through the request's own provider."""
    assert memory.upstream is not None
    upstream = memory.upstream
    body = _observer_body(
        memory.endpoint, upstream.model.upstream_model, instructions, text
    )
    settings = get_settings()
    async with httpx.AsyncClient(
        timeout=httpx.Timeout(
            settings.gateway_read_timeout_seconds,
            connect=settings.gateway_connect_timeout_seconds,
        )
    ) as client:
        response = await client.post(upstream.url, json=body, headers=upstream.headers)
    usage = body_usage(memory.endpoint, response.content) or records.Usage()
    cost = upstream.model.cost_nanos(
        usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens
    )
    context = memory.context
    await asyncio.to_thread(
        records.write_memory_usage,
        context.project.id,
        context.key.id,
        now(),
        usage,
        cost,
    )
    await asyncio.to_thread(limits.settle, context.key, None, cost)
    if response.status_code >= 400:
        raise RuntimeError(f"observer call answered {response.status_code}")
    payload = response.json()
    condensed = store.parts_text(answer_parts(memory.endpoint, payload))
    if not condensed:
        raise RuntimeError("observer call answered no text")
    return condensed, usage
