"""The unmodified Mastra CLI deploys the sample app to the local platform."""

import httpx
import pytest

from tests.e2e.conftest import Deployments
from tests.local_platform import RunningPlatform

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("product", ["server", "studio"])
def test_cli_deploy_runs_the_sample_agent(
    product: str, deployments: Deployments, platform_process: RunningPlatform
) -> None:
    project_id, output = deployments.get(product)

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
    agents = httpx.get(f"{latest['instanceUrl']}/api/agents", timeout=30)
    assert agents.status_code == 200
    assert "sampleAgent" in agents.json()
