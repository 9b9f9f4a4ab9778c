"""`mastra auth login` through its browser flow, then a forced token refresh."""

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import ANSI, node_env, run
from tests.local_platform import RunningPlatform, local_platform

pytestmark = pytest.mark.e2e
PASSWORD = "e2e admin password"
ACCESS_TTL = 3


@pytest.fixture(scope="module")
def short_lived_platform(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningPlatform]:
    """A platform whose access tokens live a few seconds."""
    state = Path(tmp_path_factory.mktemp("login-state"))
    extra = {
        "PLATFORM_ACCESS_TOKEN_TTL_SECONDS": str(ACCESS_TTL),
        "PLATFORM_ADMIN_PASSWORD": PASSWORD,
    }
    with local_platform(state, extra) as platform:
        yield platform


def browserless_env(home: Path, platform: RunningPlatform) -> dict[str, str]:
    """No MASTRA_API_TOKEN, and an xdg-open that fails, so the CLI prints the URL."""
    bin_dir = home / "fake-bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    opener = bin_dir / "xdg-open"
    opener.write_text("#!/bin/sh\nexit 3\n")
    opener.chmod(0o755)
    env = node_env(home)
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    env["MASTRA_PLATFORM_API_URL"] = platform.url
    return env


def login(app: Path, env: dict[str, str]) -> str:
    """Run `mastra auth login`, sign in over HTTP as a browser would."""
    process = subprocess.Popen(
        ["npx", "--no-install", "mastra", "auth", "login"],
        cwd=app,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        url = None
        for line in process.stdout:
            lines.append(line)
            found = re.search(r"Open this URL manually: (\S+)", ANSI.sub("", line))
            if found:
                url = found.group(1)
                break
        assert url, "".join(lines)
        with httpx.Client(timeout=30) as browser:
            page = browser.get(url)
            assert page.status_code == 200
            fields = dict(
                re.findall(r'name="(cli_port|state)" value="([^"]+)"', page.text)
            )
            signed_in = browser.post(
                url.split("?")[0],
                data={**fields, "email": "admin@localhost", "password": PASSWORD},
            )
            assert signed_in.status_code == 302, signed_in.text
            callback = signed_in.headers["Location"]
            assert callback.startswith("http://127.0.0.1:")
            landed = browser.get(callback)
            assert landed.status_code == 200 and "Logged in!" in landed.text
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, "".join(lines) + rest
    return ANSI.sub("", "".join(lines) + rest)


def test_login_then_refresh_then_token_and_org_commands(
    sample_app: Path,
    tmp_path: Path,
    short_lived_platform: RunningPlatform,
) -> None:
    home = tmp_path / "home"
    env = browserless_env(home, short_lived_platform)
    output = login(sample_app, env)
    assert "Logged in as admin@localhost" in output
    credentials_file = home / ".mastra" / "credentials.json"
    first = json.loads(credentials_file.read_text())
    assert first["token"].startswith("mpt_at_")
    assert first["refreshToken"].startswith("mpt_rt_")
    assert first["organizationId"] == short_lived_platform.org_id

    whoami = run(
        ["npx", "--no-install", "mastra", "auth", "whoami"], sample_app, env, 120
    )
    assert "admin@localhost" in whoami

    # Outlive the access token: the next command must refresh it.
    time.sleep(ACCESS_TTL + 1)
    expired = httpx.get(
        f"{short_lived_platform.url}/v1/auth/verify",
        headers={"Authorization": f"Bearer {first['token']}"},
    )
    assert expired.status_code == 401
    created = run(
        ["npx", "--no-install", "mastra", "auth", "tokens", "create", "after login"],
        sample_app,
        env,
        120,
    )
    secret = re.search(r"mpt_tok_[a-z2-7]{16}_[A-Za-z0-9_-]+", created)
    assert secret, created
    second = json.loads(credentials_file.read_text())
    assert second["refreshToken"] != first["refreshToken"]
    assert second["token"] != first["token"]
    # The rotated refresh token is dead.
    reused = httpx.post(
        f"{short_lived_platform.url}/v1/auth/refresh-token",
        json={"refreshToken": first["refreshToken"]},
    )
    assert reused.status_code == 401

    listed = run(
        ["npx", "--no-install", "mastra", "auth", "tokens"], sample_app, env, 120
    )
    assert "after login" in listed
    token_id = re.search(r"tok_[a-z2-7]{16}", secret.group(0)).group(0)  # type: ignore[union-attr]
    run(
        ["npx", "--no-install", "mastra", "auth", "tokens", "revoke", token_id],
        sample_app,
        env,
        120,
    )
    check = httpx.get(
        f"{short_lived_platform.url}/v1/auth/verify",
        headers={"Authorization": f"Bearer {secret.group(0)}"},
    )
    assert check.status_code == 401
    orgs = run(["npx", "--no-install", "mastra", "auth", "orgs"], sample_app, env, 120)
    assert short_lived_platform.org_id in orgs and "[admin]" in orgs
    leaked = [
        line
        for line in short_lived_platform.output
        if re.search(r"mpt_(at|rt|inv)_", line)
    ]
    assert not leaked, leaked
