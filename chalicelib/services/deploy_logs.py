"""Deploy log lines: append-only, numbered per deploy, read by cursor."""

import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from pynamodb.exceptions import DoesNotExist

from chalicelib.models import DeployLog
from chalicelib.services.clock import iso, now
from chalicelib.settings import get_settings

BUILD = "build"
DEPLOY = "deploy"
MAX_LINE = 4000

# One writer at a time per deploy in this process keeps numbering gap-free.
_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)


@dataclass(frozen=True)
class LogLine:
    seq: int
    phase: str
    text: str


def render(level: str, message: str) -> str:
    """The line format the CLI understands: `[ISO time] [level] message`."""
    return f"[{iso(now())}] [{level}] {message}"


def append(deploy_id: str, phase: str, level: str, messages: Iterable[str]) -> None:
    """Append messages; each line of each message becomes one log line."""
    lines = [
        render(level, part.rstrip("\r")[:MAX_LINE])
        for message in messages
        for part in message.split("\n")
        if part.strip()
    ]
    if not lines:
        return
    with _locks[deploy_id]:
        last = _reserve(deploy_id, len(lines))
        first = last - len(lines) + 1
        expires = int(time.time()) + get_settings().log_retention_days * 86400
        stamp = now()
        with DeployLog.batch_write() as batch:
            for offset, text in enumerate(lines):
                batch.save(
                    DeployLog(
                        deploy_id,
                        first + offset,
                        phase=phase,
                        message=text,
                        logged_at=stamp,
                        expires_at=expires,
                    )
                )


def _reserve(deploy_id: str, count: int) -> int:
    counter = DeployLog(deploy_id, 0)
    counter.update(actions=[DeployLog.next_seq.add(count)])
    return int(counter.next_seq or 0)


def read(deploy_id: str, after: int = 0) -> list[LogLine]:
    """Every line after `after`, in order."""
    return [
        LogLine(int(item.seq), item.phase or DEPLOY, item.message or "")
        for item in DeployLog.query(
            deploy_id, DeployLog.seq > max(after, 0), consistent_read=True
        )
    ]


def tail(deploy_id: str, count: int) -> list[LogLine]:
    items = DeployLog.query(
        deploy_id,
        DeployLog.seq > 0,
        scan_index_forward=False,
        limit=count,
        consistent_read=True,
    )
    lines = [LogLine(int(i.seq), i.phase or DEPLOY, i.message or "") for i in items]
    return list(reversed(lines))


def delete_all(deploy_id: str) -> None:
    with DeployLog.batch_write() as batch:
        for item in DeployLog.query(deploy_id):
            batch.delete(item)


def line_count(deploy_id: str) -> int:
    try:
        return int(DeployLog.get(deploy_id, 0).next_seq or 0)
    except DoesNotExist:
        return 0


class Cursor:
    """Reads new lines in order, waiting briefly for a gap to fill.

    Two writers in different processes may commit seq 8 before seq 7; a
    reader that skipped ahead would lose 7, so it holds back at a gap for
    `gap_grace` before giving up on the missing number.
    """

    def __init__(self, deploy_id: str, after: int = 0, gap_grace: float = 2.0):
        self.deploy_id = deploy_id
        self.position = after
        self._gap_since: float | None = None
        self._gap_grace = timedelta(seconds=gap_grace).total_seconds()

    def poll(self) -> list[LogLine]:
        fresh = read(self.deploy_id, self.position)
        ready = []
        for line in fresh:
            if line.seq != self.position + 1 and not self._gap_expired():
                break
            ready.append(line)
            self.position = line.seq
            self._gap_since = None
        return ready

    def _gap_expired(self) -> bool:
        if self._gap_since is None:
            self._gap_since = time.monotonic()
            return False
        return time.monotonic() - self._gap_since >= self._gap_grace
