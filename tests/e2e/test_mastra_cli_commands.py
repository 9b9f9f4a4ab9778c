"""CLI commands beyond deploy, run unmodified against the local platform."""

import re
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Deployments, node_env, run
from tests.local_platform import RunningPlatform

pytestmark = pytest.mark.e2e


def mastra(args: list[str], app: Path, home: Path, platform: RunningPlatform) -> str:
    env = {**node_env(home), **platform.env()}
    return run(["npx", "--no-install", "mastra", *args], app, env, timeout=300)


def test_tokens_create_list_revoke(
    sample_app: Path, cli_home: Path, platform_process: RunningPlatform
) -> None:
    created = mastra(
        ["auth", "tokens", "create", "ci robot"], sample_app, cli_home, platform_process
    )
    secret = re.search(r"mpt_tok_[a-z2-7]{16}_[A-Za-z0-9_-]+", created)
    assert secret, created
    token_id = re.search(r"tok_[a-z2-7]{16}", secret.group(0)).group(0)  # type: ignore[union-attr]

    listed = mastra(["auth", "tokens"], sample_app, cli_home, platform_process)
    assert "ci robot" in listed
    assert secret.group(0) not in listed

    check = httpx.get(
        f"{platform_process.url}/v1/auth/verify",
        headers={"Authorization": f"Bearer {secret.group(0)}"},
    )
    assert check.status_code == 200
    mastra(
        ["auth", "tokens", "revoke", token_id], sample_app, cli_home, platform_process
    )
    check = httpx.get(
        f"{platform_process.url}/v1/auth/verify",
        headers={"Authorization": f"Bearer {secret.group(0)}"},
    )
    assert check.status_code == 401


def test_orgs_lists_the_local_organization(
    sample_app: Path, cli_home: Path, platform_process: RunningPlatform
) -> None:
    output = mastra(["auth", "orgs"], sample_app, cli_home, platform_process)
    assert platform_process.org_id in output
    assert "[admin]" in output


def test_studio_status_logs_and_diagnosis_of_a_deploy(
    deployments: Deployments,
    sample_app: Path,
    cli_home: Path,
    platform_process: RunningPlatform,
) -> None:
    project_id, _ = deployments.get("studio")
    project = httpx.get(
        f"{platform_process.url}/v1/studio/projects/{project_id}",
        headers=platform_process.headers(),
    ).json()["project"]
    deploy_id = project["latestDeployId"]

    listing = mastra(["studio", "projects"], sample_app, cli_home, platform_process)
    assert project["name"] in listing

    status = mastra(
        ["studio", "deploy", "status", deploy_id],
        sample_app,
        cli_home,
        platform_process,
    )
    assert "running" in status

    logs = mastra(
        ["studio", "deploy", "logs", deploy_id, "--tail", "3"],
        sample_app,
        cli_home,
        platform_process,
    )
    assert "App is running at" in logs

    followed = mastra(
        ["studio", "deploy", "logs", deploy_id, "-f"],
        sample_app,
        cli_home,
        platform_process,
    )
    assert "Artifact accepted" in followed

    diagnosis = mastra(
        ["studio", "deploy", "diagnosis", deploy_id],
        sample_app,
        cli_home,
        platform_process,
    )
    assert "No suggestions required" in diagnosis
