"""The request records' background writer: after the answer, never lost.

A proxied request hands its finished record to `submit` once the client
has its last byte. One thread per process drains the bounded queue in
arrival order and writes what it holds as one batch (records, counters,
spend settlement, see `records.write_batch`), so a burst costs a few
DynamoDB round trips rather than three per request. A full queue makes
`submit` wait (backpressure on the finishing request, not on its answer);
`close` (at shutdown, and at interpreter exit) writes everything queued
before it returns. A batch that fails is retried with backoff; the record's
conditional put makes a retry after an unseen success a no-op.
"""

import asyncio
import atexit
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.log import logger
from chalicelib.services.gateway import keys, limits, records
from chalicelib.services.gateway.keys import KeyContext
from chalicelib.services.gateway.limits import Reservation
from chalicelib.services.gateway.records import Outcome

CAPACITY = 2048
BATCH = records.MAX_BATCH
# How long a batch waits for company: one transaction per burst, not per
# request (the request already has its answer; this only delays the record).
LINGER_SECONDS = 0.2
ATTEMPTS = 5


@dataclass
class Job:
    context: KeyContext
    outcome: Outcome
    reservation: Reservation | None
    settled: bool = False


class RecordWriter:
    def __init__(
        self,
        write: Callable[[list[Job]], None],
        capacity: int = CAPACITY,
        batch: int = BATCH,
        linger: float = LINGER_SECONDS,
    ) -> None:
        self._write = write
        self._batch = batch
        self._linger = linger
        self._queue: queue.Queue[Job | None] = queue.Queue(capacity)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    async def submit(self, job: Job) -> None:
        """Queue `job`; waits (off the event loop) while the queue is full."""
        self._ensure_thread()
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            await asyncio.to_thread(self._queue.put, job)

    def submit_blocking(self, job: Job) -> None:
        self._ensure_thread()
        self._queue.put(job)

    def flush(self) -> None:
        """Return once every job queued so far is written (or given up)."""
        if self._thread is not None:
            self._queue.join()

    def close(self) -> None:
        """Write what is queued, then stop the thread."""
        with self._lock:
            thread, self._closed = self._thread, True
        if thread is None or not thread.is_alive():
            return
        self._queue.put(None)
        thread.join()
        with self._lock:
            self._thread, self._closed = None, False

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="gateway-records", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            batch: list[Job] = [] if first is None else [first]
            stop = first is None
            deadline = time.monotonic() + self._linger
            while not stop and len(batch) < self._batch:
                try:
                    more = self._queue.get(
                        timeout=max(0.0, deadline - time.monotonic())
                    )
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                else:
                    batch.append(more)
            if batch:
                self._write_with_retries(batch)
            for _ in range(len(batch) + (1 if stop else 0)):
                self._queue.task_done()
            if stop:
                self._drain()
                return

    def _drain(self) -> None:
        """After the stop mark: whatever a late `submit` still put in."""
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            if job is not None:
                self._write_with_retries([job])
            self._queue.task_done()

    def _write_with_retries(self, batch: list[Job]) -> None:
        for attempt in range(ATTEMPTS):
            try:
                self._write(batch)
                return
            except Exception:
                if attempt == ATTEMPTS - 1:
                    logger.exception(
                        "Gateway request records failed",
                        request_ids=[j.outcome.request_id for j in batch],
                    )
                    return
                time.sleep(0.05 * 2**attempt)


def write_batch(batch: list[Job]) -> None:
    """Settle spend per key, then records and counters in one transaction.

    Settled jobs are marked, so a retry after a failed record write does
    not settle them twice; the record write itself is idempotent.
    """
    by_key: dict[str, list[Job]] = {}
    for job in batch:
        if not job.settled:
            by_key.setdefault(job.context.key.id, []).append(job)
    for jobs in by_key.values():
        key = jobs[0].context.key
        costs = [(j.reservation, j.outcome.cost_nanos) for j in jobs]
        if any(r is not None or c for r, c in costs):
            limits.settle_many(key, costs)
        for job in jobs:
            job.settled = True
        keys.touch_key(key)
    records.write_many([(job.context, job.outcome) for job in batch])


_writer: RecordWriter | None = None
_writer_lock = threading.Lock()


def get_writer() -> RecordWriter:
    global _writer
    if _writer is None:
        with _writer_lock:
            if _writer is None:
                _writer = RecordWriter(write_batch)
                atexit.register(_writer.close)
    return _writer


def flush() -> None:
    """Wait until every record handed over so far is written."""
    if _writer is not None:
        _writer.flush()


def close() -> None:
    """At shutdown: write everything queued, then stop."""
    if _writer is not None:
        _writer.close()
