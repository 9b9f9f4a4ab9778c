"""A "Full log" link printed by a real `mastra server deploy` opens the
dashboard's deploy page, whose log arrives live over EventSource."""

import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    Browsing,
    admin_credentials,
    projects_url,
    shot,
    sign_in,
)
from tests.e2e.conftest import (  # noqa: F401 - fixtures used by name
    ANSI,
    cli_home,
    node_env,
    platform_process,
    sample_app,
)
from tests.local_platform import RunningPlatform

pytestmark = pytest.mark.e2e

CRASH = 'throw new Error("dashboard test: this app refuses to start");\n'
IN_PROGRESS = {"queued", "building", "starting"}


def crashing_copy(app: Path) -> Path:
    """The sample app, built, whose server throws as soon as it starts."""
    workdir = app.parent / f"{app.name}-crash"
    if not workdir.exists():
        shutil.copytree(app, workdir, symlinks=True)
        for entry in (
            workdir / "src" / "mastra" / "index.ts",
            workdir / ".mastra" / "output" / "index.mjs",
        ):
            entry.write_text(entry.read_text() + CRASH)
    return workdir


def latest_deploy(platform: RunningPlatform, project_id: str) -> str:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        found = httpx.get(
            f"{platform.url}/v1/server/projects/{project_id}",
            headers=platform.headers(),
            timeout=30,
        ).json()
        if found["project"]["latestDeployId"]:
            return str(found["project"]["latestDeployId"])
        time.sleep(0.2)
    raise AssertionError("the CLI never created a deploy")


def test_full_log_link_of_a_failed_server_deploy(
    browsing: Browsing,
    sample_app: Path,  # noqa: F811
    cli_home: Path,  # noqa: F811
    platform_process: RunningPlatform,  # noqa: F811
) -> None:
    platform = platform_process
    base = projects_url(platform)
    created = httpx.post(
        f"{platform.url}/v1/server/projects",
        headers=platform.headers(),
        json={"name": "crashing server"},
        timeout=30,
    )
    assert created.status_code == 200, created.text
    project_id = created.json()["project"]["id"]
    page = browsing.page()
    sign_in(page, base, *admin_credentials(platform))

    env = {
        **node_env(cli_home),
        **platform.env(),
        "MASTRA_PROJECT_ID": project_id,
        "MASTRA_PROJECTS_URL": base,
    }
    cli = subprocess.Popen(
        ["npx", "--no-install", "mastra", "server", "deploy", "--yes"],
        cwd=crashing_copy(sample_app),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deploy_id = latest_deploy(platform, project_id)
        expected = (
            f"{base}/orgs/{platform.org_id}/projects/{project_id}"
            f"/server-deploys/{deploy_id}"
        )
        page.goto(expected)
        lines = page.locator("#deploy-log .line")
        expect(lines.first).to_be_attached(timeout=120_000)
        seen_while_running = page.locator("#deploy-status").inner_text()
        first_count = lines.count()
        output, _ = cli.communicate(timeout=900)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    output = ANSI.sub("", output)
    assert cli.returncode == 1, output
    links = re.findall(r"Full log: (\S+)", output)
    assert links == [expected], output

    expect(page.locator("#stream-state")).to_contain_text("complete", timeout=60_000)
    expect(page.locator("#deploy-status")).to_have_text("failed")
    assert seen_while_running in IN_PROGRESS, seen_while_running
    assert lines.count() > first_count
    shot(page, "deploy")

    # The printed link itself, in a fresh page: the whole log, replayed.
    fresh = browsing.page(page.context)
    fresh.goto(links[0])
    expect(fresh.locator("#stream-state")).to_contain_text("complete")
    stored = httpx.get(
        f"{platform.url}/v1/server/deploys/{deploy_id}/logs",
        headers=platform.headers(),
        timeout=30,
    ).json()
    total = fresh.locator("#deploy-log .line").count()
    assert total == page.locator("#deploy-log .line").count()
    assert "refuses to start" in fresh.locator("#deploy-log").inner_text()
    assert stored

    # A reconnect resumes after Last-Event-ID instead of from the first line.
    resumed = fresh.request.get(
        f"{links[0]}/events", headers={"Last-Event-ID": str(total - 2)}
    )
    ids = re.findall(r"^id: (\d+)", resumed.text(), flags=re.MULTILINE)
    assert ids == [str(total - 1), str(total)], resumed.text()[:500]
