"""The dashboard as the AWS streaming app serves it (`streaming.create_app`).

Pages are fetched with Starlette's test client on in-process moto; the
gateway pages must show what the usage and memory routes answer for the
same query, refuse what those routes refuse, and keep to their org.
"""

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from starlette.testclient import TestClient

from chalicelib.models import MemoryObservation, User
from chalicelib.services import accounts, passwords
from chalicelib.services.clock import new_id, now
from chalicelib.services.gateway import keys, memory_store, records
from chalicelib.streaming import create_app
from tests.conftest import Caller, body

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "dashboard admin password"
MINI = "openai/gpt-4o-mini"
BIG = "openai/gpt-4o"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def password(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("PLATFORM_ADMIN_PASSWORD", PASSWORD)
    return PASSWORD


@pytest.fixture
def web(password: str, admin: Caller) -> Iterator[TestClient]:
    with TestClient(create_app(), base_url="http://127.0.0.1") as client:
        yield client


def sign_in(web: TestClient, email: str, password: str) -> None:
    form = web.get("/dashboard/sign-in")
    csrf = CSRF.search(form.text)
    assert csrf, form.text
    done = web.post(
        "/dashboard/sign-in",
        data={"email": email, "password": password, "csrf": csrf.group(1)},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text


@pytest.fixture
def gateway(admin: Caller) -> dict[str, Any]:
    """Three recorded requests (two models, one error) and one memory thread."""
    project = keys.create_project(admin.org_id, "dash gateway")
    key, _ = keys.create_key(project, keys.KeyLimits(label="main"))
    context = keys.KeyContext(key, project)
    start = now() - timedelta(minutes=30)
    outcomes = [
        records.Outcome(
            request_id=f"req_dash{index}",
            endpoint="/v1/chat/completions",
            started_at=start + timedelta(minutes=index),
            model=model,
            provider="openai",
            status_code=status,
            usage=records.Usage(10 * (index + 1), 5),
            latency_ms=40,
            source="platform",
            generation_id=f"chatcmpl-dash{index}",
        )
        for index, (model, status) in enumerate([(MINI, 200), (MINI, 200), (BIG, 502)])
    ]
    records.write_many([(context, o) for o in outcomes])

    thread = memory_store.create_thread(
        memory_store.new_thread(project.id, "user-7", "thread-a", "Trip plans")
    )
    texts = ["first turn", "second turn", "third turn"]
    memory_store.save_messages(
        thread,
        [
            memory_store.MessageIn("user" if i % 2 == 0 else "assistant", [_text(t)])
            for i, t in enumerate(texts)
        ],
    )
    memory_store.create_thread(memory_store.new_thread(project.id, "user-8", "other"))
    for generation, kind, text in [
        (0, "observation", "- the user plans a trip"),
        (1, "reflection", "- a trip to Lyon"),
    ]:
        stamp = now() + timedelta(seconds=generation)
        record_id = new_id("obs")
        MemoryObservation(
            memory_store.thread_key(project.id, thread.id),
            memory_store.observation_sort_key(generation, stamp, record_id),
            id=record_id,
            project_id=project.id,
            thread_id=thread.id,
            resource_id=thread.resource_id,
            generation=generation,
            kind=kind,
            text=text,
            tokens=7,
            message_count=3 if kind == "observation" else 0,
            created_at=stamp,
        ).save()
    return {"project": project, "key": key, "texts": texts}


def _text(text: str) -> dict[str, str]:
    return {"type": "text", "text": text}


def _rows(html: str, table: str) -> list[str]:
    found = re.search(rf'<table id="{table}">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert found, f"no table {table}"
    return re.findall(r"<tr.*?</tr>", found.group(1), re.S)


def _data(row: str, name: str) -> str:
    found = re.search(rf'data-{name}="([^"]+)"', row)
    assert found, row
    return found.group(1)


def test_the_streaming_app_serves_the_dashboard_sign_in(
    password: str, admin: Caller
) -> None:
    with TestClient(create_app(), base_url="https://d1.cloudfront.net") as web:
        root = web.get("/dashboard", follow_redirects=False)
        assert root.status_code == 307
        assert root.headers["location"] == "/dashboard/"
        home = web.get("/dashboard/", follow_redirects=False)
        assert home.status_code == 303
        assert home.headers["location"].startswith("/dashboard/sign-in?next=")
        page = web.get("/dashboard/sign-in")
        assert page.status_code == 200
        assert "<h1>Sign in</h1>" in page.text
        assert page.headers["cache-control"] == "no-store"
        cookie = page.headers["set-cookie"].lower()
        assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
        css = web.get("/dashboard/static/dashboard.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith(
            "text/css"
        )
        # The API's streaming routes are still there beside it.
        assert web.get("/v1/models").status_code != 404


def test_usage_page_shows_what_the_usage_routes_answer(
    web: TestClient, client: Any, admin: Caller, gateway: dict[str, Any]
) -> None:
    sign_in(web, "admin@localhost", PASSWORD)
    project = gateway["project"]
    page = web.get(f"/dashboard/orgs/{admin.org_id}/gateway/{project.id}")
    assert page.status_code == 200, page.text
    usage = {_data(row, "model"): row for row in _rows(page.text, "usage-table")}
    assert set(usage) == {MINI, BIG}
    assert '<td class="requests">2</td>' in usage[MINI]
    # 10+5 and 20+5 tokens for the two gpt-4o-mini requests.
    assert '<td class="tokens">40</td>' in usage[MINI]
    api = body(
        client.http.get(
            f"/v1/gateway/projects/{project.id}/usage/activity?granularity=1h&group_by=model",
            headers=admin.headers(),
        )
    )
    assert sum(b["request_count"] for b in api["data"] if b["model"] == MINI) == 2
    chart = re.search(
        r'<script type="application/json" id="usage-data">(.*?)</script>',
        page.text,
        re.S,
    )
    assert chart
    series = {s["model"]: s for s in json.loads(chart.group(1))["series"]}
    assert sum(series[MINI]["tokens"]) == 40

    log = _rows(page.text, "request-log")
    assert [_data(r, "request") for r in log] == [
        "req_dash2",
        "req_dash1",
        "req_dash0",
    ]
    # The facets route's counts label the filter options.
    assert f'<option value="{MINI}">{MINI} (2)</option>' in page.text

    errors = web.get(
        f"/dashboard/orgs/{admin.org_id}/gateway/{project.id}?has_error=true"
    )
    (row,) = _rows(errors.text, "request-log")
    assert 'data-request="req_dash2"' in row
    filtered = {_data(r, "model") for r in _rows(errors.text, "usage-table")}
    assert filtered == {BIG}

    detail = web.get(
        f"/dashboard/orgs/{admin.org_id}/gateway/{project.id}/requests/req_dash0"
    )
    assert detail.status_code == 200
    assert MINI in detail.text and "main (" in detail.text
    assert "chatcmpl-dash0" in detail.text


def test_usage_page_refuses_what_the_route_refuses(
    web: TestClient, client: Any, admin: Caller, gateway: dict[str, Any]
) -> None:
    sign_in(web, "admin@localhost", PASSWORD)
    project = gateway["project"]
    for query in ("status_code=abc", "granularity=yearly", "has_error=maybe"):
        api = client.http.get(
            f"/v1/gateway/projects/{project.id}/usage/logs?{query}"
            if "granularity" not in query
            else f"/v1/gateway/projects/{project.id}/usage/activity?{query}",
            headers=admin.headers(),
        )
        assert api.status_code == 400
        page = web.get(f"/dashboard/orgs/{admin.org_id}/gateway/{project.id}?{query}")
        assert page.status_code == 400, query
        assert body(api)["detail"] in page.text
        assert "Traceback" not in page.text
    twice = web.get(
        f"/dashboard/orgs/{admin.org_id}/gateway/{project.id}?model=a&model=b"
    )
    assert twice.status_code == 400
    assert "was given 2 times" in twice.text


def test_memory_page_reads_threads_messages_and_observations(
    web: TestClient, admin: Caller, gateway: dict[str, Any]
) -> None:
    sign_in(web, "admin@localhost", PASSWORD)
    project = gateway["project"]
    base = f"/dashboard/orgs/{admin.org_id}/memory"
    listing = web.get(base, params={"project": project.id})
    assert listing.status_code == 200, listing.text
    assert "<h2>user-7</h2>" in listing.text and "<h2>user-8</h2>" in listing.text
    assert "2 threads, newest first." in listing.text

    one = web.get(base, params={"project": project.id, "resource": "user-7"})
    assert "<h2>user-8</h2>" not in one.text
    assert "1 thread of user-7" in one.text

    page = web.get(base, params={"project": project.id, "thread": "thread-a"})
    assert page.status_code == 200, page.text
    messages = re.search(
        r'<ol class="messages" id="thread-messages"(.*?)</ol>', page.text, re.S
    )
    assert messages
    shown = re.findall(r'<p class="part-text">(.*?)</p>', messages.group(1))
    assert shown == gateway["texts"]
    roles = re.findall(r'<li data-role="(\w+)"', messages.group(1))
    assert roles == ["user", "assistant", "user"]
    history = re.findall(r'<li data-kind="(\w+)" data-generation="(\d+)"', page.text)
    assert history == [("reflection", "1"), ("observation", "0")]
    assert "- a trip to Lyon" in page.text

    bad = web.get(base, params={"project": project.id, "page": "-1"})
    assert bad.status_code == 400
    assert "Query parameter page must be an integer from 0 to 10000." in bad.text
    missing = web.get(base, params={"project": project.id, "thread": "nope"})
    assert missing.status_code == 404
    assert "Thread nope not found." in missing.text


def test_another_orgs_member_reads_none_of_it(
    web: TestClient, admin: Caller, gateway: dict[str, Any]
) -> None:
    org = accounts.create_organization("Elsewhere")
    user = accounts.create_user("else@example.com")
    User.get(user.id).update(
        actions=[User.password_hash.set(passwords.hash_password("else password"))]
    )
    accounts.add_member(org.id, user.id, "admin")
    sign_in(web, "else@example.com", "else password")
    project = gateway["project"]
    for path in (
        f"/gateway/{project.id}",
        f"/gateway/{project.id}/requests/req_dash0",
        f"/memory?{urlencode({'project': project.id, 'thread': 'thread-a'})}",
    ):
        mine = web.get(f"/dashboard/orgs/{org.id}{path}")
        assert mine.status_code == 404, path
        assert "first turn" not in mine.text
        theirs = web.get(f"/dashboard/orgs/{admin.org_id}{path}")
        assert theirs.status_code == 403, path


def test_the_gateway_cold_start_does_not_import_the_pages() -> None:
    """The streaming function builds the dashboard on its first page request."""
    check = (
        "import sys, chalicelib.streaming as s; "
        "print('chalicelib.dashboard.views' in sys.modules, 'jinja2' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", check],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    assert result.stdout.split() == ["False", "False"]


def test_threads_and_request_log_page_by_the_routes_own_paging(
    web: TestClient, admin: Caller, gateway: dict[str, Any]
) -> None:
    project = gateway["project"]
    for index in range(20):
        memory_store.create_thread(
            memory_store.new_thread(project.id, "user-9", f"extra-{index:02d}")
        )
    key, _ = keys.create_key(project, keys.KeyLimits(label="bulk"))
    context = keys.KeyContext(key, project)
    start = now() - timedelta(hours=2)
    records.write_many(
        [
            (
                context,
                records.Outcome(
                    request_id=f"req_bulk{index:02d}",
                    endpoint="/v1/chat/completions",
                    started_at=start + timedelta(seconds=index),
                    model=MINI,
                    provider="openai",
                    status_code=200,
                    latency_ms=10,
                ),
            )
            for index in range(48)
        ]
    )
    sign_in(web, "admin@localhost", PASSWORD)
    org = f"/dashboard/orgs/{admin.org_id}"

    first = web.get(f"{org}/memory", params={"project": project.id})
    assert "22 threads, newest first." in first.text
    assert len(re.findall(r"<li><a href=", first.text)) == 20
    older = re.search(r'<a href="([^"]+)">Older threads</a>', first.text)
    assert older
    second = web.get(older.group(1).replace("&amp;", "&"))
    assert len(re.findall(r"<li><a href=", second.text)) == 2
    assert "Newer threads" in second.text and "Older threads" not in second.text

    # 51 requests: a page of 50, newest first, then the oldest one.
    page = web.get(f"{org}/gateway/{project.id}")
    rows = [_data(r, "request") for r in _rows(page.text, "request-log")]
    assert len(rows) == 50 and rows[0] == "req_dash2"
    link = re.search(r'<a href="([^"]+)" id="older-requests">', page.text)
    assert link
    rest = web.get(link.group(1).replace("&amp;", "&"))
    assert [_data(r, "request") for r in _rows(rest.text, "request-log")] == [
        "req_bulk00"
    ]
    assert 'id="older-requests"' not in rest.text
