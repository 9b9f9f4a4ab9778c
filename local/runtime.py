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
from pynamodb.exceptions import DoesNotExist

from chalicelib.log import logger
from chalicelib.models import Deploy, Project
from chalicelib.services import runtime_logs
from chalicelib.services.artifacts import ArtifactError, Layout, extract
from chalicelib.services.runtime import LogSink, StepFailed
from chalicelib.settings import get_settings
from local.wake import WakeProxy

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
    # Kept to wake it again after an idle stop.
    env: dict[str, str] = field(default_factory=dict)
    app_dir: Path | None = None
    project_id: str = ""
    proxy: WakeProxy | None = None
    asleep: bool = False
    last_active: float = field(default_factory=time.monotonic)
    wake_lock: threading.Lock = field(default_factory=threading.Lock)


def state_dir() -> Path:
    return Path(os.environ.get("PLATFORM_STATE_DIR", ".local")).resolve()


class LocalRuntime:
    """Unpacks, installs and runs apps under `<state dir>/apps/<deploy>`."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = (root or state_dir()) / "apps"
        self._apps: dict[str, App] = {}
        self._builds: dict[str, subprocess.Popen[bytes]] = {}
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
        deploy_id = cwd.relative_to(self.root).parts[0]
        with self._lock:
            self._builds[deploy_id] = process
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
        finally:
            with self._lock:
                self._builds.pop(deploy_id, None)
        for reader in readers:
            reader.join(timeout=5)
        return code

    def start(self, deploy: Deploy, env: dict[str, str], log: LogSink) -> str:
        """Run the app behind a stable wake-up proxy; return the proxy's URL."""
        self.stop(deploy.id, keep_files=True)
        app_dir = self._app_dir(deploy.id)
        entry = app_dir / "index.mjs"
        if not entry.exists():
            raise StepFailed("Entry file index.mjs is missing from the build output.")
        _kill_stale(self.workdir(deploy.id) / "app.pid")
        app = App(
            deploy.id,
            None,  # type: ignore[arg-type]
            "",
            env=dict(env),
            app_dir=app_dir,
            project_id=deploy.project_id,
        )
        self._spawn(app, log)
        app.proxy = WakeProxy(
            lambda: self.wake(deploy.id),
            lambda: self._touch(deploy.id),
            _port_of(deploy.instance_url),
        )
        with self._lock:
            self._apps[deploy.id] = app
        self._start_reaper()
        return app.proxy.url

    def _spawn(self, app: App, log: LogSink) -> None:
        port = _free_port()
        app.url = f"http://127.0.0.1:{port}"
        process = subprocess.Popen(
            ("node", "index.mjs"),
            cwd=app.app_dir,
            env={
                **_base_env(),
                **app.env,
                "PORT": str(port),
                "MASTRA_HOST": "127.0.0.1",
                "HOST": "127.0.0.1",
                "NODE_ENV": "production",
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        app.process = process
        app.asleep = False
        app.last_active = time.monotonic()
        (self.workdir(app.deploy_id) / "app.pid").write_text(str(process.pid))
        readers = [
            _pump(process.stdout, lambda line: self._output(app, log, "deploy", line)),
            _pump(
                process.stderr,
                lambda line: self._output(app, log, "deploy:stderr", line),
            ),
        ]
        app.readers = readers
        threading.Thread(
            target=self._watch, args=(app, process, readers), daemon=True
        ).start()
        log("deploy", f"Started node index.mjs on port {port} (pid {process.pid})")

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
        stream = "stderr" if phase.endswith("stderr") else "stdout"
        runtime_logs.append(app.deploy_id, stream, line)

    def _watch(
        self,
        app: App,
        process: subprocess.Popen[bytes],
        readers: list[threading.Thread],
    ) -> None:
        code = process.wait()
        for reader in readers:
            reader.join(timeout=5)
        if app.stopping or not app.running or app.process is not process:
            return
        if app.asleep:
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
            build = self._builds.pop(deploy_id, None)
        if build is not None:
            # A cancel during the install ends npm too, not just the record.
            _kill_group(build)
            logger.info("Build stopped", deploy_id=deploy_id)
        if app is not None:
            app.stopping = True
            if app.proxy is not None:
                app.proxy.close()
            _kill_group(app.process)
            (self.workdir(deploy_id) / "app.pid").unlink(missing_ok=True)
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

    # Idle stop and wake-up (always-on off), restore after a restart, pruning.

    def _touch(self, deploy_id: str) -> None:
        with self._lock:
            app = self._apps.get(deploy_id)
        if app is not None:
            app.last_active = time.monotonic()

    def wake(self, deploy_id: str) -> tuple[str, int] | None:
        """The app's internal address, starting it first if it sleeps."""
        with self._lock:
            app = self._apps.get(deploy_id)
        if app is None or app.stopping:
            return None
        with app.wake_lock:
            if app.asleep:
                logger.info("App waking", deploy_id=deploy_id)
                self._spawn(
                    app, lambda phase, line: self._output(app, _drop, phase, line)
                )
                if not _wait_port(app, get_settings().start_timeout_seconds):
                    return None
                runtime_logs.append(
                    deploy_id, "stdout", "[platform] woken by a request"
                )
        host, _, port = app.url.removeprefix("http://").partition(":")
        return host, int(port)

    def sleep(self, deploy_id: str) -> bool:
        """Stop the process but keep the proxy; the next request wakes it."""
        with self._lock:
            app = self._apps.get(deploy_id)
        if app is None or app.asleep or not app.running:
            return False
        with app.wake_lock:
            app.asleep = True
            _kill_group(app.process)
            (self.workdir(deploy_id) / "app.pid").unlink(missing_ok=True)
        runtime_logs.append(deploy_id, "stdout", "[platform] stopped while idle")
        logger.info("App asleep", deploy_id=deploy_id)
        return True

    def _start_reaper(self) -> None:
        with self._lock:
            if getattr(self, "_reaper", None) is not None:
                return
            self._reaper = threading.Thread(target=self._reap, daemon=True)
        self._reaper.start()

    def _reap(self) -> None:
        while True:
            time.sleep(1.0)
            try:
                self.reap_idle()
            except Exception:
                logger.exception("Idle check failed")

    def reap_idle(self) -> list[str]:
        """Put to sleep every app idle past the limit whose project allows it."""
        limit = get_settings().idle_stop_seconds
        with self._lock:
            apps = list(self._apps.values())
        slept = []
        for app in apps:
            if app.asleep or not app.running:
                continue
            if time.monotonic() - app.last_active < limit:
                continue
            try:
                always_on = Project.get(app.project_id).always_on
            except DoesNotExist:
                continue
            if not always_on and self.sleep(app.deploy_id):
                slept.append(app.deploy_id)
        return slept

    def is_asleep(self, deploy_id: str) -> bool:
        with self._lock:
            app = self._apps.get(deploy_id)
        return bool(app and app.asleep)

    def resume(self, deploy: Deploy, env: dict[str, str]) -> str:
        """Bring a `running` deploy back after a platform restart."""

        def log(phase: str, line: str) -> None:
            stream = "stderr" if phase.endswith("stderr") else "stdout"
            runtime_logs.append(deploy.id, stream, line)

        url = self.start(deploy, env, log)
        self.wait_healthy(deploy, get_settings().start_timeout_seconds, log)
        self.mark_running(deploy.id)
        return url

    def prune(self, keep: set[str]) -> list[str]:
        if not self.root.exists():
            return []
        gone = []
        for folder in sorted(self.root.iterdir()):
            if folder.name in keep or not folder.is_dir():
                continue
            self.stop(folder.name)
            _kill_stale(folder / "app.pid")
            shutil.rmtree(folder, ignore_errors=True)
            gone.append(folder.name)
        return gone


def _base_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "TMPDIR", "npm_config_cache", "NPM_CONFIG_CACHE")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env["MASTRA_TELEMETRY_DISABLED"] = "1"
    env["NO_UPDATE_NOTIFIER"] = "1"
    return env


def _pump(stream: object, sink: object) -> threading.Thread:
    def run() -> None:
        # Keep draining even if a write fails, or the child blocks on a full pipe.
        for raw in iter(stream.readline, b""):  # type: ignore[attr-defined]
            text = raw.decode("utf-8", "replace").rstrip("\n")
            if not text.strip():
                continue
            try:
                sink(text)  # type: ignore[operator]
            except Exception:
                logger.exception("Log line dropped")
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


def _drop(phase: str, line: str) -> None:
    return None


def _port_of(url: str | None) -> int | None:
    if not url or not url.startswith("http://127.0.0.1:"):
        return None
    tail = url.removeprefix("http://127.0.0.1:").split("/")[0]
    return int(tail) if tail.isdigit() else None


def _wait_port(app: App, timeout: float) -> bool:
    host, _, port = app.url.removeprefix("http://").partition(":")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if app.process.poll() is not None:
            return False
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((host, int(port))) == 0:
                return True
        time.sleep(0.1)
    return False


def _kill_stale(pid_file: Path) -> None:
    """End an app process left by a platform that was killed (its own pid)."""
    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if b"index.mjs" not in cmdline:
        return
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return
    logger.warning("Stale app process ended", pid=pid)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
