"""Built apps as processes on this machine, one working folder per deploy."""

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from chalicelib.log import logger
from chalicelib.models import Deploy
from chalicelib.services.artifacts import ArtifactError, Layout, extract
from chalicelib.services.runtime import LogSink, StepFailed
from chalicelib.settings import get_settings

HEALTH_PATH = "/health"
STOP_GRACE_SECONDS = 5.0
INSTALL_COMMAND = ("npm", "ci", "--omit=dev", "--no-audit", "--no-fund")
INSTALL_FALLBACK = ("npm", "install", "--omit=dev", "--no-audit", "--no-fund")


@dataclass
class App:
    deploy_id: str
    process: subprocess.Popen[bytes]
    url: str
    running: bool = False
    stopping: bool = False
    runtime_log: Path | None = None
    readers: list[threading.Thread] = field(default_factory=list)


def state_dir() -> Path:
    return Path(os.environ.get("PLATFORM_STATE_DIR", ".local")).resolve()


class LocalRuntime:
    """Unpacks, installs and runs apps under `<state dir>/apps/<deploy>`."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = (root or state_dir()) / "apps"
        self._apps: dict[str, App] = {}
        self._lock = threading.Lock()

    def workdir(self, deploy_id: str) -> Path:
        return self.root / deploy_id

    def build(
        self, deploy: Deploy, artifact: Path, layout: Layout, log: LogSink
    ) -> None:
        folder = self.workdir(deploy.id)
        shutil.rmtree(folder, ignore_errors=True)
        try:
            app_dir = extract(artifact, folder / "src", layout)
        except ArtifactError as exc:
            raise StepFailed(str(exc)) from None
        if not (app_dir / "package.json").exists():
            log("build", "No package.json in the build output; nothing to install")
            return
        command = INSTALL_COMMAND
        if not any(
            (app_dir / lock).exists()
            for lock in ("package-lock.json", "npm-shrinkwrap.json")
        ):
            command = INSTALL_FALLBACK
        log("build", f"Installing dependencies: {' '.join(command)}")
        code = self._run(command, app_dir, log, get_settings().build_timeout_seconds)
        if code != 0:
            raise StepFailed(
                f"Dependency install failed (npm exited with code {code})."
            )
        log("build", "Dependencies installed")

    def _run(
        self, command: tuple[str, ...], cwd: Path, log: LogSink, timeout: float
    ) -> int:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=_base_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        readers = [
            _pump(process.stdout, lambda line: log("build", line)),
            _pump(process.stderr, lambda line: log("build:stderr", line)),
        ]
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            raise StepFailed(
                f"Dependency install timed out after {timeout:.0f}s."
            ) from None
        for reader in readers:
            reader.join(timeout=5)
        return code

    def start(self, deploy: Deploy, env: dict[str, str], log: LogSink) -> str:
        self.stop(deploy.id, keep_files=True)
        app_dir = self._app_dir(deploy.id)
        entry = app_dir / "index.mjs"
        if not entry.exists():
            raise StepFailed("Entry file index.mjs is missing from the build output.")
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        process = subprocess.Popen(
            ("node", "index.mjs"),
            cwd=app_dir,
            env={
                **_base_env(),
                **env,
                "PORT": str(port),
                "MASTRA_HOST": "127.0.0.1",
                "HOST": "127.0.0.1",
                "NODE_ENV": "production",
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        app = App(
            deploy.id, process, url, runtime_log=self.workdir(deploy.id) / "runtime.log"
        )
        app.readers = [
            _pump(process.stdout, lambda line: self._output(app, log, "deploy", line)),
            _pump(
                process.stderr,
                lambda line: self._output(app, log, "deploy:stderr", line),
            ),
        ]
        threading.Thread(target=self._watch, args=(app,), daemon=True).start()
        with self._lock:
            self._apps[deploy.id] = app
        log("deploy", f"Started node index.mjs on port {port} (pid {process.pid})")
        return url

    def _app_dir(self, deploy_id: str) -> Path:
        src = self.workdir(deploy_id) / "src"
        for prefix in (".mastra/output", "output"):
            if (src / prefix / "index.mjs").exists():
                return src / prefix
        raise StepFailed("The build output is missing; the build step did not finish.")

    def _output(self, app: App, log: LogSink, phase: str, line: str) -> None:
        if not app.running:
            log(phase, line)
            return
        if app.runtime_log is not None:
            level = "stderr" if phase.endswith("stderr") else "stdout"
            with app.runtime_log.open("a", encoding="utf-8") as handle:
                handle.write(f"{time.time():.3f}\t{level}\t{line}\n")

    def _watch(self, app: App) -> None:
        code = app.process.wait()
        for reader in app.readers:
            reader.join(timeout=5)
        if app.stopping or not app.running:
            return
        logger.warning("App exited", deploy_id=app.deploy_id, exit_code=code)
        from chalicelib.services import deploys

        deploys.record_crash(app.deploy_id, f"App process exited with code {code}.")

    def wait_healthy(self, deploy: Deploy, timeout: float, log: LogSink) -> None:
        with self._lock:
            app = self._apps.get(deploy.id)
        if app is None:
            raise StepFailed("The app is not running; the start step did not finish.")
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                code = app.process.poll()
                if code is not None:
                    for reader in app.readers:
                        reader.join(timeout=2)
                    raise StepFailed(f"App exited during start with code {code}.")
                try:
                    response = client.get(app.url + HEALTH_PATH)
                except httpx.HTTPError:
                    time.sleep(0.3)
                    continue
                if response.status_code < 500:
                    log("deploy", f"Health check answered {response.status_code}")
                    return
                time.sleep(0.3)
        raise StepFailed(
            f"Health check timed out after {timeout:.0f}s: the app never "
            f"answered {HEALTH_PATH}."
        )

    def mark_running(self, deploy_id: str) -> None:
        with self._lock:
            app = self._apps.get(deploy_id)
        if app is not None:
            app.running = True

    def stop(self, deploy_id: str, keep_files: bool = False) -> None:
        with self._lock:
            app = self._apps.pop(deploy_id, None)
        if app is not None:
            app.stopping = True
            _kill_group(app.process)
            logger.info("App stopped", deploy_id=deploy_id)
        if not keep_files and app is not None:
            shutil.rmtree(self.workdir(deploy_id) / "src", ignore_errors=True)

    def stop_all(self) -> None:
        with self._lock:
            ids = list(self._apps)
        for deploy_id in ids:
            self.stop(deploy_id, keep_files=True)

    def running_ids(self) -> list[str]:
        with self._lock:
            return list(self._apps)


def _base_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "TMPDIR", "npm_config_cache", "NPM_CONFIG_CACHE")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env["MASTRA_TELEMETRY_DISABLED"] = "1"
    env["NO_UPDATE_NOTIFIER"] = "1"
    return env


def _pump(stream: object, sink: object) -> threading.Thread:
    def run() -> None:
        for raw in iter(stream.readline, b""):  # type: ignore[attr-defined]
            text = raw.decode("utf-8", "replace").rstrip("\n")
            if text.strip():
                sink(text)  # type: ignore[operator]
        stream.close()  # type: ignore[attr-defined]

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
