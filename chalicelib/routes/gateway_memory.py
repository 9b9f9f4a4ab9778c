"""`/v1/gateway/projects/{id}/memory/threads`: the memory the proxy keeps.

As for the rest of the gateway, every member of the organization may read
and only admins change anything.
"""

import json

from chalice import Blueprint

from chalicelib.errors import BadRequest
from chalicelib.http import Api, Call
from chalicelib.log import logger
from chalicelib.models import MemoryMessage, MemoryObservation, MemoryThread
from chalicelib.schemas.common import Ok
from chalicelib.schemas.gateway_memory import (
    MessageList,
    MessagePublic,
    MessagesDelete,
    MessagesDeleted,
    MessagesSave,
    MessagesSaved,
    ObservationHistory,
    ObservationPublic,
    ThreadClone,
    ThreadCreate,
    ThreadEnvelope,
    ThreadList,
    ThreadPublic,
    ThreadUpdate,
)
from chalicelib.services.clock import iso
from chalicelib.services.gateway import keys
from chalicelib.services.gateway import memory_store as store

bp = Blueprint(__name__)
api = Api(bp)
THREADS = "/v1/gateway/projects/{project_id}/memory/threads"
THREAD = THREADS + "/{thread_id}"
MAX_PER_PAGE = 100


def thread_public(thread: MemoryThread) -> ThreadPublic:
    return ThreadPublic(
        id=thread.id,
        resource_id=thread.resource_id,
        title=thread.title,
        metadata=json.loads(thread.metadata or "{}"),
        created_at=iso(thread.created_at) or "",
        updated_at=iso(thread.updated_at) or "",
    )


def message_public(message: MemoryMessage) -> MessagePublic:
    return MessagePublic(
        id=message.id,
        thread_id=message.thread_id,
        resource_id=message.resource_id,
        role=message.role,
        type=message.type,
        content=store.message_content(message),
        created_at=iso(message.created_at) or "",
    )


def observation_public(record: MemoryObservation) -> ObservationPublic:
    return ObservationPublic(
        id=record.id,
        thread_id=record.thread_id,
        resource_id=record.resource_id,
        generation=int(record.generation),
        kind=record.kind,
        text=record.text,
        token_count=int(record.tokens or 0),
        message_count=int(record.message_count or 0),
        model=record.model,
        prompt_tokens=int(record.prompt_tokens or 0),
        completion_tokens=int(record.completion_tokens or 0),
        created_at=iso(record.created_at) or "",
    )


def _page(call: Call) -> tuple[int, int]:
    def number(name: str, default: int, low: int, high: int) -> int:
        raw = call.query(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise BadRequest(
                f"Query parameter {name} must be an integer from {low} to {high}.",
                errors=[{"field": name, "message": f"must be {low} to {high}"}],
            )
        return value

    return number("page", 0, 0, 10_000), number("perPage", 20, 1, MAX_PER_PAGE)


def _thread(call: Call, project_id: str, thread_id: str) -> MemoryThread:
    project = keys.get_project(call.principal.org_id, project_id)
    return store.get_thread(project.id, thread_id)


@api.route(THREADS, "GET")
def list_threads(call: Call, project_id: str) -> ThreadList:
    """Threads newest first; `resourceId` keeps one resource's."""
    project = keys.get_project(call.principal.org_id, project_id)
    page, per_page = _page(call)
    threads, total = store.list_threads(
        project.id, call.query("resourceId"), page, per_page
    )
    return ThreadList(
        threads=[thread_public(t) for t in threads],
        total=total,
        page=page,
        per_page=per_page,
        has_more=(page + 1) * per_page < total,
    )


@api.route(THREADS, "POST", status=201, admin=True)
def create_thread(call: Call, project_id: str) -> ThreadEnvelope:
    body = call.body(ThreadCreate)
    project = keys.get_project(call.principal.org_id, project_id)
    thread = store.create_thread(
        store.new_thread(
            project.id, body.resource_id, body.id, body.title, body.metadata
        )
    )
    logger.info("Memory thread created", project_id=project.id, thread_id=thread.id)
    return ThreadEnvelope(thread=thread_public(thread))


@api.route(THREAD, "GET")
def get_thread(call: Call, project_id: str, thread_id: str) -> ThreadEnvelope:
    return ThreadEnvelope(thread=thread_public(_thread(call, project_id, thread_id)))


@api.route(THREAD, "PATCH", admin=True)
def update_thread(call: Call, project_id: str, thread_id: str) -> ThreadEnvelope:
    """Title and metadata only; the owning resource never changes."""
    body = call.body(ThreadUpdate)
    thread = _thread(call, project_id, thread_id)
    store.update_thread(thread, body.title, body.metadata)
    return ThreadEnvelope(thread=thread_public(thread))


@api.route(THREAD, "DELETE", admin=True)
def delete_thread(call: Call, project_id: str, thread_id: str) -> Ok:
    """The thread, its messages and its observations."""
    thread = _thread(call, project_id, thread_id)
    store.delete_thread(thread)
    logger.info("Memory thread deleted", project_id=project_id, thread_id=thread_id)
    return Ok()


@api.route(THREAD + "/clone", "POST", status=201, admin=True)
def clone_thread(call: Call, project_id: str, thread_id: str) -> ThreadEnvelope:
    """A new thread of the same resource with copies of the messages."""
    body = call.body(ThreadClone)
    thread = _thread(call, project_id, thread_id)
    clone = store.clone_thread(thread, body.new_thread_id, body.title, body.metadata)
    logger.info("Memory thread cloned", thread_id=thread_id, clone_id=clone.id)
    return ThreadEnvelope(thread=thread_public(clone))


@api.route(THREAD + "/messages", "GET")
def list_messages(call: Call, project_id: str, thread_id: str) -> MessageList:
    """Oldest first, by (time, sequence, id): pages never reorder."""
    thread = _thread(call, project_id, thread_id)
    page, per_page = _page(call)
    messages, total = store.message_page(thread, page, per_page)
    return MessageList(
        messages=[message_public(m) for m in messages],
        total=total,
        page=page,
        per_page=per_page,
        has_more=(page + 1) * per_page < total,
    )


@api.route(THREAD + "/messages", "POST", admin=True)
def save_messages(call: Call, project_id: str, thread_id: str) -> MessagesSaved:
    """Upsert by id; parts keep the order given."""
    body = call.body(MessagesSave)
    thread = _thread(call, project_id, thread_id)
    saved = store.save_messages(
        thread,
        [
            store.MessageIn(
                role=m.role,
                parts=m.content.parts,
                id=m.id,
                created_at=m.created_at,
                type=m.type,
            )
            for m in body.messages
        ],
    )
    return MessagesSaved(messages=[message_public(m) for m in saved])


@api.route(THREAD + "/messages", "DELETE", admin=True)
def delete_messages(call: Call, project_id: str, thread_id: str) -> MessagesDeleted:
    body = call.body(MessagesDelete)
    thread = _thread(call, project_id, thread_id)
    return MessagesDeleted(deleted=store.delete_messages(thread, body.message_ids))


@api.route(THREAD + "/observations/history", "GET")
def observation_history(
    call: Call, project_id: str, thread_id: str
) -> ObservationHistory:
    """Observation and reflection records, newest first."""
    thread = _thread(call, project_id, thread_id)
    return ObservationHistory(
        observations=[observation_public(o) for o in store.list_observations(thread)],
        generation=int(thread.generation or 0),
    )
