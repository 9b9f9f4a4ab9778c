"""The gateway's hot path after issue 9: one batched admission read, and
records written by a background writer that loses nothing."""

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

from chalicelib.models import GatewayRequest, GatewayUsage
from chalicelib.services.gateway import keys, records, writer
from chalicelib.services.gateway.writer import Job, RecordWriter
from tests.functional.test_gateway_proxy import chat, gateway  # noqa: F401


def _usage_requests(project_id: str) -> int:
    return sum(c.requests for c in GatewayUsage.query(f"{project_id}#1h#all"))


def test_a_burst_leaves_exactly_one_record_per_request(gateway):  # noqa: F811
    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(
            pool.map(
                lambda i: (
                    gateway.post(
                        "/v1/chat/completions", chat(f"burst {i} words:2")
                    ).status_code
                ),
                range(40),
            )
        )
    # Records follow the answers: wait for them, then for the writer.
    gateway.settled(40)
    writer.flush()

    assert statuses == [200] * 40
    stored = gateway.records()
    assert len(stored) == 40
    assert len({r.request_id for r in stored}) == 40
    assert _usage_requests(gateway.project.id) == 40


def test_deleted_project_is_refused_on_the_next_request(gateway):  # noqa: F811
    assert gateway.post("/v1/chat/completions", chat("x")).status_code == 200
    keys.delete_project(gateway.project)

    refused = gateway.post("/v1/chat/completions", chat("x"))

    assert refused.status_code == 401


def test_removed_binding_stops_on_the_next_request(gateway):  # noqa: F811
    scope = keys.key_scope(gateway.key.id)
    keys.put_binding(gateway.project, scope, "openai", "sk-key-3333")
    gateway.post("/v1/chat/completions", chat("a"))
    keys.delete_binding(scope, "openai")
    gateway.post("/v1/chat/completions", chat("b"))

    used = [s.credential for s in gateway.upstream.seen]
    assert used == ["sk-key-3333", "sk-platform-openai-0000"]


def test_a_retried_batch_counts_once(gateway):  # noqa: F811
    gateway.post("/v1/chat/completions", chat("words:2"))
    [stored] = gateway.settled(1)
    writer.flush()
    context = keys.authenticate_key(gateway.secret)
    outcome = records.Outcome(
        request_id=stored.request_id,
        endpoint=stored.endpoint,
        started_at=stored.timestamp,
        model=stored.model,
        provider=stored.provider,
        status_code=stored.status_code,
    )

    records.write_many([(context, outcome)])

    assert len(list(GatewayRequest.query(gateway.project.id))) == 1
    assert _usage_requests(gateway.project.id) == 1


def _job(n: int) -> Job:
    outcome = records.Outcome(
        request_id=f"req_{n}", endpoint="/v1/chat/completions", started_at=None
    )  # type: ignore[arg-type]
    return Job(context=None, outcome=outcome, reservation=None)  # type: ignore[arg-type]


def test_writer_waits_when_full_retries_failures_and_flushes_on_close():
    written: list[str] = []
    gate = threading.Event()
    failures = [RuntimeError("throttled"), RuntimeError("throttled")]

    def write(batch: list[Job]) -> None:
        gate.wait()
        if failures:
            raise failures.pop()
        written.extend(j.outcome.request_id for j in batch)

    pending = RecordWriter(write, capacity=2, batch=3, linger=0)

    async def burst() -> None:
        await asyncio.gather(*(pending.submit(_job(n)) for n in range(10)))

    submitted = threading.Thread(target=asyncio.run, args=(burst(),))
    submitted.start()
    # With the writer blocked, the queue is full and submissions wait.
    submitted.join(timeout=0.5)
    assert submitted.is_alive()
    gate.set()
    submitted.join()
    pending.close()

    assert sorted(written) == sorted(f"req_{n}" for n in range(10))
    assert len(written) == 10
