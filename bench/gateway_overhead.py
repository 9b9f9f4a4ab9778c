"""Gateway proxy overhead: the openai SDK calling a fake upstream directly
and through the gateway of a running local platform, in one run.

    .venv/bin/python -m bench.gateway_overhead [--calls 200]

Prints p50/p99 latency of plain calls and p50/p99 time to first token of
streamed calls for both paths, with the gateway/direct ratios.
"""

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import openai

from tests.fakes_upstream import fake_upstream
from tests.local_platform import local_platform

MODEL = "openai/gpt-4o-mini"
PROMPT = [{"role": "user", "content": "benchmark words:20"}]


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def plain(client: openai.OpenAI, model: str) -> Callable[[], float]:
    def run() -> float:
        start = time.perf_counter()
        client.chat.completions.create(model=model, messages=PROMPT)  # type: ignore[arg-type]
        return time.perf_counter() - start

    return run


def first_token(client: openai.OpenAI, model: str) -> Callable[[], float]:
    def run() -> float:
        start = time.perf_counter()
        stream = client.chat.completions.create(
            model=model,
            messages=PROMPT,  # type: ignore[arg-type]
            stream=True,
        )
        elapsed = 0.0
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                elapsed = time.perf_counter() - start
                break
        stream.close()
        return elapsed

    return run


def measure(run: Callable[[], float], calls: int) -> list[float]:
    for _ in range(10):
        run()
    return [run() * 1000 for _ in range(calls)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200)
    calls = parser.parse_args().calls
    with fake_upstream() as upstream, tempfile.TemporaryDirectory() as state:
        env = {
            "GATEWAY_UPSTREAM_OPENAI_URL": f"{upstream.url}/v1",
            "GATEWAY_PROVIDER_OPENAI_API_KEY": "sk-bench",
        }
        with local_platform(Path(state), env) as platform:
            created = httpx.post(
                f"{platform.url}/v1/gateway/projects/provision",
                json={"name": "bench"},
                headers=platform.headers(),
                timeout=30,
            ).json()
            direct = openai.OpenAI(
                api_key="sk-bench", base_url=f"{upstream.url}/v1", max_retries=0
            )
            gateway = openai.OpenAI(
                api_key=created["secret"],
                base_url=f"{platform.url}/v1",
                max_retries=0,
            )
            rows = []
            for name, factory in (("plain call", plain), ("first token", first_token)):
                d = measure(factory(direct, "gpt-4o-mini"), calls)
                g = measure(factory(gateway, MODEL), calls)
                rows.append((name, d, g))
    print(f"{calls} calls per path; milliseconds")
    print(f"{'metric':<16}{'direct':>10}{'gateway':>10}{'ratio':>8}{'added':>9}")
    for name, d, g in rows:
        for label, q in (("p50", 0.5), ("p99", 0.99)):
            dv, gv = percentile(d, q), percentile(g, q)
            print(
                f"{name + ' ' + label:<16}{dv:>10.2f}{gv:>10.2f}"
                f"{gv / dv:>8.2f}{gv - dv:>9.2f}"
            )
        print(
            f"{name + ' mean':<16}{statistics.mean(d):>10.2f}"
            f"{statistics.mean(g):>10.2f}"
            f"{statistics.mean(g) / statistics.mean(d):>8.2f}"
            f"{statistics.mean(g) - statistics.mean(d):>9.2f}"
        )


if __name__ == "__main__":
    main()
