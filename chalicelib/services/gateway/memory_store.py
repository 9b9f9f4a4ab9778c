"""Gateway memory storage: threads, messages (format 2) and observations.

Messages are ordered by `<created ISO>#<sequence>#<id>`, so messages saved in
one call keep the order they were given and ties never reorder. Saving is an
upsert on (thread, id): a known id keeps its place unless a new `createdAt`
moves it.
"""

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, UpdateError
from pynamodb.expressions.update import Action

from chalicelib.errors import BadRequest, Conflict, NotFound
from chalicelib.models import MemoryMessage, MemoryObservation, MemoryThread
from chalicelib.services.clock import iso, new_id, now

MESSAGE_FORMAT = 2
ROLES = ("user", "assistant", "system", "tool")
_ID_SHAPE = re.compile(r"^[^\x00-\x1f\x7f]{1,256}$")


class ThreadForbidden(Exception):
    """The thread exists but belongs to another resource."""


def valid_id(value: str) -> bool:
    return bool(_ID_SHAPE.match(value)) and value.strip() == value


def thread_key(project_id: str, thread_id: str) -> str:
    return f"{project_id}#{thread_id}"


def resource_key(project_id: str, resource_id: str) -> str:
    return f"{project_id}#{resource_id}"


def order_key(stamp: datetime, seq: int, message_id: str) -> str:
    return f"{iso(stamp)}#{seq:05d}#{message_id}"


def estimate_tokens(text: str) -> int:
    """About four characters a token, the usual estimate for English text."""
    return math.ceil(len(text) / 4) if text else 0


def parts_text(parts: list[Any]) -> str:
    texts = [
        str(p.get("text") or "")
        for p in parts
        if isinstance(p, dict) and p.get("type") == "text"
    ]
    return "\n".join(t for t in texts if t)


# Threads


def get_thread(project_id: str, thread_id: str) -> MemoryThread:
    try:
        return MemoryThread.get(project_id, thread_id, consistent_read=True)
    except DoesNotExist:
        raise NotFound(f"Thread {thread_id} not found.") from None


def new_thread(
    project_id: str,
    resource_id: str,
    thread_id: str | None = None,
    title: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> MemoryThread:
    stamp = now()
    thread_id = thread_id or new_id("thr")
    return MemoryThread(
        project_id,
        thread_id,
        resource_id=resource_id,
        resource_key=resource_key(project_id, resource_id),
        created_key=f"{iso(stamp)}#{thread_id}",
        title=title,
        metadata=json.dumps(metadata or {}),
        created_at=stamp,
        updated_at=stamp,
        observed_until="",
        generation=0,
    )


def create_thread(thread: MemoryThread) -> MemoryThread:
    try:
        thread.save(condition=MemoryThread.id.does_not_exist())
    except PutError:
        raise Conflict(f"Thread {thread.id} already exists.") from None
    return thread


def open_thread(project_id: str, thread_id: str, resource_id: str) -> MemoryThread:
    """The thread for a proxied request: created on first use, owner checked."""
    try:
        thread = MemoryThread.get(project_id, thread_id, consistent_read=True)
    except DoesNotExist:
        thread = new_thread(project_id, resource_id, thread_id)
        try:
            thread.save(condition=MemoryThread.id.does_not_exist())
        except PutError:
            thread = MemoryThread.get(project_id, thread_id, consistent_read=True)
    if thread.resource_id != resource_id:
        raise ThreadForbidden(thread_id)
    return thread


def list_threads(
    project_id: str, resource_id: str | None, page: int, per_page: int
) -> tuple[list[MemoryThread], int]:
    """One page of threads, newest first, and how many there are in all."""
    if resource_id:
        index: Any = MemoryThread.resource_index
        hash_value = resource_key(project_id, resource_id)
    else:
        index = MemoryThread.created_index
        hash_value = project_id
    total = index.count(hash_value)
    wanted = (page + 1) * per_page
    found = list(index.query(hash_value, scan_index_forward=False, limit=wanted))
    return found[page * per_page : wanted], total


def update_thread(
    thread: MemoryThread, title: str | None, metadata: dict[str, Any] | None
) -> MemoryThread:
    actions: list[Action] = [MemoryThread.updated_at.set(now())]
    if title is not None:
        actions.append(MemoryThread.title.set(title))
    if metadata is not None:
        actions.append(MemoryThread.metadata.set(json.dumps(metadata)))
    try:
        thread.update(actions=actions, condition=MemoryThread.id.exists())
    except UpdateError:
        raise NotFound(f"Thread {thread.id} not found.") from None
    return thread


def delete_thread(thread: MemoryThread) -> None:
    """The thread first (so it is gone at once), then its messages and records."""
    try:
        thread.delete(condition=MemoryThread.id.exists())
    except DeleteError:
        raise NotFound(f"Thread {thread.id} not found.") from None
    key = thread_key(thread.project_id, thread.id)
    with MemoryMessage.batch_write() as batch:
        for message in MemoryMessage.query(key):
            batch.delete(message)
    with MemoryObservation.batch_write() as batch:
        for record in MemoryObservation.query(key):
            batch.delete(record)


def clone_thread(
    thread: MemoryThread,
    new_thread_id: str | None,
    title: str | None,
    metadata: dict[str, Any] | None,
) -> MemoryThread:
    """A new thread of the same resource with copies of every message."""
    clone = new_thread(
        thread.project_id,
        thread.resource_id,
        new_thread_id,
        title if title is not None else thread.title,
        metadata if metadata is not None else json.loads(thread.metadata or "{}"),
    )
    create_thread(clone)
    key = thread_key(clone.project_id, clone.id)
    with MemoryMessage.batch_write() as batch:
        for message in list_messages(thread):
            copy_id = new_id("msg")
            batch.save(
                MemoryMessage(
                    key,
                    copy_id,
                    order_key=message.order_key.rsplit("#", 1)[0] + f"#{copy_id}",
                    project_id=clone.project_id,
                    thread_id=clone.id,
                    resource_id=clone.resource_id,
                    role=message.role,
                    type=message.type,
                    content=message.content,
                    tokens=message.tokens,
                    created_at=message.created_at,
                )
            )
    return clone


# Messages


@dataclass
class MessageIn:
    role: str
    parts: list[Any]
    id: str | None = None
    created_at: datetime | None = None
    type: str = "v2"


def list_messages(
    thread: MemoryThread, after: str = "", newest: int | None = None
) -> list[MemoryMessage]:
    """Messages in order; `after` skips observed ones, `newest` keeps the last n."""
    key = thread_key(thread.project_id, thread.id)
    condition = MemoryMessage.order_key > after if after else None
    if newest is None:
        return list(
            MemoryMessage.order_index.query(
                key, condition, consistent_read=True, scan_index_forward=True
            )
        )
    found = list(
        MemoryMessage.order_index.query(
            key, condition, consistent_read=True, scan_index_forward=False, limit=newest
        )
    )
    found.reverse()
    return found


def message_page(
    thread: MemoryThread, page: int, per_page: int
) -> tuple[list[MemoryMessage], int]:
    key = thread_key(thread.project_id, thread.id)
    total = MemoryMessage.count(key, consistent_read=True)
    wanted = (page + 1) * per_page
    found = list(
        MemoryMessage.order_index.query(key, consistent_read=True, limit=wanted)
    )
    return found[page * per_page : wanted], total


def get_messages(
    project_id: str, thread_id: str, ids: list[str]
) -> list[MemoryMessage]:
    if not ids:
        return []
    key = thread_key(project_id, thread_id)
    found = list(MemoryMessage.batch_get([(key, i) for i in ids]))
    return sorted(found, key=lambda m: m.order_key)


def save_messages(
    thread: MemoryThread, messages: list[MessageIn]
) -> list[MemoryMessage]:
    """Upsert by id, in the order given; returns the stored messages."""
    key = thread_key(thread.project_id, thread.id)
    stamp = now()
    known_ids = [m.id for m in messages if m.id]
    known = {
        m.id: m for m in MemoryMessage.batch_get([(key, i) for i in set(known_ids)])
    }
    saved: list[MemoryMessage] = []
    for seq, message in enumerate(messages):
        if message.role not in ROLES:
            raise BadRequest(
                f"Unknown message role {message.role}.",
                errors=[{"field": f"messages.{seq}.role", "message": "unknown role"}],
            )
        message_id = message.id or new_id("msg")
        if message.created_at is not None and message.created_at.tzinfo is None:
            message.created_at = message.created_at.replace(tzinfo=UTC)
        existing = known.get(message_id)
        if existing is not None and message.created_at is None:
            created, order = existing.created_at, existing.order_key
        else:
            created = message.created_at or stamp
            order = order_key(created, seq, message_id)
        saved.append(
            MemoryMessage(
                key,
                message_id,
                order_key=order,
                project_id=thread.project_id,
                thread_id=thread.id,
                resource_id=thread.resource_id,
                role=message.role,
                type=message.type,
                content=json.dumps({"format": MESSAGE_FORMAT, "parts": message.parts}),
                tokens=estimate_tokens(parts_text(message.parts)),
                created_at=created,
            )
        )
    with MemoryMessage.batch_write() as batch:
        for item in saved:
            batch.save(item)
    touch_thread(thread)
    return saved


def touch_thread(thread: MemoryThread) -> None:
    try:
        thread.update(
            actions=[MemoryThread.updated_at.set(now())],
            condition=MemoryThread.id.exists(),
        )
    except UpdateError:
        return


def delete_messages(thread: MemoryThread, ids: list[str]) -> int:
    key = thread_key(thread.project_id, thread.id)
    found = list(MemoryMessage.batch_get([(key, i) for i in set(ids)]))
    with MemoryMessage.batch_write() as batch:
        for message in found:
            batch.delete(message)
    touch_thread(thread)
    return len(found)


def message_content(message: MemoryMessage) -> dict[str, Any]:
    content = json.loads(message.content)
    return content if isinstance(content, dict) else {"format": 2, "parts": []}


def message_text(message: MemoryMessage) -> str:
    return parts_text(message_content(message).get("parts") or [])


# Observations


def observation_sort_key(generation: int, stamp: datetime, record_id: str) -> str:
    return f"g{generation:06d}#{iso(stamp)}#{record_id}"


def list_observations(thread: MemoryThread) -> list[MemoryObservation]:
    """Every record of the thread, newest first."""
    key = thread_key(thread.project_id, thread.id)
    return list(
        MemoryObservation.query(key, scan_index_forward=False, consistent_read=True)
    )


def active_observations(thread: MemoryThread) -> list[MemoryObservation]:
    """The records of the thread's current generation, oldest first."""
    key = thread_key(thread.project_id, thread.id)
    prefix = f"g{int(thread.generation or 0):06d}#"
    return list(
        MemoryObservation.query(
            key,
            MemoryObservation.sort_key.startswith(prefix),
            consistent_read=True,
        )
    )
