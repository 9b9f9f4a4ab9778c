"""Gateway usage reads at 100 and 100,000 request records.

    .venv/bin/python -m bench.usage_reads [--large 100000] [--repeat 20]

In-process moto. Records are spread over 30 days across three models, two
keys, two endpoints and a few statuses; the hourly counters hold what the
proxy's writer would have added for them (summed here and put once, which
is what ADDs on an empty table amount to). Times `activity` (daily, 30 days,
unfiltered; and by model and key with a filter) and `logs` page 1 (50, and
filtered) through the services the routes call, p50 over `--repeat` runs,
and prints the large/small ratio.
"""

import argparse
import os
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from moto import mock_aws

from local.emulator import FAKE_CREDENTIALS, provision

START = datetime(2025, 3, 1, tzinfo=UTC)
DAYS = 30


def _outcomes(contexts: list[Any], count: int) -> list[tuple[Any, Any]]:
    from chalicelib.services.gateway import records

    rng = random.Random(9)
    models = [
        ("openai/gpt-4o-mini", "openai"),
        ("openai/gpt-4o", "openai"),
        ("anthropic/claude-haiku-4-5", "anthropic"),
    ]
    made = []
    for index in range(count):
        model, provider = rng.choices(models, weights=[6, 3, 1])[0]
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


def _load(project: Any, contexts: list[Any], count: int) -> int:
    from chalicelib.models import GatewayRequest, GatewayUsage
    from chalicelib.services.gateway import records

    items = _outcomes(contexts, count)
    totals: dict[tuple[str, str], list[int]] = {}
    with GatewayRequest.batch_write() as batch:
        for context, outcome in items:
            batch.save(records._record(context, outcome))
            for counter in records.counter_keys(context, outcome):
                total = totals.setdefault(counter, [0] * len(records.COUNTED))
                for i, value in enumerate(records._counts(outcome)):
                    total[i] += value
    with GatewayUsage.batch_write() as batch:
        for (counter_key, bucket), total in totals.items():
            batch.save(
                GatewayUsage(
                    counter_key,
                    bucket,
                    **dict(zip(records.COUNTED, total, strict=True)),
                )
            )
    return len(totals)


def _p50(run: Callable[[], Any], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    result = statistics.median(samples) * 1000
    print(f"  {result:.1f} ms", flush=True)
    return result


def _measure(project_id: str, key_id: str, repeat: int) -> dict[str, float]:
    from chalicelib.services.gateway import usage

    since, to = START, START + timedelta(days=DAYS)
    return {
        "activity daily": _p50(
            lambda: usage.activity(project_id, "daily", [], since, to), repeat
        ),
        "activity by model+key, filtered": _p50(
            lambda: usage.activity(
                project_id,
                "daily",
                ["model", "api_key_id"],
                since,
                to,
                {"is_stream": True},
            ),
            repeat,
        ),
        "logs page 1": _p50(
            lambda: usage.logs(project_id, since, to, {}, 50, 0), repeat
        ),
        "logs page 1, key + error filter": _p50(
            lambda: usage.logs(
                project_id, since, to, {"api_key_id": key_id, "has_error": True}, 50, 0
            ),
            repeat,
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    os.environ.update(FAKE_CREDENTIALS)
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    with mock_aws():
        for name, value in provision(None, "bench").items():
            os.environ[name] = value
        from chalicelib.services.gateway import keys
        from chalicelib.settings import reset_settings

        reset_settings()
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
            counters = _load(project, contexts, count)
            print(
                f"loaded {count} records, {counters} counters "
                f"in {time.perf_counter() - started:.0f}s",
                flush=True,
            )
            results[count] = _measure(project.id, contexts[0].key.id, args.repeat)
    print(f"\n| read | {args.small} records (ms) | {args.large} records (ms) | ratio |")
    print("| --- | ---: | ---: | ---: |")
    for name in results[args.small]:
        small, large = results[args.small][name], results[args.large][name]
        print(f"| {name} | {small:.1f} | {large:.1f} | {large / small:.1f}x |")


if __name__ == "__main__":
    main()
