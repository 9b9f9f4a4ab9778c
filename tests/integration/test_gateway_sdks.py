"""The real openai and anthropic SDKs against a running platform's gateway.

A dedicated `python -m local run` process has its upstream provider URLs
pointed at a fake upstream on loopback; request records are read back from
the platform's own emulator and compared with what the fake reported.
"""

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import boto3
import httpx
import openai
import pytest

from chalicelib.aws import reset_clients
from chalicelib.models import GatewayKey
from chalicelib.services.gateway import keys
from chalicelib.services.gateway.catalogue import NANOS_PER_USD, get_catalogue
from chalicelib.settings import reset_settings
from infra.definitions import Names
from local.emulator import FAKE_CREDENTIALS, REGION
from tests.fakes_upstream import FakeUpstream, fake_upstream
from tests.local_platform import RunningPlatform, free_port, local_platform

pytestmark = pytest.mark.integration

OPENAI_MODEL = "openai/gpt-4o-mini"
ANTHROPIC_MODEL = "anthropic/claude-haiku-4-5"


@dataclass
class Stack:
    platform: RunningPlatform
    upstream: FakeUpstream
    dynamodb: Any
    project_id: str
    secret: str
    baseline: int = 0

    def manage(self, method: str, path: str, payload: dict | None = None) -> Any:
        response = httpx.request(
            method,
            f"{self.platform.url}{path}",
            json=payload,
            headers=self.platform.headers(),
            timeout=30,
        )
        assert response.status_code < 300, response.text
        return response.json()

    def records(self) -> list[dict]:
        table = self.dynamodb.Table(Names("local").prefix + "gateway-requests")
        found = table.query(
            KeyConditionExpression="project_id = :p",
            ExpressionAttributeValues={":p": self.project_id},
            ConsistentRead=True,
        )
        return list(found["Items"])

    def record(self, request_id: str) -> dict:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for item in self.records():
                if item["request_id"] == request_id:
                    return item
            time.sleep(0.1)
        raise AssertionError(f"no record for {request_id}")

    def newest(self) -> dict:
        """The newest record written since the test began (waiting for it)."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            found = self.records()
            if len(found) > self.baseline:
                return max(found, key=lambda r: r["sort_key"])
            time.sleep(0.1)
        raise AssertionError("no new request record")

    def key_item(self, key_id: str) -> dict:
        table = self.dynamodb.Table(Names("local").prefix + "gateway-keys")
        return dict(table.get_item(Key={"id": key_id}, ConsistentRead=True)["Item"])


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    emulator_port = free_port()
    with fake_upstream() as upstream:
        env = {
            "PLATFORM_EMULATOR_PORT": str(emulator_port),
            "GATEWAY_UPSTREAM_OPENAI_URL": f"{upstream.url}/v1",
            "GATEWAY_UPSTREAM_ANTHROPIC_URL": f"{upstream.url}/v1",
            "GATEWAY_PROVIDER_OPENAI_API_KEY": "sk-platform-openai",
            "GATEWAY_PROVIDER_ANTHROPIC_API_KEY": "sk-platform-anthropic",
        }
        state = Path(tmp_path_factory.mktemp("gateway-platform"))
        with local_platform(state, env) as platform:
            dynamodb = boto3.resource(
                "dynamodb",
                endpoint_url=f"http://127.0.0.1:{emulator_port}",
                region_name=REGION,
                aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            )
            response = httpx.post(
                f"{platform.url}/v1/gateway/projects/provision",
                json={"name": "sdk tests"},
                headers=platform.headers(),
                timeout=30,
            )
            assert response.status_code == 201, response.text
            created = response.json()
            yield Stack(
                platform,
                upstream,
                dynamodb,
                created["project"]["id"],
                created["secret"],
            )


@pytest.fixture
def fresh(stack: Stack) -> Stack:
    stack.upstream.reset()
    stack.baseline = len(stack.records())
    return stack


def openai_client(stack: Stack, secret: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(
        api_key=secret or stack.secret,
        base_url=f"{stack.platform.url}/v1",
        max_retries=0,
    )


def anthropic_client(stack: Stack, secret: str | None = None) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key=secret or stack.secret, base_url=stack.platform.url, max_retries=0
    )


def assert_matches_report(record: dict, stack: Stack) -> None:
    [reported] = stack.upstream.reported
    assert int(record["prompt_tokens"]) == reported.prompt_tokens
    assert int(record["completion_tokens"]) == reported.completion_tokens
    assert int(record["cached_tokens"]) == reported.cached_tokens
    model = get_catalogue().model(record["model"])
    assert model is not None
    expected = model.cost_nanos(
        reported.prompt_tokens, reported.completion_tokens, reported.cached_tokens
    )
    assert int(record["cost_nanos"]) == expected


def test_openai_sdk_plain_call(fresh):
    raw = openai_client(fresh).chat.completions.with_raw_response.create(
        model=OPENAI_MODEL,
        messages=[{"role": "user", "content": "say hi words:3 cached:1"}],
    )
    completion = raw.parse()

    assert completion.choices[0].message.content == "word0 word1 word2"
    assert completion.usage is not None and completion.usage.completion_tokens == 3
    record = fresh.record(raw.headers["x-request-id"])
    assert (record["status_code"], record["is_stream"]) == (200, False)
    assert fresh.upstream.seen[0].credential == "sk-platform-openai"
    assert_matches_report(record, fresh)


def test_openai_sdk_streamed_call_with_tool_call(fresh):
    stream = openai_client(fresh).chat.completions.create(
        model=OPENAI_MODEL,
        messages=[{"role": "user", "content": "weather please tool"}],
        tools=[
            {
                "type": "function",
                "function": {"name": "get_weather", "parameters": {"type": "object"}},
            }
        ],
        stream=True,
    )
    chunks = list(stream)

    calls = [c.choices[0].delta.tool_calls for c in chunks if c.choices]
    names = [call[0].function.name for call in calls if call]
    assert names == ["get_weather"]
    assert all(c.usage is None for c in chunks)
    record = fresh.newest()
    assert record["is_stream"] is True
    assert fresh.upstream.reported[0].usage_sent
    assert_matches_report(record, fresh)


def test_openai_sdk_streamed_text_and_usage_when_asked(fresh):
    stream = openai_client(fresh).chat.completions.create(
        model=OPENAI_MODEL,
        messages=[{"role": "user", "content": "stream words:6"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == " ".join(f"word{i}" for i in range(6))
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 6


def test_openai_sdk_responses_api(fresh):
    response = openai_client(fresh).responses.create(
        model=OPENAI_MODEL, input="responses words:2"
    )

    assert response.output_text == "word0 word1"
    assert fresh.upstream.seen[0].path == "/v1/responses"


def test_openai_sdk_bad_key_is_an_authentication_error(fresh):
    with pytest.raises(openai.AuthenticationError) as caught:
        openai_client(fresh, "mgk_not_a_real_key").chat.completions.create(
            model=OPENAI_MODEL, messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.status_code == 401
    assert fresh.upstream.seen == []


def test_openai_sdk_upstream_5xx_keeps_status_and_format(fresh):
    with pytest.raises(openai.InternalServerError) as caught:
        openai_client(fresh).chat.completions.create(
            model=OPENAI_MODEL, messages=[{"role": "user", "content": "status:500"}]
        )
    assert caught.value.status_code == 500
    assert caught.value.code == "fake_500"


def test_anthropic_sdk_plain_call(fresh):
    raw = anthropic_client(fresh).messages.with_raw_response.create(
        model=ANTHROPIC_MODEL,
        max_tokens=100,
        messages=[{"role": "user", "content": "hello claude words:4 cached:2"}],
    )
    message = raw.parse()

    assert message.content[0].text == "word0 word1 word2 word3"
    seen = fresh.upstream.seen[0]
    assert (seen.model, seen.credential) == (
        "claude-haiku-4-5",
        "sk-platform-anthropic",
    )
    record = fresh.record(raw.headers["x-request-id"])
    assert record["endpoint"] == "/v1/messages"
    assert_matches_report(record, fresh)


def test_anthropic_sdk_streamed_call(fresh):
    with anthropic_client(fresh).messages.stream(
        model=ANTHROPIC_MODEL,
        max_tokens=100,
        messages=[{"role": "user", "content": "stream words:5"}],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()

    assert text == " ".join(f"word{i}" for i in range(5))
    assert final.usage.output_tokens == 5
    record = fresh.newest()
    assert record["is_stream"] is True
    assert_matches_report(record, fresh)


def test_anthropic_sdk_bad_key_is_an_authentication_error(fresh):
    with pytest.raises(anthropic.AuthenticationError) as caught:
        anthropic_client(fresh, "mgk_wrong").messages.create(
            model=ANTHROPIC_MODEL,
            max_tokens=10,
            messages=[{"role": "user", "content": "x"}],
        )
    assert caught.value.status_code == 401
    body: Any = caught.value.body
    assert body["type"] == "error"
    assert body["error"]["type"] == "authentication_error"


def test_models_list_through_the_sdk(fresh):
    ids = [m.id for m in openai_client(fresh).models.list()]
    assert OPENAI_MODEL in ids and ANTHROPIC_MODEL in ids


def test_twenty_parallel_requests_against_a_limit_for_five(fresh):
    payload = {
        "model": OPENAI_MODEL,
        "max_tokens": 1000,
        "messages": [{"role": "user", "content": "hold words:3"}],
    }
    content = json.dumps(payload).encode()
    model = get_catalogue().model(OPENAI_MODEL)
    assert model is not None
    estimate = model.cost_nanos(len(content), 1000, 0)
    limit_nanos = 5 * estimate + estimate // 2
    created = fresh.manage(
        "POST",
        f"/v1/gateway/projects/{fresh.project_id}/keys",
        {"label": "limited", "spendLimitUsd": f"{limit_nanos / NANOS_PER_USD:.9f}"},
    )
    secret, key_id = created["secret"], created["key"]["id"]
    finished: list[int] = []
    lock = threading.Lock()

    def call() -> int:
        response = httpx.post(
            f"{fresh.platform.url}/v1/chat/completions",
            content=content,
            headers={"authorization": f"Bearer {secret}"},
            timeout=60,
        )
        with lock:
            finished.append(response.status_code)
        return response.status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        futures = [pool.submit(call) for _ in range(20)]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with lock:
                refused = len(finished)
            if refused + fresh.upstream.held >= 20:
                break
            time.sleep(0.05)
        fresh.upstream.release()
        statuses = sorted(f.result() for f in futures)

    assert statuses == [200] * 5 + [402] * 15
    assert len(fresh.upstream.seen) == 5
    deadline = time.monotonic() + 20
    while len(fresh.records()) < fresh.baseline + 20 and time.monotonic() < deadline:
        time.sleep(0.1)
    key = fresh.key_item(key_id)
    costs = [int(r["cost_nanos"]) for r in fresh.records() if r["key_id"] == key_id]
    assert len(costs) == 20
    assert int(key["spent_nanos"]) == int(key["committed_nanos"]) == sum(costs)
    assert int(key["spent_nanos"]) <= limit_nanos


def _say(client: openai.OpenAI) -> None:
    client.chat.completions.create(
        model=OPENAI_MODEL, messages=[{"role": "user", "content": "words:1"}]
    )


def test_a_key_revoked_through_the_api_fails_on_the_very_next_call(fresh):
    created = fresh.manage(
        "POST", f"/v1/gateway/projects/{fresh.project_id}/keys", {"label": "api"}
    )
    client = openai_client(fresh, created["secret"])
    _say(client)
    _say(client)  # now answered from the platform's lease on the key

    fresh.manage(
        "DELETE",
        f"/v1/gateway/projects/{fresh.project_id}/keys/{created['key']['id']}",
    )
    with pytest.raises(openai.AuthenticationError):
        _say(client)
    assert len(fresh.upstream.seen) == 2


def test_a_key_revoked_by_another_process_fails_on_the_next_call(
    fresh, monkeypatch: pytest.MonkeyPatch
):
    """This test process plays a second API function sharing the tables.

    The platform holds a lease on the key when the revoke happens here, so
    only the revoke's wait (leases.py) makes the next call fail.
    """
    created = fresh.manage(
        "POST", f"/v1/gateway/projects/{fresh.project_id}/keys", {"label": "far"}
    )
    client = openai_client(fresh, created["secret"])
    _say(client)

    emulator = fresh.dynamodb.meta.client.meta.endpoint_url
    for name, value in {
        **FAKE_CREDENTIALS,
        "AWS_ENDPOINT_URL": emulator,
        "PLATFORM_REGION": REGION,
        # Required settings this process never uses.
        "PLATFORM_ARTIFACT_BUCKET": "unused",
        "PLATFORM_STEP_QUEUE_URL": "unused",
        "PLATFORM_STATE_MACHINE_ARN": "unused",
        "PLATFORM_KMS_KEY_ID": "unused",
    }.items():
        monkeypatch.setenv(name, value)
    reset_settings()
    reset_clients()
    try:
        keys.revoke_key(GatewayKey.get(created["key"]["id"], consistent_read=True))
    finally:
        monkeypatch.undo()
        reset_settings()
        reset_clients()

    with pytest.raises(openai.AuthenticationError):
        _say(client)
    assert len(fresh.upstream.seen) == 1
