"""One running local platform (moto server, API, workers) for the module."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.local_platform import RunningPlatform, local_platform

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    state = Path(tmp_path_factory.mktemp("platform-state"))
    with local_platform(state, {"PLATFORM_START_TIMEOUT_SECONDS": "8"}) as platform:
        yield platform
