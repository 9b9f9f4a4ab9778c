"""Fakes with the real interfaces, for tests that must not start processes."""

import shutil
from collections.abc import Callable
from pathlib import Path

from chalicelib.models import Deploy
from chalicelib.services.artifacts import Layout, extract
from chalicelib.services.runtime import LogSink, StepFailed


class FakeRuntime:
    """Unpacks like the real runtime, then pretends to run the app.

    Class attributes steer it, so a test can make a step fail.
    """

    fail_build: str | None = None
    fail_health: str | None = None
    # Called with the deploy while the build runs (to race a cancel against it).
    during_build: Callable[[Deploy], None] | None = None
    started: list[str] = []  # noqa: RUF012 - shared on purpose, reset per test
    stopped: list[str] = []  # noqa: RUF012

    def __init__(self) -> None:
        self.root = Path("/tmp/mastra-fake-runtime")

    def build(
        self, deploy: Deploy, artifact: Path, layout: Layout, log: LogSink
    ) -> None:
        extract(artifact, self.root / deploy.id, layout)
        log("build", "fake install done")
        hook = FakeRuntime.during_build
        if hook is not None:
            hook(deploy)
        if self.fail_build:
            raise StepFailed(self.fail_build)

    def start(self, deploy: Deploy, env: dict[str, str], log: LogSink) -> str:
        self.started.append(deploy.id)
        log("deploy", f"fake start with {sorted(env)}")
        return f"http://127.0.0.1:9/{deploy.id}"

    def wait_healthy(self, deploy: Deploy, timeout: float, log: LogSink) -> None:
        if self.fail_health:
            raise StepFailed(self.fail_health)

    def mark_running(self, deploy_id: str) -> None:
        return None

    def stop(self, deploy_id: str) -> None:
        self.stopped.append(deploy_id)

    def prune(self, keep: set[str]) -> list[str]:
        if not self.root.exists():
            return []
        gone = sorted(p.name for p in self.root.iterdir() if p.name not in keep)
        for name in gone:
            shutil.rmtree(self.root / name, ignore_errors=True)
        return gone
