"""Gateway usage reads at 100 and 100,000 request records.

    .venv/bin/python -m bench.usage_reads [--large 100000] [--repeat 20]
        [--emulator dynalite|moto]

By default the tables live in dynalite (npm, pure JS, in memory), started
here as a child process on a free loopback port and installed on first use
into bench/.dynalite with a pinned version: it answers a Query from the
partition's own key range, as DynamoDB does, where in-process moto sorts
every item of the table on each Query page. The tables are created from the
PynamoDB models (`infra.definitions.table_specs`), and the services reach
them through the settings (`AWS_ENDPOINT_URL`, `PLATFORM_TABLE_PREFIX`).

Records are spread over 30 days across three models, two keys, two
endpoints and a few statuses; the hourly counters hold what the proxy's
writer adds for them (summed here and put once, which is what ADDs on an
empty table amount to: dynalite has no TransactWriteItems). Times the
services behind `usage/activity` and `usage/logs` (page 1, 50 rows), p50
over `--repeat` runs, and counts the DynamoDB items each read examines (the
sum of ScannedCount over its Query pages, per table), which does not depend
on the emulator.
"""

import argparse
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from local.emulator import FAKE_CREDENTIALS  # noqa: E402
from tests.local_platform import end_group  # noqa: E402

DYNALITE = "dynalite@4.0.0"
DYNALITE_DIR = ROOT / "bench" / ".dynalite"
START = datetime(2025, 3, 1, tzinfo=UTC)
DAYS = 30
MODELS = [
    ("openai/gpt-4o-mini", "openai"),
    ("openai/gpt-4o", "openai"),
    ("anthropic/claude-haiku-4-5", "anthropic"),
]
SETTINGS = {
    "PLATFORM_STAGE": "bench",
    "PLATFORM_TABLE_PREFIX": "bench-usage-",
    "PLATFORM_ARTIFACT_BUCKET": "unused",
    "PLATFORM_STEP_QUEUE_URL": "unused",
    "PLATFORM_STATE_MACHINE_ARN": "unused",
    "PLATFORM_KMS_KEY_ID": "unused",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}


def dynalite_cli() -> Path:
    """dynalite's CLI, installed with npm (own cache) on first use."""
    cli = DYNALITE_DIR / "node_modules" / "dynalite" / "cli.js"
    stamp = DYNALITE_DIR / f".installed-{DYNALITE}"
    if not stamp.exists():
        print(f"Installing {DYNALITE} into {DYNALITE_DIR}", flush=True)
        DYNALITE_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "npm",
                "install",
                "--no-audit",
                "--no-fund",
                "--no-save",
                "--cache",
                str(DYNALITE_DIR / ".npm-cache"),
                "--prefix",
                str(DYNALITE_DIR),
                DYNALITE,
            ],
            check=True,
        )
        stamp.touch()
    return cli


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def dynalite() -> Iterator[str]:
    """A dynalite server on loopback in its own process group, stopped by pid."""
    cli = dynalite_cli()
    port = _free_port()
    log = (DYNALITE_DIR / "dynalite.log").open("w")
    process = subprocess.Popen(
        [
            *("node", str(cli), "--host", "127.0.0.1", "--port", str(port)),
            *("--createTableMs", "0", "--updateTableMs", "0"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"dynalite exited; see {log.name}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("dynalite did not start in 30 s")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        end_group(process, signal.SIGTERM, timeout=10)
        log.close()


def create_tables(endpoint: str | None) -> None:
    """The gateway tables, keys and indexes as the models define them."""
    import boto3

    from chalicelib.models import (
        GatewayKey,
        GatewayProject,
        GatewayRequest,
        GatewayUsage,
    )
    from chalicelib.settings import get_settings
    from infra.definitions import table_specs

    wanted = {GatewayKey, GatewayProject, GatewayRequest, GatewayUsage}
    client = boto3.client("dynamodb", endpoint_url=endpoint)
    prefix = get_settings().table_prefix
    for model, schema, _ttl in table_specs():
        if model not in wanted:
            continue
        request: dict[str, Any] = {
            "TableName": prefix + model.Meta.base_name,
            "KeySchema": _hash_first(schema["key_schema"]),
            "AttributeDefinitions": schema["attribute_definitions"],
            "BillingMode": "PAY_PER_REQUEST",
        }
        indexes = [
            {
                "IndexName": index["index_name"],
                "KeySchema": _hash_first(index["key_schema"]),
                "Projection": index["projection"],
            }
            for index in schema.get("global_secondary_indexes", [])
        ]
        if indexes:
            request["GlobalSecondaryIndexes"] = indexes
        client.create_table(**request)
        client.get_waiter("table_exists").wait(TableName=request["TableName"])


def _hash_first(schema: list[dict[str, str]]) -> list[dict[str, str]]:
    # PynamoDB may list the range key first; DynamoDB wants the hash key first.
    return sorted(schema, key=lambda k: k["KeyType"] != "HASH")


def _outcomes(contexts: list[Any], count: int) -> list[tuple[Any, Any]]:
    from chalicelib.services.gateway import records

    rng = random.Random(9)
    made = []
    for index in range(count):
        model, provider = rng.choices(MODELS, weights=[6, 3, 1])[0]
        status = rng.choices([200, 429, 500], weights=[95, 3, 2])[0]
        made.append(
            (
                rng.choice(contexts),
                records.Outcome(
                    request_id=f"req_{index:07d}",
                    endpoint=rng.choices(
                        ["/v1/chat/completions", "/v1/messages"], weights=[4, 1]
                    )[0],
                    started_at=START + timedelta(seconds=rng.randrange(DAYS * 86400)),
                    is_stream=rng.random() < 0.7,
                    model=model,
                    provider=provider,
                    status_code=status,
                    usage=records.Usage(rng.randint(10, 900), rng.randint(5, 400)),
                    cost_nanos=rng.randint(0, 3_000_000),
                    latency_ms=rng.randint(50, 3000),
                    source="platform",
                ),
            )
        )
    return made


def _load(contexts: list[Any], count: int) -> int:
    from chalicelib.models import GatewayRequest, GatewayUsage
    from chalicelib.services.gateway import records

    rows, totals = records.record_rows(_outcomes(contexts, count))
    with GatewayRequest.batch_write() as batch:
        for row in rows:
            batch.save(row)
    # On an empty table the writer's ADDs amount to the sums themselves.
    with GatewayUsage.batch_write() as batch:
        for (counter_key, bucket), total in totals.items():
            batch.save(GatewayUsage(counter_key, bucket, **total))
    return len(totals)


def _p50(run: Callable[[], Any], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def _reads(project_id: str, key_id: str) -> dict[str, Callable[[], Any]]:
    from chalicelib.services.gateway import usage

    since, to = START, START + timedelta(days=DAYS)
    return {
        "activity daily, unfiltered": lambda: usage.activity(
            project_id, "daily", [], since, to
        ),
        "activity daily by model + key, filtered is_stream": lambda: usage.activity(
            project_id, "daily", ["model", "api_key_id"], since, to, {"is_stream": True}
        ),
        "activity daily, filtered by key": lambda: usage.activity(
            project_id, "daily", [], since, to, {"api_key_id": key_id}
        ),
        "logs page 1": lambda: usage.logs(project_id, since, to, {}, 50, 0),
        "logs page 1, key + error filter": lambda: usage.logs(
            project_id, since, to, {"api_key_id": key_id, "has_error": True}, 50, 0
        ),
        "logs page 1, is_stream filter": lambda: usage.logs(
            project_id, since, to, {"is_stream": True}, 50, 0
        ),
        "logs page 1, filter matching nothing": lambda: usage.logs(
            project_id, since, to, {"model": "openai/none"}, 50, 0
        ),
    }


def _measure(project_id: str, key_id: str, repeat: int) -> dict[str, dict[str, Any]]:
    from chalicelib.models import GatewayRequest, GatewayUsage
    from tests.examined import examined

    results = {}
    for name, run in _reads(project_id, key_id).items():
        with examined(GatewayRequest, GatewayUsage) as counts:
            run()
        p50 = _p50(run, repeat)
        results[name] = {
            "ms": p50,
            "records": counts["gateway-requests"],
            "counters": counts["gateway-usage"],
            "calls": counts["calls:gateway-requests"] + counts["calls:gateway-usage"],
        }
        print(f"  {name}: {p50:.1f} ms, {results[name]}", flush=True)
    return results


@contextmanager
def _emulator(kind: str) -> Iterator[str | None]:
    if kind == "moto":
        from moto import mock_aws

        with mock_aws():
            yield None
    else:
        with dynalite() as url:
            yield url


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--emulator", choices=["dynalite", "moto"], default="dynalite")
    args = parser.parse_args()
    os.environ.update(FAKE_CREDENTIALS)
    os.environ.update(SETTINGS)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    with _emulator(args.emulator) as endpoint:
        if endpoint:
            os.environ["AWS_ENDPOINT_URL"] = endpoint
        from chalicelib.services.gateway import keys
        from chalicelib.settings import reset_settings

        reset_settings()
        create_tables(endpoint)
        results = {}
        for count in (args.small, args.large):
            project = keys.create_project("org_bench", f"bench {count}")
            contexts = [
                keys.KeyContext(
                    keys.create_key(project, keys.KeyLimits(label=n))[0], project
                )
                for n in ("app", "batch")
            ]
            started = time.perf_counter()
            counters = _load(contexts, count)
            print(
                f"loaded {count} records, {counters} counters "
                f"in {time.perf_counter() - started:.0f}s",
                flush=True,
            )
            results[count] = _measure(project.id, contexts[0].key.id, args.repeat)
    small, large = args.small, args.large
    print(
        f"\n| read | {small:,} p50 ms | {large:,} p50 ms | ratio "
        f"| records examined {small:,} / {large:,} "
        f"| counters examined {small:,} / {large:,} | calls {small:,} / {large:,} |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, low in results[small].items():
        high = results[large][name]
        print(
            f"| {name} | {low['ms']:.1f} | {high['ms']:.1f} "
            f"| {high['ms'] / low['ms']:.1f}x "
            f"| {low['records']} / {high['records']:,} "
            f"| {low['counters']} / {high['counters']:,} "
            f"| {low['calls']} / {high['calls']} |"
        )


if __name__ == "__main__":
    main()
