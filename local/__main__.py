"""`python -m local run`: the whole platform on loopback, with moto as AWS."""

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path

import uvicorn

from local import seed, upkeep
from local.emulator import Emulator, provision


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m local")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start the platform on loopback")
    run.add_argument(
        "--port", type=int, default=int(os.environ.get("PLATFORM_PORT", "7700"))
    )
    run.add_argument(
        "--emulator-port",
        type=int,
        default=int(os.environ.get("PLATFORM_EMULATOR_PORT", "7701")),
    )
    run.add_argument(
        "--state-dir", default=os.environ.get("PLATFORM_STATE_DIR", ".local")
    )
    args = parser.parse_args()
    return serve(args.port, args.emulator_port, Path(args.state_dir).resolve())


# SIGINT or SIGTERM to the pid in this file stops everything, as Ctrl-C does.
PLATFORM_PID = "platform.pid"


def serve(port: int, emulator_port: int, state: Path) -> int:
    state.mkdir(parents=True, exist_ok=True)
    upkeep.end_stale_emulator(state)
    os.environ["PLATFORM_KMS_MASTER_FILE"] = str(state / "kms-master.json")
    emulator = Emulator(emulator_port, state / "emulator.log")
    print(f"Starting the AWS emulator (moto) on 127.0.0.1:{emulator_port}", flush=True)
    emulator.start()
    (state / upkeep.EMULATOR_PID).write_text(str(emulator.pid))
    timer = None
    runtime = None
    workers = []
    server = None
    try:
        os.environ.update(provision(emulator.url, "local"))
        os.environ["PLATFORM_STATE_DIR"] = str(state)
        os.environ.setdefault("PLATFORM_RUNTIME", "local.runtime:LocalRuntime")
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
        upkeep.restore(state)

        identity = seed.load_or_create(state / "identity.json")
        seed.ensure(identity)

        import app as platform
        from chalicelib.events import steps, uploads
        from chalicelib.services.runtime import get_runtime
        from local.front import create_front
        from local.workers import QueueWorker

        runtime = get_runtime()
        workers = [
            QueueWorker(
                "uploads",
                os.environ["PLATFORM_UPLOAD_QUEUE_URL"],
                uploads.on_artifact_uploaded,
                2,
            ),
            QueueWorker(
                "steps", os.environ["PLATFORM_STEP_QUEUE_URL"], steps.on_deploy_step, 4
            ),
        ]
        for worker in workers:
            worker.start()

        config = uvicorn.Config(
            create_front(platform.app),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"The API server could not listen on port {port}.")
            time.sleep(0.05)

        from chalicelib.events import schedules

        upkeep.recover_deploys(runtime)
        timer = upkeep.Timer(state, [schedules.sweep, schedules.check_domains])
        timer.start()
        print(f"Platform pid {os.getpid()}", flush=True)
        (state / PLATFORM_PID).write_text(str(os.getpid()))
        _announce(port, identity, state)
        stop = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        stop.wait()
        print("Stopping the platform", flush=True)
        return 0
    finally:
        if server is not None:
            server.should_exit = True
            thread.join(timeout=30)
            # Request records still queued go out before moto stops.
            from chalicelib.services.gateway import writer

            writer.close()
        for worker in workers:
            worker.stop()
        if timer is not None:
            timer.stop()
            timer.snapshot()
        if runtime is not None:
            runtime.stop_all()  # type: ignore[attr-defined]
        emulator.stop()
        (state / upkeep.EMULATOR_PID).unlink(missing_ok=True)
        (state / PLATFORM_PID).unlink(missing_ok=True)


def _announce(port: int, identity: seed.Identity, state: Path) -> None:
    lines = [
        f"export MASTRA_PLATFORM_API_URL=http://127.0.0.1:{port}",
        f"export MASTRA_API_TOKEN={identity.token}",
        f"export MASTRA_ORG_ID={identity.org_id}",
        # @mastra/core strips a trailing /v1 and appends its own.
        f"export MASTRA_GATEWAY_URL=http://127.0.0.1:{port}",
        # The CLI's "Full log" links and the web dashboard.
        f"export MASTRA_PROJECTS_URL=http://127.0.0.1:{port}/dashboard",
    ]
    env_file = state / "platform.env"
    env_file.touch(mode=0o600)
    env_file.write_text("\n".join(lines) + "\n")
    print(f"Mastra platform ready on http://127.0.0.1:{port}", flush=True)
    print(
        f"(these lines are also in {env_file}; `source` it in another shell)",
        flush=True,
    )
    for line in lines:
        print(line, flush=True)
    print(
        f"Sign in with `mastra auth login` as {identity.email}; the password is "
        f"in {state / 'identity.json'} (set PLATFORM_ADMIN_PASSWORD to choose it).",
        flush=True,
    )
    print("Press Ctrl-C to stop.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
