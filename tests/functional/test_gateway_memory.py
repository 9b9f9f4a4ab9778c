"""Memory through the proxy (each wire format), observational memory, and the
dashboard memory routes. The proxy and a fake upstream run on loopback;
the management routes go through the Chalice test client."""

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse

from chalicelib.models import GatewayUsage, MemoryMessage, MemoryObservation
from chalicelib.services import accounts
from chalicelib.services.auth import mint_token
from chalicelib.services.gateway import keys, memory
from chalicelib.services.gateway.records import memory_counter_key
from chalicelib.streaming import create_app
from tests.conftest import Caller, body
from tests.fakes_upstream import fake_upstream, serve_in_thread
from tests.functional.test_gateway_proxy import PLATFORM_OPENAI, Gateway

OPENAI = "openai/gpt-4o-mini"
ANTHROPIC = "anthropic/claude-haiku-4-5"


@pytest.fixture
def proxied(admin: Caller, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    """The streaming app and a fake upstream on loopback, as the proxy tests use."""
    with fake_upstream() as upstream:
        monkeypatch.setenv("GATEWAY_UPSTREAM_OPENAI_URL", f"{upstream.url}/v1")
        monkeypatch.setenv("GATEWAY_UPSTREAM_ANTHROPIC_URL", f"{upstream.url}/v1/")
        monkeypatch.setenv("GATEWAY_PROVIDER_OPENAI_API_KEY", PLATFORM_OPENAI)
        project = keys.create_project(admin.org_id, "memory tests")
        key, secret = keys.create_key(project, keys.KeyLimits(label="main"))
        with serve_in_thread(create_app()) as url:
            yield Gateway(url, upstream, project, key, secret)


@pytest.fixture
def member(admin: Caller) -> Caller:
    user = accounts.create_user("member@example.com", "Mem", "Ber")
    accounts.add_member(admin.org_id, user.id, "member")
    _, secret = mint_token(admin.org_id, user.id, "member")
    return Caller(admin.org_id, user.id, secret)


def memory_headers(thread: str = "t-1", resource: str = "user-1") -> dict[str, str]:
    return {"x-thread-id": thread, "x-resource-id": resource}


def texts(messages: list[dict]) -> list[tuple[str, str]]:
    found = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            content = " ".join(str(b.get("text", "")) for b in content)
        found.append((message["role"], content))
    return found


def threads_path(proxied: Any) -> str:
    return f"/v1/gateway/projects/{proxied.project.id}/memory/threads"


def wait_for(check: Any, seconds: float = 20) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def stored(proxied: Any, thread: str = "t-1") -> list[MemoryMessage]:
    key = f"{proxied.project.id}#{thread}"
    return list(MemoryMessage.order_index.query(key, consistent_read=True))


def test_chat_turns_carry_the_thread_and_are_saved(proxied, client, admin):
    for turn, text in enumerate(["first words:2", "second words:3", "third"]):
        response = proxied.post(
            "/v1/chat/completions",
            {"model": OPENAI, "messages": [{"role": "user", "content": text}]},
            **memory_headers(),
        )
        assert response.status_code == 200, response.text
        wait_for(lambda n=turn: len(stored(proxied)) == 2 * (n + 1))

    sent = proxied.upstream.seen[-1].body["messages"]
    assert texts(sent) == [
        ("user", "first words:2"),
        ("assistant", "word0 word1"),
        ("user", "second words:3"),
        ("assistant", "word0 word1 word2"),
        ("user", "third"),
    ]
    listed = client.http.get(
        threads_path(proxied) + "/t-1/messages", headers=admin.headers()
    )
    messages = body(listed)["messages"]
    assert [(m["role"], m["content"]["parts"][0]["text"]) for m in messages][:2] == [
        ("user", "first words:2"),
        ("assistant", "word0 word1"),
    ]
    assert all(m["content"]["format"] == 2 for m in messages)
    assert {m["resourceId"] for m in messages} == {"user-1"}
    [record] = [
        r
        for r in proxied.settled(3)
        if r.request_id == response.headers["x-request-id"]
    ]
    detail = client.http.get(
        f"/v1/gateway/projects/{proxied.project.id}/usage/logs/{record.request_id}",
        headers=admin.headers(),
    )
    found = body(detail)
    assert found["log"]["thread_id"] == "t-1"
    assert [m["id"] for m in found["messages"]] == found["log"]["message_ids"]
    assert [m["role"] for m in found["messages"]] == ["user", "assistant"]


def bind_anthropic(proxied: Any) -> None:
    project = proxied.project
    keys.put_binding(
        project, keys.project_scope(project.id), "anthropic", "sk-ant-test-0000"
    )


def test_anthropic_stream_answer_is_saved_and_replayed(proxied):
    bind_anthropic(proxied)

    def turn(text: str) -> list[str]:
        with (
            httpx.Client(timeout=30) as http,
            connect_sse(
                http,
                "POST",
                f"{proxied.url}/v1/messages",
                json={
                    "model": ANTHROPIC,
                    "max_tokens": 50,
                    "stream": True,
                    "system": "be brief",
                    "messages": [{"role": "user", "content": text}],
                },
                headers={"x-api-key": proxied.secret, **memory_headers("a-1")},
            ) as source,
        ):
            return [e.event for e in source.iter_sse()]

    assert turn("hello words:2")[-1] == "message_stop"
    wait_for(lambda: len(stored(proxied, "a-1")) == 2)
    turn("again")
    sent = proxied.upstream.seen[-1].body
    assert texts(sent["messages"]) == [
        ("user", "hello words:2"),
        ("assistant", "word0 word1"),
        ("user", "again"),
    ]
    assert sent["system"] == "be brief"


def test_responses_input_gets_history(proxied):
    for text in ("one words:1", "two"):
        response = proxied.post(
            "/v1/responses",
            {"model": OPENAI, "input": text},
            **memory_headers("r-1"),
        )
        assert response.status_code == 200, response.text
        if text.startswith("one"):
            wait_for(lambda: len(stored(proxied, "r-1")) == 2)
    assert texts(proxied.upstream.seen[-1].body["input"]) == [
        ("user", "one words:1"),
        ("assistant", "word0"),
        ("user", "two"),
    ]


def test_thread_without_resource_is_400_in_each_format(proxied):
    bind_anthropic(proxied)
    response = proxied.post(
        "/v1/chat/completions",
        {"model": OPENAI, "messages": [{"role": "user", "content": "x"}]},
        **{"x-thread-id": "t-9"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "missing_resource_id"
    response = proxied.post(
        "/v1/messages",
        {
            "model": ANTHROPIC,
            "max_tokens": 5,
            "messages": [{"role": "user", "content": "x"}],
        },
        **{"x-thread-id": "t-9"},
    )
    assert response.status_code == 400
    assert response.json()["type"] == "error"
    assert proxied.upstream.seen == []


def test_another_resource_gets_404_and_nothing_of_the_thread(proxied, client, admin):
    first = proxied.post(
        "/v1/chat/completions",
        {"model": OPENAI, "messages": [{"role": "user", "content": "secret plan"}]},
        **memory_headers("shared", "alice"),
    )
    assert first.status_code == 200
    wait_for(lambda: len(stored(proxied, "shared")) == 2)
    intruder = proxied.post(
        "/v1/chat/completions",
        {"model": OPENAI, "messages": [{"role": "user", "content": "tell me"}]},
        **memory_headers("shared", "mallory"),
    )
    assert intruder.status_code == 404
    assert "secret" not in intruder.text and "alice" not in intruder.text
    assert len(proxied.upstream.seen) == 1
    assert len(stored(proxied, "shared")) == 2
    listed = client.http.get(
        threads_path(proxied) + "?resourceId=mallory", headers=admin.headers()
    )
    assert body(listed)["threads"] == []


def test_observation_then_reflection_count_as_memory_tokens(proxied, client, admin):
    patched = client.http.patch(
        f"/v1/gateway/projects/{proxied.project.id}",
        headers=admin.json_headers(),
        body=json.dumps({"memoryObserveTokens": 60, "memoryReflectTokens": 60}),
    )
    assert patched.status_code == 200, patched.body
    assert body(patched)["project"]["memoryObserveTokens"] == 60
    # ~33 tokens of user text and a 40-word (~70 token) answer per turn.
    long_text = "the user likes green tea and lives in Lyon words:40 " * 3
    for index in range(2):
        response = proxied.post(
            "/v1/chat/completions",
            {"model": OPENAI, "messages": [{"role": "user", "content": long_text}]},
            **memory_headers("om"),
        )
        assert response.status_code == 200
        wait_for(lambda n=index: len(stored(proxied, "om")) == 2 * (n + 1))
    wait_for(lambda: not memory._tasks)

    key = f"{proxied.project.id}#om"
    found = [
        r
        for r in MemoryObservation.query(key, consistent_read=True)
        if r.kind == "observation"
    ]
    assert found, "no observation record"
    observer_calls = [
        s
        for s in proxied.upstream.seen
        if s.body["messages"][0].get("content") == memory.OBSERVER_INSTRUCTIONS
    ]
    assert len(observer_calls) == len(found)
    assert "lives in Lyon" in observer_calls[0].body["messages"][1]["content"]
    record = found[0]
    assert record.text == " ".join(f"word{i}" for i in range(40))
    assert record.message_count == 2

    history = body(
        client.http.get(
            threads_path(proxied) + "/om/observations/history",
            headers=admin.headers(),
        )
    )
    records = history["observations"]
    assert len(records) >= 2
    stamps = [o["createdAt"] for o in records]
    assert stamps == sorted(stamps, reverse=True)
    generations = [o["generation"] for o in records]
    assert generations == sorted(generations, reverse=True)
    reflection = next(o for o in records if o["kind"] == "reflection")
    assert reflection["generation"] >= 1
    assert history["generation"] == generations[0]

    memory_calls = [
        r
        for r, s in zip(proxied.upstream.reported, proxied.upstream.seen, strict=True)
        if s.body["messages"][0].get("content")
        in (memory.OBSERVER_INSTRUCTIONS, memory.REFLECTOR_INSTRUCTIONS)
    ]
    counters = list(
        GatewayUsage.query(memory_counter_key(proxied.project.id), consistent_read=True)
    )
    assert sum(c.prompt_tokens for c in counters) == sum(
        r.prompt_tokens for r in memory_calls
    )
    assert sum(c.completion_tokens for c in counters) == sum(
        r.completion_tokens for r in memory_calls
    )
    activity = body(
        client.http.get(
            f"/v1/gateway/projects/{proxied.project.id}/usage/memory-activity?granularity=1h",
            headers=admin.headers(),
        )
    )
    assert sum(b["totalTokens"] for b in activity["data"]) == sum(
        r.prompt_tokens + r.completion_tokens for r in memory_calls
    )
    app_records = proxied.settled(2)
    app_activity = body(
        client.http.get(
            f"/v1/gateway/projects/{proxied.project.id}/usage/activity?granularity=1h",
            headers=admin.headers(),
        )
    )
    assert (
        sum(b["request_count"] for b in app_activity["data"]) == len(app_records) == 2
    )

    # The next request carries the observations, not the observed messages.
    proxied.post(
        "/v1/chat/completions",
        {"model": OPENAI, "messages": [{"role": "user", "content": "what now"}]},
        **memory_headers("om"),
    )
    sent = [
        s
        for s in proxied.upstream.seen
        if s.body["messages"][-1].get("content") == "what now"
    ][-1].body["messages"]
    assert sent[0]["role"] == "system"
    assert sent[0]["content"].startswith(memory.OBSERVATIONS_HEADING)


def test_dashboard_thread_routes(client, admin, member, proxied):
    path = threads_path(proxied)
    created = client.http.post(
        path,
        headers=admin.json_headers(),
        body=json.dumps({"resourceId": "r-1", "title": "Trip", "metadata": {"a": 1}}),
    )
    assert created.status_code == 201, created.body
    thread = body(created)["thread"]
    for n in range(3):
        client.http.post(
            path,
            headers=admin.json_headers(),
            body=json.dumps({"resourceId": f"other-{n}"}),
        )
    page = body(client.http.get(path + "?perPage=2", headers=member.headers()))
    assert (len(page["threads"]), page["total"], page["hasMore"]) == (2, 4, True)
    mine = body(client.http.get(path + "?resourceId=r-1", headers=member.headers()))
    assert [t["id"] for t in mine["threads"]] == [thread["id"]]

    tpath = f"{path}/{thread['id']}"
    patched = client.http.patch(
        tpath,
        headers=admin.json_headers(),
        body=json.dumps({"title": "Trip 2", "resourceId": "someone-else"}),
    )
    assert body(patched)["thread"]["title"] == "Trip 2"
    assert body(patched)["thread"]["resourceId"] == "r-1"
    denied = client.http.patch(
        tpath, headers=member.json_headers(), body=json.dumps({"title": "x"})
    )
    assert denied.status_code == 403

    parts = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    saved = client.http.post(
        tpath + "/messages",
        headers=admin.json_headers(),
        body=json.dumps(
            {
                "messages": [
                    {
                        "id": "m1",
                        "role": "user",
                        "content": {"format": 2, "parts": parts},
                    },
                    {
                        "id": "m2",
                        "role": "assistant",
                        "content": {"format": 2, "parts": parts[::-1]},
                    },
                ]
            }
        ),
    )
    assert saved.status_code == 200, saved.body
    client.http.post(
        tpath + "/messages",
        headers=admin.json_headers(),
        body=json.dumps(
            {
                "messages": [
                    {
                        "id": "m1",
                        "role": "user",
                        "content": {"format": 2, "parts": parts[::-1]},
                    }
                ]
            }
        ),
    )
    listed = body(client.http.get(tpath + "/messages", headers=member.headers()))
    assert [m["id"] for m in listed["messages"]] == ["m1", "m2"]
    assert listed["messages"][0]["content"]["parts"] == parts[::-1]

    cloned = client.http.post(
        tpath + "/clone",
        headers=admin.json_headers(),
        body=json.dumps({"title": "copy"}),
    )
    assert cloned.status_code == 201
    clone = body(cloned)["thread"]
    assert clone["resourceId"] == "r-1" and clone["id"] != thread["id"]
    copied = body(
        client.http.get(f"{path}/{clone['id']}/messages", headers=admin.headers())
    )
    assert [m["content"] for m in copied["messages"]] == [
        m["content"] for m in listed["messages"]
    ]

    removed = client.http.delete(
        tpath + "/messages",
        headers=admin.json_headers(),
        body=json.dumps({"messageIds": ["m2"]}),
    )
    assert body(removed) == {"deleted": 1}
    assert client.http.delete(tpath, headers=admin.headers()).status_code == 200
    assert client.http.get(tpath, headers=admin.headers()).status_code == 404
    assert stored(proxied, thread["id"]) == []
    assert (
        len(
            body(
                client.http.get(
                    f"{path}/{clone['id']}/messages", headers=admin.headers()
                )
            )["messages"]
        )
        == 2
    )

    bad = client.http.post(
        tpath.replace(thread["id"], clone["id"]) + "/messages",
        headers=admin.json_headers(),
        body=json.dumps(
            {"messages": [{"role": "robot", "content": {"format": 2, "parts": []}}]}
        ),
    )
    assert bad.status_code == 400
    assert body(bad)["errors"][0]["field"].startswith("messages.0.role")


TOOL_CASES = [
    ("/v1/chat/completions", OPENAI, False),
    ("/v1/chat/completions", OPENAI, True),
    ("/v1/messages", ANTHROPIC, False),
    ("/v1/messages", ANTHROPIC, True),
    ("/v1/responses", OPENAI, False),
    ("/v1/responses", OPENAI, True),
]


def _tool_turn(path: str, model: str, stream: bool, new: Any) -> dict[str, Any]:
    key = "input" if path == "/v1/responses" else "messages"
    payload: dict[str, Any] = {"model": model, "stream": stream, key: new}
    if path == "/v1/messages":
        payload["max_tokens"] = 50
    return payload


def _tool_result(path: str, call_id: str) -> list[dict[str, Any]]:
    if path == "/v1/chat/completions":
        return [{"role": "tool", "tool_call_id": call_id, "content": "sunny words:2"}]
    if path == "/v1/messages":
        block = {
            "type": "tool_result",
            "tool_use_id": call_id,
            "content": "sunny words:2",
        }
        return [{"role": "user", "content": [block]}]
    return [
        {"type": "function_call_output", "call_id": call_id, "output": "sunny words:2"}
    ]


def _replayed(path: str, call_id: str) -> list[dict[str, Any]]:
    """The first turn, its tool call and the tool's result, in `path`'s format."""
    arguments = '{"city": "Paris"}'
    if path == "/v1/chat/completions":
        call = {"id": call_id, "type": "function"}
        call["function"] = {"name": "get_weather", "arguments": arguments}
        return [
            {"role": "user", "content": "weather tool"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call_id, "content": "sunny words:2"},
        ]
    if path == "/v1/messages":
        use = {"type": "tool_use", "id": call_id, "name": "get_weather"}
        use["input"] = {"city": "Paris"}
        result = {"type": "tool_result", "tool_use_id": call_id}
        result["content"] = "sunny words:2"
        return [
            {"role": "user", "content": "weather tool"},
            {"role": "assistant", "content": [use]},
            {"role": "user", "content": [result]},
        ]
    return [
        {"role": "user", "content": "weather tool"},
        {
            "type": "function_call",
            "call_id": call_id,
            "name": "get_weather",
            "arguments": arguments,
        },
        {"type": "function_call_output", "call_id": call_id, "output": "sunny words:2"},
    ]


@pytest.mark.parametrize(("path", "model", "stream"), TOOL_CASES)
def test_tool_calls_and_results_are_replayed_in_the_wire_format(
    proxied, path, model, stream
):
    keys.put_binding(
        proxied.project, keys.project_scope(proxied.project.id), "anthropic", "sk-ant"
    )
    thread = f"tools-{path.rsplit('/', 1)[-1]}-{stream}"
    headers = {
        "authorization": f"Bearer {proxied.secret}",
        **memory_headers(thread),
    }

    def send(new: Any) -> None:
        with httpx.stream(
            "POST",
            f"{proxied.url}{path}",
            json=_tool_turn(path, model, stream, new),
            headers=headers,
            timeout=30,
        ) as response:
            response.read()
        assert response.status_code == 200, response.text

    first = [{"role": "user", "content": "weather tool"}]
    send(first)
    wait_for(lambda: len(stored(proxied, thread)) == 2)
    [assistant] = [m for m in stored(proxied, thread) if m.role == "assistant"]
    [part] = json.loads(assistant.content)["parts"]
    call_id = part["toolInvocation"]["toolCallId"]
    assert part["toolInvocation"]["toolName"] == "get_weather"
    assert call_id.startswith(("call_", "toolu_"))

    # The client sends only the tool's result; the call comes from memory.
    send(_tool_result(path, call_id))
    wait_for(lambda: len(stored(proxied, thread)) == 4)
    key = "input" if path == "/v1/responses" else "messages"
    second = proxied.upstream.seen[-1].body[key]
    assert second == _replayed(path, call_id)

    # Next turn: the call and its result are both history now.
    send([{"role": "user", "content": "thanks"}])
    third = proxied.upstream.seen[-1].body[key]
    answer = {"role": "assistant", "content": "word0 word1"}
    assert third == [
        *_replayed(path, call_id),
        answer,
        {"role": "user", "content": "thanks"},
    ]
    roles = [m.role for m in stored(proxied, thread)]
    assert roles[:4] == ["user", "assistant", "tool", "assistant"]


SAVE_CASES = [
    ("/v1/chat/completions", OPENAI, False),
    ("/v1/chat/completions", OPENAI, True),
    ("/v1/messages", ANTHROPIC, True),
    ("/v1/responses", OPENAI, True),
]


@pytest.mark.parametrize(("path", "model", "stream"), SAVE_CASES)
def test_a_turn_is_saved_before_the_client_has_the_whole_answer(
    proxied, monkeypatch, path, model, stream
):
    """A client sends its next turn as soon as it has this answer, so the
    save must come first. The save here waits (up to a second) for the
    client to have the answer: saved before, it waits in vain; saved after,
    it finds the client already done."""
    keys.put_binding(
        proxied.project, keys.project_scope(proxied.project.id), "anthropic", "sk-ant"
    )
    client_done = threading.Event()
    saved_after_client_done: list[bool] = []
    real_save = memory.ProxyMemory.save

    def watched_save(self: Any, outcome: Any) -> list[str]:
        saved_after_client_done.append(client_done.wait(timeout=1.0))
        return real_save(self, outcome)

    monkeypatch.setattr(memory.ProxyMemory, "save", watched_save)
    key = "input" if path == "/v1/responses" else "messages"
    payload: dict[str, Any] = {
        "model": model,
        "stream": stream,
        key: [{"role": "user", "content": "hello words:3"}],
    }
    if path == "/v1/messages":
        payload["max_tokens"] = 50
    headers = {"authorization": f"Bearer {proxied.secret}", **memory_headers()}
    with httpx.stream(
        "POST", f"{proxied.url}{path}", json=payload, headers=headers, timeout=30
    ) as response:
        assert response.status_code == 200
        if stream:
            for line in response.iter_lines():
                if line in ("data: [DONE]", "event: message_stop") or (
                    '"response.completed"' in line
                ):
                    break
        else:
            response.read()
        client_done.set()

    assert saved_after_client_done == [False]
    assert [m.role for m in stored(proxied)] == ["user", "assistant"]
