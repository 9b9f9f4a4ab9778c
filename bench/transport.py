"""What the API costs: import time, DynamoDB calls, list latency, deploy and SSE delay.

`make bench` runs this once and rewrites the `## API cost` section of
bench/README.md (other sections are kept). Everything runs on this machine
against in-process moto (the DynamoDB counts are exact; the times are
moto's, not DynamoDB's, so read them as ratios).
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HEADING = "## API cost"
sys.path.insert(0, str(ROOT))

from bench.readme import write_section  # noqa: E402

CALLS: Counter[str] = Counter()


def _count(model: Any = None, **_: Any) -> None:
    if model is not None:
        CALLS[model.name] += 1


def cold_import(runs: int = 5) -> tuple[float, float]:
    """Median seconds for `import app` vs a bare Chalice app with boto3."""

    def median(code: str) -> float:
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    bare = median("import boto3, chalice; chalice.Chalice(app_name='bare')")
    ours = median("import app")
    return ours, bare


@contextmanager
def platform() -> Iterator[tuple[Any, Any]]:
    """In-process moto with every resource, a seeded admin and a test client."""
    import botocore.session
    import pynamodb.connection.base as pynamo_base
    from chalice.test import Client
    from moto import mock_aws

    from local.emulator import FAKE_CREDENTIALS, provision

    os.environ.update(FAKE_CREDENTIALS)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    original = pynamo_base.get_session

    def hooked() -> Any:
        session = original()
        session.register("before-call.dynamodb", _count)
        return session

    pynamo_base.get_session = hooked
    with mock_aws():
        import boto3

        boto3.setup_default_session()
        boto3.DEFAULT_SESSION._session.register("before-call.dynamodb", _count)  # type: ignore[union-attr]
        os.environ.update(provision(None, "bench"))
        os.environ["PLATFORM_RUNTIME"] = "tests.fakes:FakeRuntime"
        from chalicelib.aws import reset_clients
        from chalicelib.settings import reset_settings
        from local import seed

        reset_settings()
        reset_clients()
        identity = seed.load_or_create(Path(tempfile.mkdtemp()) / "identity.json")
        seed.ensure(identity)
        import app
        from tests.conftest import Caller

        caller = Caller(identity.org_id, identity.user_id, identity.token)
        with Client(app.app) as client:
            yield client, caller
    pynamo_base.get_session = original
    del botocore


def calls_of(action: Callable[..., Any], *args: Any, **kwargs: Any) -> Counter[str]:
    CALLS.clear()
    action(*args, **kwargs)
    return Counter(CALLS)


# Route, and the fewest DynamoDB calls its access pattern needs: every
# authenticated call reads its token and the caller's membership (2).
ROUTES: list[tuple[str, str, str, int, str]] = [
    ("GET", "/v1/auth/verify", "", 3, "token, membership, user"),
    ("GET", "/v1/auth/tokens", "", 3, "token, membership, org-index query"),
    ("POST", "/v1/auth/tokens", '{"name":"b"}', 4, "+ put token, put audit"),
    ("GET", "/v1/studio/projects", "", 3, "+ org query"),
    (
        "POST",
        "/v1/studio/projects",
        '{"name":"B"}',
        4,
        "+ transaction (name claim, project)",
    ),
    ("GET", "/v1/org/members", "", 4, "+ org members query, batch-get users"),
    ("GET", "/v1/org/audit?limit=100", "", 3, "+ org query"),
]


def dynamodb_table(client: Any, caller: Any) -> list[str]:
    rows = [
        "| route | DynamoDB calls (by operation) | minimum | what the minimum is |",
        "| --- | --- | --- | --- |",
    ]
    scans = 0
    for method, path, payload, minimum, why in ROUTES:
        headers = caller.json_headers() if payload else caller.headers()
        counted = calls_of(
            client.http.request,
            method,
            path,
            headers=headers,
            body=payload.encode() or b"",
        )
        scans += counted.get("Scan", 0)
        total = sum(counted.values())
        detail = ", ".join(f"{n} {op}" for op, n in sorted(counted.items()))
        rows.append(f"| `{method} {path}` | {total}: {detail} | {minimum} | {why} |")
    rows.append("")
    rows.append(f"Scans across these routes: **{scans}**.")
    return rows


def list_latency(client: Any, caller: Any) -> tuple[float, float]:
    """Median seconds of a runtime-log page (limit 100) at 10 and 10,000 lines."""
    from chalicelib.models import Deploy, RuntimeLog
    from tests.functional.helpers import running_deploy

    deploy_id = running_deploy(client, caller, "server")
    project_id = Deploy.get(deploy_id).project_id
    path = f"/v1/server/projects/{project_id}/runtime-logs?limit=100"

    def write(start: int, count: int) -> None:
        with RuntimeLog.batch_write() as batch:
            for seq in range(start, start + count):
                batch.save(
                    RuntimeLog(
                        deploy_id,
                        seq,
                        severity="info",
                        message=f"line {seq}",
                        logged_at=datetime.now(UTC),
                    )
                )
        RuntimeLog(deploy_id, 0, next_seq=start + count).save()

    def median_get() -> float:
        times = []
        for _ in range(15):
            start = time.perf_counter()
            assert client.http.get(path, headers=caller.headers()).status_code == 200
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    write(1, 10)
    small = median_get()
    write(11, 9990)
    return small, median_get()


def deploy_to_running(client: Any, caller: Any) -> float:
    """upload-complete to `running` through every step (fake runtime: no install)."""
    from tests.functional.helpers import (
        SERVER_ZIP,
        create_deploy,
        create_project,
        put_artifact,
        run_steps,
        upload_complete,
        zip_bytes,
    )

    project_id = create_project(client, caller, "server", "Bench")
    deploy_id = str(create_deploy(client, caller, "server", project_id)["id"])
    put_artifact(deploy_id, zip_bytes(SERVER_ZIP))
    start = time.perf_counter()
    assert upload_complete(client, caller, "server", deploy_id).status_code == 200
    run_steps(deploy_id)
    elapsed = time.perf_counter() - start
    status = json.loads(
        client.http.get(
            f"/v1/server/deploys/{deploy_id}", headers=caller.headers()
        ).body
    )["status"]
    assert status == "running", status
    return elapsed


def sse_delay(client: Any, caller: Any, lines: int = 20) -> list[float]:
    """Seconds from deploy_logs.append to the line arriving over SSE."""
    import httpx
    import uvicorn
    from httpx_sse import connect_sse

    from chalicelib.services import deploy_logs
    from chalicelib.streaming import create_app
    from tests.functional.helpers import create_deploy, create_project
    from tests.local_platform import free_port

    project_id = create_project(client, caller, "studio", "Sse")
    deploy_id = str(create_deploy(client, caller, "studio", project_id)["id"])
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    sent: dict[str, float] = {}
    delays: list[float] = []

    def writer() -> None:
        time.sleep(0.5)
        for index in range(lines):
            text = f"bench line {index}"
            sent[text] = time.perf_counter()
            deploy_logs.append(deploy_id, "build", "info", [text])
            time.sleep(0.1)

    threading.Thread(target=writer, daemon=True).start()
    url = f"http://127.0.0.1:{port}/v1/studio/deploys/{deploy_id}/logs/stream"
    with (
        httpx.Client(timeout=30) as http,
        connect_sse(http, "GET", url, headers=caller.headers()) as source,
    ):
        for event in source.iter_sse():
            for text, at in sent.items():
                if text in event.data:
                    delays.append(time.perf_counter() - at)
            if len(delays) >= lines:
                break
    server.should_exit = True
    thread.join(timeout=10)
    return delays


def main() -> None:
    ours, bare = cold_import()
    with platform() as (client, caller):
        table = dynamodb_table(client, caller)
        small, large = list_latency(client, caller)
        deploy = deploy_to_running(client, caller)
        delays = sse_delay(client, caller)
    from chalicelib.settings import get_settings

    poll = get_settings().sse_poll_seconds
    today = datetime.now(UTC).date().isoformat()
    lines = [
        HEADING,
        "",
        f"`make bench` (bench/transport.py) measured this on {today}, Python "
        f"{sys.version.split()[0]}, against in-process moto.",
        "",
        "| what | result |",
        "| --- | --- |",
        f"| cold `import app` vs bare Chalice + boto3 (median of 5) | "
        f"{ours * 1000:.0f} ms vs {bare * 1000:.0f} ms: **{ours / bare:.1f}x** |",
        f"| runtime-log page (limit 100) at 10 vs 10,000 lines (median of 15) | "
        f"{small * 1000:.1f} ms vs {large * 1000:.1f} ms: **{large / small:.2f}x** |",
        f"| upload-complete to `running`, sample server app, fake runtime "
        f"(no dependency install, no app boot) | {deploy * 1000:.0f} ms |",
        f"| SSE: log line written to line received ({len(delays)} lines, poll "
        f"{poll} s) | median {statistics.median(delays) * 1000:.0f} ms, max "
        f"{max(delays) * 1000:.0f} ms |",
        "",
        "DynamoDB calls per route, counted by a botocore `before-call` hook on "
        "PynamoDB's and boto3's sessions:",
        "",
        *table,
        "",
    ]
    write_section(HEADING, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
