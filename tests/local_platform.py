"""Start `python -m local run` as a real process, the way the README does."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningPlatform:
    url: str
    token: str
    org_id: str
    state_dir: Path
    output: list[str]
    pid: int

    def env(self) -> dict[str, str]:
        return {
            "MASTRA_PLATFORM_API_URL": self.url,
            "MASTRA_API_TOKEN": self.token,
            "MASTRA_ORG_ID": self.org_id,
        }

    def headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.token}",
            "x-organization-id": self.org_id,
        }


@contextmanager
def local_platform(
    state_dir: Path, extra_env: dict[str, str] | None = None, timeout: float = 90
) -> Iterator[RunningPlatform]:
    """Run the platform until the block ends, then stop it by its own pid."""
    port, emulator_port = free_port(), free_port()
    # Only what a newcomer's shell would have: no settings leaked by other tests.
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PLATFORM_", "AWS_", "GATEWAY_"))
    }
    env = {
        **inherited,
        "PLATFORM_PORT": str(port),
        "PLATFORM_EMULATOR_PORT": str(emulator_port),
        "PLATFORM_STATE_DIR": str(state_dir),
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        env.pop(name, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "local", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    exports: dict[str, str] = {}
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line.rstrip("\n"))
            if line.startswith("export "):
                name, _, value = line[len("export ") :].strip().partition("=")
                exports[name] = value
                if name == "MASTRA_ORG_ID":
                    ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + timeout
        while not ready.wait(0.2):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("platform did not start:\n" + "\n".join(output))
        yield RunningPlatform(
            exports["MASTRA_PLATFORM_API_URL"],
            exports["MASTRA_API_TOKEN"],
            exports["MASTRA_ORG_ID"],
            state_dir,
            output,
            process.pid,
        )
    finally:
        stop(process, state_dir)
        reader.join(timeout=5)


def end_group(
    process: subprocess.Popen, sig: int = signal.SIGINT, timeout: float = 20
) -> None:
    """Signal the process group `process` leads (started in a session of
    its own), wait `timeout` seconds, then kill the group."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def stop(process: subprocess.Popen[str], state_dir: Path | None = None) -> None:
    """Stop the platform; if it had to be killed, end what it started too."""
    end_group(process, timeout=90)
    if state_dir is not None:
        # The emulator and the apps run in sessions of their own; after a hard
        # kill they would outlive the platform. Their pids are on disk.
        for pid_file in [state_dir / "emulator.pid", *state_dir.glob("apps/*/app.pid")]:
            _end(pid_file)


def _end(pid_file: Path) -> None:
    try:
        pid = int(pid_file.read_text().strip())
        # A pid file can outlive its process; only end the one it names.
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if b"moto_server" not in command and b"index.mjs" not in command:
        return
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return
