"""A running app's own output: numbered lines per deploy, read by cursor.

Any runtime writes here (the local one from the process pipes; on AWS a log
subscription would), so reading never depends on where the app runs.
"""

import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from chalicelib.models import RuntimeLog
from chalicelib.services.clock import iso, now
from chalicelib.settings import get_settings

MAX_LINE = 8000
SEVERITIES = ("debug", "info", "warn", "error")
_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)


@dataclass(frozen=True)
class Line:
    seq: int
    timestamp: str
    message: str
    severity: str


def severity_of(stream: str, text: str) -> str:
    """stderr is `error` unless the line says it is milder; stdout is `info`."""
    lowered = text[:200].lower()
    for word, level in (
        ("error", "error"),
        ("fatal", "error"),
        ("warn", "warn"),
        ("debug", "debug"),
    ):
        if f'"level":"{word}' in lowered or f"[{word}" in lowered:
            return level
        if lowered.startswith(word):
            return level
    return "error" if stream == "stderr" else "info"


def append(deploy_id: str, stream: str, text: str, at: datetime | None = None) -> None:
    text = text.rstrip("\r\n")[:MAX_LINE]
    if not text.strip():
        return
    with _locks[deploy_id]:
        counter = RuntimeLog(deploy_id, 0)
        counter.update(actions=[RuntimeLog.next_seq.add(1)])
        seq = int(counter.next_seq or 0)
        RuntimeLog(
            deploy_id,
            seq,
            severity=severity_of(stream, text),
            message=text,
            logged_at=at or now(),
            expires_at=int(time.time()) + get_settings().log_retention_days * 86400,
        ).save()


def page(deploy_id: str, after: int, limit: int) -> tuple[list[Line], int | None]:
    """Up to `limit` lines after seq `after`, and the cursor for the next page."""
    limit = max(1, min(limit, 1000))
    items = list(
        RuntimeLog.query(
            deploy_id,
            RuntimeLog.seq > max(after, 0),
            limit=limit + 1,
            consistent_read=True,
        )
    )
    lines = [
        Line(
            int(item.seq),
            iso(item.logged_at) or "",
            item.message or "",
            item.severity or "info",
        )
        for item in items[:limit]
    ]
    more = len(items) > limit
    return lines, (lines[-1].seq if more and lines else None)


def delete_all(deploy_id: str) -> None:
    with RuntimeLog.batch_write() as batch:
        for item in RuntimeLog.query(deploy_id):
            batch.delete(item)
