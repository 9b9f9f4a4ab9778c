"""Where built apps run. One interface; local processes or a managed service."""

import importlib
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from chalicelib.models import Deploy
from chalicelib.services.artifacts import Layout
from chalicelib.settings import get_settings

# A sink for output lines of one phase ("build" or "deploy").
LogSink = Callable[[str, str], None]


class StepFailed(Exception):
    """A deploy step failed; the message is the deploy's `error`."""


class Runtime(Protocol):
    def build(
        self, deploy: Deploy, artifact: Path, layout: Layout, log: LogSink
    ) -> None:
        """Unpack the artifact and install its dependencies."""

    def start(self, deploy: Deploy, env: dict[str, str], log: LogSink) -> str:
        """Start the app and return its base URL (not yet known healthy)."""

    def wait_healthy(self, deploy: Deploy, timeout: float, log: LogSink) -> None:
        """Return once the app answers HTTP; raise StepFailed otherwise."""

    def mark_running(self, deploy_id: str) -> None:
        """Route the app's further output to runtime logs."""

    def stop(self, deploy_id: str) -> None:
        """Stop the app (if any) and forget its working folder."""

    def prune(self, keep: set[str]) -> list[str]:
        """Remove working state of every deploy not in `keep`; return their ids."""


@lru_cache(maxsize=1)
def get_runtime() -> Runtime:
    """The runtime named by `PLATFORM_RUNTIME` as `module:Class`."""
    module_name, _, class_name = get_settings().runtime.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls()  # type: ignore[no-any-return]


def reset_runtime() -> None:
    get_runtime.cache_clear()
