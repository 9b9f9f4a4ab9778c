"""The dashboard in a real browser against a real `python -m local run`."""

import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    Browsing,
    admin_credentials,
    projects_url,
    shot,
    sign_in,
)
from tests.fakes_upstream import fake_upstream
from tests.local_platform import RunningPlatform, local_platform

pytestmark = pytest.mark.integration

MODEL = "openai/gpt-4o-mini"
SIDEWAYS = "(d => d.scrollWidth - d.clientWidth)(document.documentElement)"
# Elements wider than the screen, outside the tables that scroll on their own.
WIDE = """[...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right
    > document.documentElement.clientWidth
    && !(e.parentElement && e.parentElement.closest('.table-wrap')))
  .map(e => e.tagName + '.' + e.className).slice(0, 8)"""


@dataclass
class Stack:
    platform: RunningPlatform
    base: str
    email: str
    password: str

    @property
    def org(self) -> str:
        return f"{self.base}/orgs/{self.platform.org_id}"

    def api(self, method: str, path: str, payload: dict | None = None) -> dict:
        response = httpx.request(
            method,
            f"{self.platform.url}{path}",
            json=payload,
            headers=self.platform.headers(),
            timeout=30,
        )
        assert response.status_code < 300, response.text
        return dict(response.json())


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with fake_upstream() as upstream:
        env = {
            "GATEWAY_UPSTREAM_OPENAI_URL": f"{upstream.url}/v1",
            "GATEWAY_PROVIDER_OPENAI_API_KEY": "sk-platform-openai",
        }
        state = Path(tmp_path_factory.mktemp("dashboard-platform"))
        with local_platform(state, env) as platform:
            email, password = admin_credentials(platform)
            yield Stack(platform, projects_url(platform), email, password)


def admin_page(browsing: Browsing, stack: Stack) -> Page:
    page = browsing.page()
    sign_in(page, stack.base, stack.email, stack.password)
    return page


def test_sign_in_sets_a_guarded_cookie_and_sign_out_ends_it(browsing, stack):
    page = browsing.page()
    page.goto(stack.org)
    expect(page).to_have_url(re.compile(r"/dashboard/sign-in\?next="))
    page.get_by_label("Email").fill(stack.email)
    page.get_by_label("Password").fill("not the password")
    browsing.allow_status(401)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text(
        "The email or password is not correct."
    )
    shot(page, "sign-in")
    page.get_by_label("Password").fill(stack.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(stack.org)
    cookies = {c["name"]: c for c in page.context.cookies()}
    access = cookies["mastra_dash_access"]
    assert access["httpOnly"] and access["sameSite"] == "Lax"
    assert access["path"] == "/dashboard"
    assert not access["secure"]  # loopback; Secure everywhere else
    assert access["value"] not in page.content()

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/dashboard/sign-in$"))
    # The ended session's token is refused even if replayed.
    replay = httpx.get(
        f"{stack.platform.url}/v1/auth/verify",
        headers={"Authorization": f"Bearer {access['value']}"},
    )
    assert replay.status_code == 401


def test_a_form_without_its_csrf_token_is_refused(browsing, stack):
    page = admin_page(browsing, stack)
    response = page.request.post(
        f"{stack.org}/tokens", form={"action": "create", "name": "forged"}
    )
    assert response.status == 403
    assert "did not come from this dashboard" in response.text()
    assert (
        "forged"
        not in httpx.get(
            f"{stack.platform.url}/v1/auth/tokens", headers=stack.platform.headers()
        ).text
    )


def test_invite_accept_and_what_a_member_may_do(browsing, stack):
    admin = admin_page(browsing, stack)
    email = f"member-{uuid.uuid4().hex[:8]}@example.com"
    admin.get_by_label("Email to invite").fill(email)
    admin.get_by_label("Role", exact=True).select_option("member")
    admin.get_by_role("button", name="Invite").click()
    expect(admin.get_by_role("status")).to_have_text(f"Invited {email}.")
    row = admin.locator(f'tr[data-invitation="{email}"]')
    expect(row.locator(".state")).to_have_text("pending")
    link = row.get_by_role("link", name="Accept link").get_attribute("href")
    assert link
    shot(admin, "organization")

    member = browsing.page(browsing.context())
    member.goto(link)
    member.get_by_label("Password").fill("member password 1")
    member.get_by_role("button", name="Accept the invitation").click()
    expect(member.get_by_role("heading", name="Welcome")).to_be_visible()
    sign_in(member, stack.base, email, "member password 1")
    expect(member.locator(".role")).to_have_text("member")
    # No admin controls for a member...
    expect(member.get_by_label("Email to invite")).to_have_count(0)
    expect(member.get_by_role("button", name="Change role")).to_have_count(0)
    expect(member.get_by_role("button", name="Revoke")).to_have_count(0)
    shot(member, "organization-as-member")
    # ...and the API's 403 when the admin form is posted anyway.
    csrf = member.locator('input[name="csrf"]').first.get_attribute("value")
    refused = member.request.post(
        stack.org,
        form={"csrf": csrf or "", "action": "invite", "email": "x@example.com"},
    )
    assert refused.status == 403
    assert "This needs the admin role in the organization." in refused.text()
    assert "Traceback" not in refused.text()

    admin.goto(stack.org)
    target = admin.locator(f'tr[data-member="{email}"]')
    target.get_by_label(f"Role of {email}").select_option("admin")
    target.get_by_role("button", name="Change role").click()
    expect(admin.get_by_role("status")).to_have_text(f"{email} is now admin.")
    expect(admin.locator(f'tr[data-member="{email}"] .member-role')).to_have_text(
        "admin"
    )

    second = f"revoked-{uuid.uuid4().hex[:8]}@example.com"
    admin.get_by_label("Email to invite").fill(second)
    admin.get_by_role("button", name="Invite").click()
    admin.get_by_role("button", name=f"Revoke the invitation of {second}").click()
    expect(admin.get_by_role("status")).to_have_text("Invitation revoked.")
    expect(admin.locator(f'tr[data-invitation="{second}"] .state')).to_have_text(
        "revoked"
    )


def test_a_token_secret_is_shown_once_and_revoking_stops_it(browsing, stack):
    page = admin_page(browsing, stack)
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Token name").fill("browser token")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#new-secret").inner_text()
    assert secret.startswith("mpt_")
    shot(page, "tokens")
    verify = f"{stack.platform.url}/v1/auth/verify"
    bearer = {"Authorization": f"Bearer {secret}"}
    assert httpx.get(verify, headers=bearer).status_code == 200
    page.goto(f"{stack.org}/tokens")
    assert secret not in page.content()
    page.get_by_role("button", name="Revoke browser token").click()
    expect(page.get_by_role("status")).to_have_text("Token revoked.")
    expect(page.locator('tr[data-token="browser token"]')).to_have_count(0)
    assert httpx.get(verify, headers=bearer).status_code == 401


def test_server_settings_env_domains_and_always_on(browsing, stack):
    page = admin_page(browsing, stack)
    page.get_by_role("link", name="Projects").click()
    page.get_by_label("Project name").fill("settings app")
    page.get_by_label("Product").select_option("server")
    page.get_by_role("button", name="Create project").click()
    expect(page.get_by_role("status")).to_have_text("Project settings app created.")
    shot(page, "projects")
    page.get_by_role("row", name=re.compile("settings app")).get_by_role(
        "link", name="Settings", exact=True
    ).click()
    page.get_by_label("Variable name").fill("GREETING")
    page.get_by_label("Value").fill("hello from the browser")
    page.get_by_role("button", name="Save variable").click()
    expect(page.get_by_role("status")).to_contain_text("GREETING saved")
    cell = page.locator('tr[data-env="GREETING"] .env-value')
    expect(cell).not_to_contain_text("hello from the browser")
    page.get_by_role("link", name="Show values").click()
    expect(page.locator('tr[data-env="GREETING"] .env-value')).to_have_text(
        "hello from the browser"
    )
    project_id = page.url.split("/projects/")[1].split("/")[0]
    stored = stack.api("GET", f"/v1/server/projects/{project_id}/env")
    assert stored["envVars"] == {"GREETING": "hello from the browser"}

    page.get_by_label("Domain", exact=True).fill("app.example.com")
    page.get_by_role("button", name="Add domain").click()
    card = page.locator('[data-domain="app.example.com"]')
    expect(card).to_be_visible()
    expect(card.locator("tbody tr").first).to_be_visible()
    page.get_by_role("button", name="Turn always-on on").click()
    expect(page.locator("#always-on")).to_have_text("on")
    shot(page, "server-settings")
    assert stack.api("GET", f"/v1/server/projects/{project_id}")["project"]["alwaysOn"]


def wait_for(check: Callable[[], Any], seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def test_gateway_usage_chart_request_log_and_memory_thread(browsing, stack):
    created = stack.api(
        "POST", "/v1/gateway/projects/provision", {"name": "browser gateway"}
    )
    project_id = created["project"]["id"]
    gateway = f"/v1/gateway/projects/{project_id}"
    # A low observation threshold, so the first turn gets observed.
    stack.api("PATCH", gateway, {"memoryObserveTokens": 50})
    client = openai.OpenAI(
        api_key=created["secret"],
        base_url=f"{stack.platform.url}/v1",
        max_retries=0,
    )
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "status:500"}]
        )
    questions = [
        f"{n} question: I like green tea and I live in Lyon words:40"
        for n in ("first", "second")
    ]
    tokens = 0
    for text in questions:
        answer = client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": text}],
            extra_headers={"x-thread-id": "thread-1", "x-resource-id": "user-42"},
        )
        assert answer.usage is not None
        tokens += answer.usage.total_tokens
    # Records are written in the background; observations after the answer.
    wait_for(
        lambda: (
            sum(
                b["request_count"]
                for b in stack.api("GET", gateway + "/usage/activity")["data"]
            )
            == 3
        )
    )
    history = gateway + "/memory/threads/thread-1/observations/history"
    wait_for(lambda: stack.api("GET", history)["observations"])

    page = admin_page(browsing, stack)
    page.get_by_role("link", name="Gateway").click()
    shot(page, "gateway-projects")
    page.get_by_role("link", name="browser gateway").click()
    here = page.url
    chart = page.locator("#usage-chart")
    expect(chart).to_have_attribute("data-ready", "1")
    expect(chart).to_have_attribute("data-models", MODEL)
    usage_row = page.locator(f'#usage-table tr[data-model="{MODEL}"]')
    # From the usage service: three requests (one refused upstream) and the
    # tokens the SDK was told each successful answer used.
    expect(usage_row.locator(".requests")).to_have_text("3")
    expect(usage_row.locator(".tokens")).to_have_text(str(tokens))
    expect(page.locator("#request-log tbody tr")).to_have_count(3)
    expect(page.get_by_label("Model", exact=True)).to_contain_text(f"{MODEL} (3)")
    shot(page, "gateway")
    page.get_by_label("Has error").select_option("true")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#request-log tbody tr")).to_have_count(1)
    expect(page.locator("#request-log tbody tr td").nth(2)).to_have_text("500")
    page.get_by_label("Has error").select_option("false")
    page.get_by_label("Model", exact=True).select_option(MODEL)
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#request-log tbody tr")).to_have_count(2)
    expect(usage_row.locator(".requests")).to_have_text("2")
    page.goto(here + "?status_code=404")
    expect(page.locator("#request-log tbody tr")).to_have_text(["No requests match."])
    expect(page.get_by_label("Status code")).to_have_value("404")
    page.goto(here)
    page.locator("#request-log tbody a").first.click()
    detail = page.locator("#request-detail")
    expect(detail).to_contain_text(MODEL)
    expect(detail).to_contain_text("thread-1")
    saved = page.locator("#request-messages li")
    expect(saved).to_have_count(2)
    expect(saved.first).to_contain_text("second question")
    shot(page, "gateway-request")

    page.get_by_role("link", name="Memory").click()
    page.get_by_label("Gateway project").select_option(label="browser gateway")
    page.get_by_label("Resource").fill("user-42")
    page.get_by_role("button", name="Show threads").click()
    expect(page.get_by_role("heading", name="user-42")).to_be_visible()
    expect(page.locator("#thread-total")).to_have_text(
        "1 thread of user-42, newest first."
    )
    page.get_by_role("link", name="thread-1").click()
    messages = page.locator("#thread-messages li")
    expect(messages).to_have_count(4)
    # Oldest first: each question, then its answer.
    expect(page.locator("#thread-messages .part-text")).to_contain_text(
        ["first question", "word0 word1", "second question", "word0 word1"]
    )
    roles = messages.evaluate_all("items => items.map(i => i.dataset.role)")
    assert roles == ["user", "assistant", "user", "assistant"]
    observed = page.locator('#observation-history li[data-kind="observation"]')
    expect(observed.first).to_contain_text("generation 0")
    expect(observed.first.locator(".observation-text")).to_contain_text("word0")
    shot(page, "memory")


def test_pages_fit_a_narrow_screen(browsing, stack):
    context = browsing.context(viewport={"width": 360, "height": 740})
    page = browsing.page(context)
    sign_in(page, stack.base, stack.email, stack.password)
    for path in ("", "/tokens", "/projects", "/gateway", "/memory"):
        page.goto(stack.org + path)
        overflow = page.evaluate(SIDEWAYS)
        wide = page.evaluate(WIDE)
        assert overflow <= 0, f"{path or '/'} scrolls sideways by {overflow}px: {wide}"
    shot(page, "narrow-gateway")


def test_problems_show_the_detail_not_a_trace(browsing, stack):
    page = admin_page(browsing, stack)
    response = page.request.get(f"{stack.org}/projects/prj_doesnotexist")
    assert response.status == 404
    assert "Project prj_doesnotexist not found." in response.text()
    assert "Traceback" not in response.text()
