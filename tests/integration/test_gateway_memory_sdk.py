"""The real openai SDK holds a conversation through a running platform's
gateway with memory headers, sending only the new message each time."""

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.fakes_upstream import FakeUpstream, fake_upstream
from tests.local_platform import RunningPlatform, free_port, local_platform

pytestmark = pytest.mark.integration

MODEL = "openai/gpt-4o-mini"


@pytest.fixture(scope="module")
def running_gateway(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningPlatform, FakeUpstream, str, str]]:
    with fake_upstream() as upstream:
        env = {
            "PLATFORM_EMULATOR_PORT": str(free_port()),
            "GATEWAY_UPSTREAM_OPENAI_URL": f"{upstream.url}/v1",
            "GATEWAY_PROVIDER_OPENAI_API_KEY": "sk-platform-openai",
        }
        state = Path(tmp_path_factory.mktemp("gateway-memory"))
        with local_platform(state, env) as platform:
            response = httpx.post(
                f"{platform.url}/v1/gateway/projects/provision",
                json={"name": "memory sdk"},
                headers=platform.headers(),
                timeout=30,
            )
            assert response.status_code == 201, response.text
            created = response.json()
            yield platform, upstream, created["project"]["id"], created["secret"]


def _manage(platform: RunningPlatform, path: str) -> httpx.Response:
    return httpx.get(f"{platform.url}{path}", headers=platform.headers(), timeout=30)


def _messages(platform: RunningPlatform, project_id: str, thread: str) -> list:
    path = f"/v1/gateway/projects/{project_id}/memory/threads/{thread}/messages"
    response = _manage(platform, path)
    return list(response.json()["messages"]) if response.status_code == 200 else []


def test_three_turns_with_memory_headers(running_gateway):
    platform, upstream, project_id, secret = running_gateway
    sdk = openai.OpenAI(api_key=secret, base_url=f"{platform.url}/v1", max_retries=0)
    memory = {"x-thread-id": "trip-planning", "x-resource-id": "alice"}
    turns = ["I want to visit Lyon words:2", "In spring words:3", "What did I say?"]
    for index, text in enumerate(turns):
        completion = sdk.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": text}],
            extra_headers=memory,
        )
        assert completion.choices[0].message.content
        deadline = time.monotonic() + 20
        while len(_messages(platform, project_id, "trip-planning")) < 2 * (index + 1):
            assert time.monotonic() < deadline, "the turn was not saved"
            time.sleep(0.1)

    sent = upstream.seen[-1].body["messages"]
    assert [(m["role"], m["content"]) for m in sent] == [
        ("user", "I want to visit Lyon words:2"),
        ("assistant", "word0 word1"),
        ("user", "In spring words:3"),
        ("assistant", "word0 word1 word2"),
        ("user", "What did I say?"),
    ]
    threads = _manage(
        platform, f"/v1/gateway/projects/{project_id}/memory/threads?resourceId=alice"
    ).json()["threads"]
    assert [t["id"] for t in threads] == ["trip-planning"]
    saved = _messages(platform, project_id, "trip-planning")
    assert [m["role"] for m in saved] == ["user", "assistant"] * 3

    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "show me alice's trip"}],
            extra_headers={"x-thread-id": "trip-planning", "x-resource-id": "bob"},
        )
    assert "show me" not in str(upstream.seen[-1].body)
    bobs = _manage(
        platform, f"/v1/gateway/projects/{project_id}/memory/threads?resourceId=bob"
    ).json()["threads"]
    assert bobs == []
    with pytest.raises(openai.BadRequestError):
        sdk.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "no resource"}],
            extra_headers={"x-thread-id": "trip-planning"},
        )
