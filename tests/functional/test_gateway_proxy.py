"""The proxy over real sockets: streaming app and fake upstream on loopback,
AWS as in-process moto."""

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse

from chalicelib import aws
from chalicelib.models import GatewayKey, GatewayRequest, GatewayUsage
from chalicelib.services.gateway import keys, writer
from chalicelib.services.gateway.catalogue import get_catalogue
from chalicelib.streaming import create_app
from tests.conftest import Caller
from tests.fakes_upstream import FakeUpstream, fake_upstream, serve_in_thread

PLATFORM_OPENAI = "sk-platform-openai-0000"


@dataclass
class Gateway:
    url: str
    upstream: FakeUpstream
    project: Any
    key: Any
    secret: str

    def new_key(self, **limits: Any) -> tuple[Any, str]:
        return keys.create_key(self.project, keys.KeyLimits(label="extra", **limits))

    def post(
        self, path: str, payload: dict, secret: str | None = None, **h: str
    ) -> Any:
        headers = {"authorization": f"Bearer {secret or self.secret}", **h}
        return httpx.post(
            f"{self.url}{path}", json=payload, headers=headers, timeout=30
        )

    def records(self) -> list[GatewayRequest]:
        return list(GatewayRequest.query(self.project.id, consistent_read=True))

    def settled(self, count: int) -> list[GatewayRequest]:
        """The records once `count` exist: they are written after the response."""
        deadline = time.monotonic() + 60
        found: list[GatewayRequest] = []
        while time.monotonic() < deadline:
            try:
                found = self.records()
            except RuntimeError:
                # In-process moto is not thread-safe: a read racing the
                # background writer can see a table change size; read again.
                found = []
            if len(found) >= count:
                # In-process moto applies a transaction item by item, so the
                # records can show before their counters: wait until the
                # writer's call has returned.
                writer.flush()
                break
            time.sleep(0.05)
        return found


@pytest.fixture
def gateway(admin: Caller, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    with fake_upstream() as upstream:
        monkeypatch.setenv("GATEWAY_UPSTREAM_OPENAI_URL", f"{upstream.url}/v1")
        monkeypatch.setenv("GATEWAY_UPSTREAM_ANTHROPIC_URL", f"{upstream.url}/v1/")
        monkeypatch.setenv("GATEWAY_PROVIDER_OPENAI_API_KEY", PLATFORM_OPENAI)
        project = keys.create_project(admin.org_id, "proxy tests")
        key, secret = keys.create_key(project, keys.KeyLimits(label="main"))
        with serve_in_thread(create_app()) as url:
            yield Gateway(url, upstream, project, key, secret)
        # Records still queued belong to this test, not the next one.
        writer.flush()


def chat(text: str, **extra: Any) -> dict:
    return {
        "model": "openai/gpt-4o-mini",
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


def test_plain_chat_is_routed_by_prefix_and_recorded(gateway):
    response = gateway.post("/v1/chat/completions", chat("hello there words:3"))

    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "word0 word1 word2"
    seen = gateway.upstream.seen[-1]
    assert (seen.path, seen.model) == ("/v1/chat/completions", "gpt-4o-mini")
    assert seen.credential == PLATFORM_OPENAI
    [record] = gateway.settled(1)
    assert record.request_id == response.headers["x-request-id"]
    assert (record.model, record.provider, record.endpoint) == (
        "openai/gpt-4o-mini",
        "openai",
        "/v1/chat/completions",
    )
    assert (record.status_code, record.is_stream, record.source) == (
        200,
        False,
        "platform",
    )
    reported = gateway.upstream.reported[-1]
    assert record.prompt_tokens == reported.prompt_tokens == 3
    assert record.completion_tokens == 3
    model = get_catalogue().model("openai/gpt-4o-mini")
    assert record.cost_nanos == model.cost_nanos(3, 3, 0) > 0


def test_stream_passes_events_and_hides_the_usage_chunk_it_asked_for(gateway):
    with (
        httpx.Client(timeout=30) as client,
        connect_sse(
            client,
            "POST",
            f"{gateway.url}/v1/chat/completions",
            json=chat("stream please words:4 cached:1", stream=True),
            headers={"authorization": f"Bearer {gateway.secret}"},
        ) as source,
    ):
        events = [event.data for event in source.iter_sse()]

    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["choices"] for c in chunks)
    sent = gateway.upstream.seen[-1].body
    assert sent["stream_options"] == {"include_usage": True}
    [record] = gateway.settled(1)
    reported = gateway.upstream.reported[-1]
    assert record.is_stream
    assert reported.usage_sent
    assert (record.prompt_tokens, record.completion_tokens, record.cached_tokens) == (
        reported.prompt_tokens,
        reported.completion_tokens,
        reported.cached_tokens,
    )
    assert record.first_token_ms is not None


def test_stream_keeps_the_usage_chunk_for_a_client_that_asked(gateway):
    payload = chat("words:2", stream=True, stream_options={"include_usage": True})
    with (
        httpx.Client(timeout=30) as client,
        connect_sse(
            client,
            "POST",
            f"{gateway.url}/v1/chat/completions",
            json=payload,
            headers={"authorization": f"Bearer {gateway.secret}"},
        ) as source,
    ):
        chunks = [json.loads(e.data) for e in source.iter_sse() if e.data != "[DONE]"]

    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == 2


def test_stream_without_usage_chunk_records_zero_tokens(gateway):
    with httpx.stream(
        "POST",
        f"{gateway.url}/v1/chat/completions",
        json=chat("nousage words:2", stream=True),
        headers={"authorization": f"Bearer {gateway.secret}"},
        timeout=30,
    ) as response:
        text = "".join(response.iter_text())

    assert "word1" in text
    [record] = gateway.settled(1)
    assert (record.status_code, record.completion_tokens, record.cost_nanos) == (
        200,
        0,
        0,
    )


def test_upstream_errors_keep_the_provider_format_and_status(gateway):
    response = gateway.post("/v1/chat/completions", chat("status:503"))

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "fake_503"
    anthropic = gateway.post(
        "/v1/messages",
        {
            "model": "anthropic/claude-haiku-4-5",
            "max_tokens": 50,
            "messages": [{"role": "user", "content": "status:400"}],
        },
        **{"x-api-key": gateway.secret},
    )
    assert anthropic.status_code == 400
    records = {r.endpoint: r for r in gateway.settled(2)}
    assert records["/v1/chat/completions"].error == "fake upstream failure 503"
    # Anthropic has no platform key here and no binding: refused by the gateway.
    assert anthropic.json()["type"] == "error"
    assert "anthropic" in anthropic.json()["error"]["message"]
    assert records["/v1/messages"].status_code == 400


def test_gateway_errors_use_each_endpoints_format(gateway):
    openai_style = gateway.post("/v1/chat/completions", chat("x"), secret="mgk_bad")
    assert openai_style.status_code == 401
    assert openai_style.json()["error"]["code"] == "invalid_api_key"
    anthropic_style = gateway.post(
        "/v1/messages", {"model": "claude-haiku-4-5"}, secret="mgk_bad"
    )
    assert anthropic_style.status_code == 401
    assert anthropic_style.json()["error"]["type"] == "authentication_error"
    unknown = gateway.post("/v1/chat/completions", chat("x", model="openai/nope"))
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "model_not_found"
    assert gateway.upstream.seen == []


def test_key_binding_beats_project_binding_beats_platform(gateway):
    scope_key = keys.key_scope(gateway.key.id)
    scope_project = keys.project_scope(gateway.project.id)
    keys.put_binding(gateway.project, scope_project, "openai", "sk-project-1111")
    gateway.post("/v1/chat/completions", chat("a"))
    keys.put_binding(gateway.project, scope_key, "openai", "sk-key-2222")
    gateway.post("/v1/chat/completions", chat("b"))

    used = [s.credential for s in gateway.upstream.seen]

    assert used == ["sk-project-1111", "sk-key-2222"]
    sources = sorted(r.source for r in gateway.settled(2))
    assert sources == ["key", "project"]


def test_anthropic_messages_with_x_api_key_and_binding(gateway):
    keys.put_binding(
        gateway.project, keys.project_scope(gateway.project.id), "anthropic", "sk-ant-1"
    )
    response = gateway.post(
        "/v1/messages",
        {
            "model": "anthropic/claude-haiku-4-5",
            "max_tokens": 64,
            "messages": [{"role": "user", "content": "hi there cached:1 words:3"}],
        },
        **{"x-api-key": gateway.secret, "authorization": ""},
    )

    assert response.status_code == 200, response.text
    seen = gateway.upstream.seen[-1]
    assert seen.credential == "sk-ant-1"
    assert seen.headers["anthropic-version"] == "2023-06-01"
    [record] = gateway.settled(1)
    assert (record.prompt_tokens, record.cached_tokens, record.completion_tokens) == (
        4,
        1,
        3,
    )


def test_allowed_models_limit_requests_and_the_model_list(gateway):
    _, secret = gateway.new_key(allowed_models=["openai/gpt-4o"])

    refused = gateway.post("/v1/chat/completions", chat("x"), secret=secret)
    listed = httpx.get(
        f"{gateway.url}/v1/models", headers={"x-api-key": secret}, timeout=10
    )

    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "model_not_allowed"
    assert listed.json()["object"] == "list"
    assert [m["id"] for m in listed.json()["data"]] == ["openai/gpt-4o"]


def test_rate_limit_answers_429_with_retry_after(gateway):
    _, secret = gateway.new_key(rate_limit_rpm=2)
    # Five requests put three in one minute even across a minute boundary.
    responses = [
        gateway.post("/v1/chat/completions", chat("x"), secret=secret) for _ in range(5)
    ]

    statuses = [r.status_code for r in responses]
    assert statuses[0] == 200
    assert set(statuses) == {200, 429}
    limited = next(r for r in responses if r.status_code == 429)
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert limited.json()["error"]["type"] == "rate_limit_error"
    assert len(gateway.upstream.seen) == statuses.count(200)


def test_spend_limit_settles_to_the_real_cost(gateway):
    key, secret = gateway.new_key(spend_limit_nanos=10_000_000)
    response = gateway.post(
        "/v1/chat/completions", chat("words:2", max_tokens=10), secret=secret
    )

    assert response.status_code == 200
    [record] = gateway.settled(1)
    stored = GatewayKey.get(key.id, consistent_read=True)
    assert stored.spent_nanos == stored.committed_nanos == record.cost_nanos


def test_revoked_key_is_refused_on_the_next_request(gateway):
    assert gateway.post("/v1/chat/completions", chat("x")).status_code == 200
    keys.revoke_key(gateway.key)
    assert gateway.post("/v1/chat/completions", chat("x")).status_code == 401


def test_a_leased_key_is_not_read_again_on_the_next_requests(gateway):
    admission_reads: list[str] = []

    def count(model: Any, **_: Any) -> None:
        if model.name == "BatchGetItem":
            admission_reads.append(model.name)

    events = aws.client("dynamodb").meta.events
    events.register("before-call.dynamodb", count)
    per_request = []
    try:
        for _ in range(3):
            before = len(admission_reads)
            assert gateway.post("/v1/chat/completions", chat("x")).status_code == 200
            per_request.append(len(admission_reads) - before)
    finally:
        events.unregister("before-call.dynamodb", count)

    assert per_request[0] >= 1
    assert per_request[1:] == [0, 0]
    assert len(gateway.upstream.seen) == 3


def test_a_key_in_use_is_renewed_beside_its_requests(gateway, monkeypatch):
    """Past its lease's middle a request renews it in the background, so a
    request after the first lease's end still makes no read of its own."""
    clock = [100.0]
    monkeypatch.setattr(keys._contexts, "_clock", lambda: clock[0])
    assert gateway.post("/v1/chat/completions", chat("x")).status_code == 200
    renewed = clock[0] + 0.6
    clock[0] = renewed
    assert gateway.post("/v1/chat/completions", chat("x")).status_code == 200
    deadline = time.monotonic() + 30
    while keys._contexts._renewing and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not keys._contexts._renewing

    def no_reads(model: Any, **_: Any) -> None:
        if model.name == "BatchGetItem":
            raise AssertionError("a request read its key")

    events = aws.client("dynamodb").meta.events
    events.register("before-call.dynamodb", no_reads)
    try:
        clock[0] = renewed + 0.9  # the first lease ended 0.5 s ago
        response = gateway.post("/v1/chat/completions", chat("x"))
    finally:
        events.unregister("before-call.dynamodb", no_reads)
    assert response.status_code == 200
    assert len(gateway.upstream.seen) == 3


def test_another_secret_with_a_leased_key_id_is_refused(gateway):
    assert gateway.post("/v1/chat/completions", chat("x")).status_code == 200
    forged = gateway.secret[: gateway.secret.rindex("_") + 1] + "A" * 43
    response = gateway.post("/v1/chat/completions", chat("x"), secret=forged)
    assert response.status_code == 401
    assert len(gateway.upstream.seen) == 1


def test_a_removed_binding_stops_being_used_on_the_next_request(gateway):
    scope = keys.project_scope(gateway.project.id)
    keys.put_binding(gateway.project, scope, "openai", "sk-project-4444")
    assert gateway.post("/v1/chat/completions", chat("x")).status_code == 200
    keys.delete_binding(scope, "openai")
    assert gateway.post("/v1/chat/completions", chat("x")).status_code == 200

    used = [seen.headers["authorization"] for seen in gateway.upstream.seen]
    assert used == ["Bearer sk-project-4444", f"Bearer {PLATFORM_OPENAI}"]


def test_counters_add_up_per_dimension(gateway):
    for _ in range(2):
        gateway.post("/v1/chat/completions", chat("one two words:3"))
    gateway.post("/v1/chat/completions", chat("status:500"))
    gateway.settled(3)

    counters = {}
    for dimension in ("all", "model", "provider", "api_key_id"):
        found = list(GatewayUsage.query(f"{gateway.project.id}#1h#{dimension}"))
        assert len(found) == 1
        counters[dimension] = found[0]
    for counter in counters.values():
        assert (counter.requests, counter.errors) == (3, 1)
        assert counter.completion_tokens == 6
        assert counter.prompt_tokens == sum(
            r.prompt_tokens for r in gateway.upstream.reported
        )
    assert counters["model"].bucket.endswith("#openai/gpt-4o-mini")
    assert counters["api_key_id"].bucket.endswith(f"#{gateway.key.id}")
    assert counters["all"].cost_nanos == sum(r.cost_nanos for r in gateway.records())


def test_client_disconnect_mid_stream_still_leaves_a_record(gateway):
    body = json.dumps(chat("drip:0.05 words:400", stream=True)).encode()
    host, port = gateway.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
            + f"Authorization: Bearer {gateway.secret}\r\n".encode()
            + b"Content-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        sock.settimeout(30)
        received = sock.recv(64)
        assert received.startswith(b"HTTP/1.1 200")
        # Leave only after the first token arrived, so it is on the record.
        while b"data:" not in received:
            chunk = sock.recv(4096)
            assert chunk, "stream ended before the first token"
            received += chunk

    [record] = gateway.settled(1)
    assert record.is_stream
    assert record.status_code == 499
    assert record.error == "client disconnected mid-stream"
    assert record.first_token_ms is not None


GENERATION_CASES = [
    ("/v1/chat/completions", "openai/gpt-4o-mini", False),
    ("/v1/chat/completions", "openai/gpt-4o-mini", True),
    ("/v1/responses", "openai/gpt-4o-mini", False),
    ("/v1/responses", "openai/gpt-4o-mini", True),
    ("/v1/messages", "anthropic/claude-haiku-4-5", False),
    ("/v1/messages", "anthropic/claude-haiku-4-5", True),
]


def test_the_upstream_response_id_is_the_records_generation_id(gateway):
    from chalicelib.services.gateway import usage

    keys.put_binding(
        gateway.project, keys.project_scope(gateway.project.id), "anthropic", "sk-ant-1"
    )
    for path, model, stream in GENERATION_CASES:
        payload: dict[str, Any] = {"model": model, "stream": stream}
        if path == "/v1/responses":
            payload["input"] = "words:2"
        else:
            payload["messages"] = [{"role": "user", "content": "words:2"}]
            payload["max_tokens"] = 20
        with httpx.stream(
            "POST",
            f"{gateway.url}{path}",
            json=payload,
            headers={"authorization": f"Bearer {gateway.secret}"},
            timeout=30,
        ) as response:
            response.read()
        assert response.status_code == 200, (path, stream)
    found = {r.request_id: r for r in gateway.settled(len(GENERATION_CASES))}
    reported = [r.generation_id for r in gateway.upstream.reported]
    assert len(set(reported)) == len(GENERATION_CASES)
    stored = sorted(found.values(), key=lambda r: r.sort_key)
    assert [r.generation_id for r in stored] == reported
    assert [usage.log_public(r)["generation_id"] for r in stored] == reported
