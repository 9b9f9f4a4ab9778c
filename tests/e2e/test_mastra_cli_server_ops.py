"""`mastra server env|pause|restart` of the real CLI against the platform, and
an env change reaching the deployed sample app after a restart."""

import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Deployments, node_env, run
from tests.local_platform import RunningPlatform

pytestmark = pytest.mark.e2e


def server(
    args: list[str], cwd: Path, home: Path, platform: RunningPlatform, project: str
) -> str:
    env = {**node_env(home), **platform.env(), "MASTRA_PROJECT_ID": project}
    return run(["npx", "--no-install", "mastra", "server", *args], cwd, env, 300)


def test_env_commands_pause_restart_and_the_app_sees_the_change(
    deployments: Deployments,
    sample_app: Path,
    cli_home: Path,
    platform_process: RunningPlatform,
    tmp_path: Path,
) -> None:
    project, _ = deployments.get("server")
    p = platform_process

    def cli(*args: str) -> str:
        return server(list(args), sample_app, cli_home, p, project)

    assert "Set SAMPLE_GREETING successfully" in cli(
        "env", "set", "SAMPLE_GREETING", "hello-e2e"
    )
    listed = cli("env", "list")
    assert "SAMPLE_GREETING" in listed and "hello-e2e" not in listed
    env_file = tmp_path / "extra.env"
    env_file.write_text('# comment\nexport SAMPLE_EXTRA="two"\nSAMPLE_GONE=x\n')
    assert "Imported 2 variable" in cli("env", "import", str(env_file))
    assert "Removed SAMPLE_GONE successfully" in cli("env", "unset", "SAMPLE_GONE")
    assert "is not set" in cli("env", "unset", "SAMPLE_GONE")
    pulled = tmp_path / "pulled.env"
    assert "Pulled 2 variable" in cli("env", "pull", str(pulled))
    text = pulled.read_text()
    assert 'SAMPLE_GREETING="hello-e2e"' in text and 'SAMPLE_EXTRA="two"' in text

    restarted = cli("restart")
    assert "Restart complete!" in restarted
    detail = httpx.get(
        f"{p.url}/v1/server/projects/{project}", headers=p.headers(), timeout=30
    ).json()
    url = detail["project"]["instanceUrl"]
    answer = httpx.get(f"{url}/sample/env/SAMPLE_GREETING", timeout=30)
    assert answer.status_code == 200, answer.text
    assert "hello-e2e" in answer.text

    logs = httpx.get(
        f"{p.url}/v1/server/projects/{project}/runtime-logs",
        headers=p.headers(),
        timeout=30,
    ).json()
    assert isinstance(logs["logs"], list)

    assert "Server paused." in cli("pause")
    for _ in range(30):
        detail = httpx.get(
            f"{p.url}/v1/server/projects/{project}", headers=p.headers(), timeout=30
        ).json()
        if detail["project"]["latestDeployStatus"] == "stopped":
            break
        time.sleep(1)
    assert detail["project"]["latestDeployStatus"] == "stopped"
    again = httpx.post(
        f"{p.url}/v1/server/projects/{project}/pause", headers=p.headers(), timeout=30
    )
    assert again.status_code == 409
