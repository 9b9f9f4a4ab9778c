"""The unmodified Mastra CLI deploys the sample app to the local platform."""

import shutil
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import node_env, run
from tests.local_platform import RunningPlatform

pytestmark = pytest.mark.e2e


def _project(platform: RunningPlatform, product: str, name: str) -> str:
    response = httpx.post(
        f"{platform.url}/v1/{product}/projects",
        headers=platform.headers(),
        json={"name": name},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["project"]["id"])


def _deploy(
    product: str, app: Path, home: Path, platform: RunningPlatform, project_id: str
) -> str:
    workdir = app.parent / f"{app.name}-{product}"
    if not workdir.exists():
        shutil.copytree(app, workdir, symlinks=True)
    env = {**node_env(home), **platform.env(), "MASTRA_PROJECT_ID": project_id}
    return run(
        ["npx", "--no-install", "mastra", product, "deploy", "--yes"],
        workdir,
        env,
        timeout=900,
    )


def _agents(url: str) -> dict:
    response = httpx.get(f"{url}/api/agents", timeout=30)
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.mark.parametrize("product", ["server", "studio"])
def test_cli_deploy_runs_the_sample_agent(
    product: str, sample_app: Path, cli_home: Path, platform_process: RunningPlatform
) -> None:
    project_id = _project(platform_process, product, f"sample {product}")

    output = _deploy(product, sample_app, cli_home, platform_process, project_id)

    assert "Deploy succeeded" in output, output
    # Build output reached the CLI through log polling (server) or SSE (studio).
    assert "Installing dependencies" in output, output
    assert "Artifact accepted" in output, output
    detail = httpx.get(
        f"{platform_process.url}/v1/{product}/projects/{project_id}",
        headers=platform_process.headers(),
        timeout=30,
    ).json()
    latest = detail["deploys"][0]
    assert latest["status"] == "running", latest
    assert latest["instanceUrl"] in output
    assert "sampleAgent" in _agents(latest["instanceUrl"])
