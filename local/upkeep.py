"""What keeps the local platform alive across restarts: saved state, apps
brought back up, and the timer that runs scheduled handlers, emulates
DynamoDB TTL and takes periodic snapshots."""

import os
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from chalicelib import aws
from chalicelib.log import logger
from chalicelib.models import TTL_ATTRIBUTES, Deploy
from chalicelib.services import deploy_logs, deploys, env, lifecycle
from chalicelib.services.lifecycle import Status
from chalicelib.settings import get_settings
from local import persistence
from local.workers import LambdaContext

EMULATOR_PID = "emulator.pid"


def end_stale_emulator(state: Path) -> None:
    """A platform killed with SIGKILL leaves its moto server; end it by pid."""
    try:
        pid = int((state / EMULATOR_PID).read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if b"local.moto_server" not in cmdline:
        return
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return
    for _ in range(50):
        if not Path(f"/proc/{pid}").exists():
            break
        time.sleep(0.1)
    print(f"Ended the emulator left by a previous run (pid {pid})", flush=True)


def restore(state: Path) -> bool:
    """Load the saved snapshot; a corrupt one is set aside with a warning."""
    if not persistence.exists(state):
        print(f"Warning: no saved state in {state}; starting clean", flush=True)
        return False
    try:
        persistence.load(state)
    except (persistence.CorruptState, OSError, ValueError) as exc:
        aside = persistence.set_aside(state)
        print(
            f"Warning: the saved state is unreadable ({exc}); starting clean "
            f"(moved to {aside})",
            flush=True,
        )
        return False
    print(f"Restored saved state from {state / persistence.CURRENT}", flush=True)
    return True


def recover_deploys(runtime: Any) -> list[threading.Thread]:
    """Fail deploys cut off mid-pipeline; start `running` apps again."""
    for status in (Status.BUILDING, Status.STARTING):
        for deploy in Deploy.status_index.query(status.value):
            message = "The platform stopped during this deploy; deploy again."
            try:
                lifecycle.transition(deploy.id, Status.FAILED, error=message)
            except lifecycle.IllegalTransition:
                continue
            deploy_logs.append(deploy.id, deploy_logs.DEPLOY, "error", [message])
    threads = []
    for deploy in Deploy.status_index.query(Status.RUNNING.value):
        thread = threading.Thread(target=_resume, args=(runtime, deploy), daemon=True)
        thread.start()
        threads.append(thread)
    return threads


def _resume(runtime: Any, deploy: Deploy) -> None:
    try:
        values = env.runtime_env(deploy, deploys.env_vars(deploy))
        url = runtime.resume(deploy, values)
    except Exception as exc:
        logger.warning("App not restored", deploy_id=deploy.id, reason=str(exc))
        deploys.record_crash(
            deploy.id, f"The app could not be started again after a restart: {exc}"
        )
        return
    if url != deploy.instance_url:
        deploy.update(actions=[Deploy.instance_url.set(url)])
        lifecycle.mirror_on_project(deploy)
    logger.info("App restored", deploy_id=deploy.id)


def expire_ttl_rows() -> int:
    """moto keeps rows past their TTL; delete them as DynamoDB would."""
    dynamodb = aws.client("dynamodb")
    cutoff = int(time.time())
    removed = 0
    for model, attribute in TTL_ATTRIBUTES.items():
        table = model.table_name()
        keys = [
            a.attr_name
            for a in (model._hash_key_attribute(), model._range_key_attribute())
            if a
        ]
        pages = dynamodb.get_paginator("scan").paginate(
            TableName=table,
            FilterExpression="#t < :now",
            ExpressionAttributeNames={"#t": attribute},
            ExpressionAttributeValues={":now": {"N": str(cutoff)}},
        )
        for page in pages:
            for item in page.get("Items", []):
                dynamodb.delete_item(TableName=table, Key={k: item[k] for k in keys})
                removed += 1
    return removed


def _scheduled_event() -> dict[str, Any]:
    """The event EventBridge sends a scheduled Lambda."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": get_settings().region,
        "resources": [],
        "detail": {},
    }


class Timer:
    """Runs the schedules and snapshots on their intervals, in one thread."""

    def __init__(self, state: Path, handlers: list[Any]) -> None:
        self.state = state
        self.handlers = handlers
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="timer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        settings = get_settings()
        next_sweep = time.monotonic() + min(5.0, settings.cleanup_seconds)
        next_snapshot = time.monotonic() + settings.snapshot_seconds
        while not self._stop.wait(0.5):
            current = time.monotonic()
            if current >= next_sweep:
                self.sweep()
                next_sweep = current + settings.cleanup_seconds
            if current >= next_snapshot:
                self.snapshot()
                next_snapshot = current + settings.snapshot_seconds

    def sweep(self) -> None:
        for handler in self.handlers:
            try:
                handler(_scheduled_event(), LambdaContext("schedule"))
            except Exception:
                logger.exception("Scheduled handler failed")
        try:
            expire_ttl_rows()
        except Exception:
            logger.exception("TTL sweep failed")

    def snapshot(self) -> None:
        try:
            persistence.save(self.state)
        except Exception:
            logger.exception("Snapshot failed")
