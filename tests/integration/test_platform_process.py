"""`python -m local run` as a process: how another shell finds and stops it."""

import os
import signal
import time
from pathlib import Path

import pytest

from tests.local_platform import local_platform

pytestmark = pytest.mark.integration


def test_sigint_to_the_pid_in_platform_pid_stops_the_platform(tmp_path: Path):
    with local_platform(tmp_path) as platform:
        pid_file = tmp_path / "platform.pid"
        assert int(pid_file.read_text()) == platform.pid
        emulator = int((tmp_path / "emulator.pid").read_text())

        os.kill(platform.pid, signal.SIGINT)
        deadline = time.monotonic() + 90
        while pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)

        assert not pid_file.exists()
        assert not (tmp_path / "emulator.pid").exists()
        with pytest.raises(ProcessLookupError):
            os.kill(emulator, 0)
