"""The sample Mastra app, installed and built, and a platform to deploy to."""

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.local_platform import ROOT, RunningPlatform, local_platform

SAMPLE = ROOT / "examples" / "sample-agent"
ANSI = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]")
NPM_FLAGS = ("--no-audit", "--no-fund", "--prefer-offline")


def node_env(home: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "HOME": str(home),
        "CI": "1",
        "NO_COLOR": "1",
        "MASTRA_TELEMETRY_DISABLED": "1",
        "NO_UPDATE_NOTIFIER": "1",
    }
    # npm keeps its download cache where the machine keeps it between runs.
    env.setdefault("npm_config_cache", str(Path.home() / ".npm"))
    for name in ("MASTRA_PROJECT_ID", "MASTRA_API_TOKEN", "MASTRA_ORG_ID"):
        env.pop(name, None)
    return env


def run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float) -> str:
    done = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    output = ANSI.sub("", done.stdout + done.stderr)
    assert done.returncode == 0, f"{' '.join(cmd)} exited {done.returncode}:\n{output}"
    return output


@pytest.fixture(scope="session")
def cli_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(tmp_path_factory.mktemp("cli-home"))


@pytest.fixture(scope="session")
def sample_app(tmp_path_factory: pytest.TempPathFactory, cli_home: Path) -> Path:
    """A copy of examples/sample-agent with the pinned CLI installed from npm."""
    app = Path(tmp_path_factory.mktemp("apps")) / "sample-agent"
    shutil.copytree(
        SAMPLE,
        app,
        ignore=shutil.ignore_patterns(
            "node_modules", ".mastra", ".mastra-project.json"
        ),
    )
    env = node_env(cli_home)
    run(["npm", "ci", *NPM_FLAGS], app, env, timeout=600)
    version = run(["npx", "--no-install", "mastra", "--version"], app, env, timeout=120)
    assert "1.31.0" in version
    run(["npx", "--no-install", "mastra", "build"], app, env, timeout=600)
    assert (app / ".mastra" / "output" / "index.mjs").exists()
    return app


@pytest.fixture(scope="session")
def platform_process(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningPlatform]:
    state = Path(tmp_path_factory.mktemp("e2e-state"))
    with local_platform(state) as platform:
        yield platform


class Deployments:
    """Runs `mastra <product> deploy` once per product and remembers it."""

    def __init__(self, app: Path, home: Path, platform: RunningPlatform) -> None:
        self.app, self.home, self.platform = app, home, platform
        self._done: dict[str, tuple[str, str]] = {}

    def get(self, product: str) -> tuple[str, str]:
        """(project id, CLI output) of a finished deploy of `product`."""
        if product not in self._done:
            project_id = self._project(product)
            workdir = self.app.parent / f"{self.app.name}-{product}"
            if not workdir.exists():
                shutil.copytree(self.app, workdir, symlinks=True)
            env = {
                **node_env(self.home),
                **self.platform.env(),
                "MASTRA_PROJECT_ID": project_id,
            }
            output = run(
                ["npx", "--no-install", "mastra", product, "deploy", "--yes"],
                workdir,
                env,
                timeout=900,
            )
            self._done[product] = (project_id, output)
        return self._done[product]

    def _project(self, product: str) -> str:
        response = httpx.post(
            f"{self.platform.url}/v1/{product}/projects",
            headers=self.platform.headers(),
            json={"name": f"sample {product}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return str(response.json()["project"]["id"])


@pytest.fixture(scope="session")
def deployments(
    sample_app: Path, cli_home: Path, platform_process: RunningPlatform
) -> Deployments:
    return Deployments(sample_app, cli_home, platform_process)
