"""Gateway memory: threads, messages (format 2) and observation records."""

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from chalicelib.schemas.common import Input, Wire

ID = Field(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$")


class ThreadPublic(Wire):
    id: str
    resource_id: str
    title: str | None
    metadata: dict[str, Any]
    created_at: str
    updated_at: str


class ThreadEnvelope(Wire):
    thread: ThreadPublic


class ThreadList(Wire):
    threads: list[ThreadPublic]
    total: int
    page: int
    per_page: int
    has_more: bool


class ThreadCreate(Input):
    resource_id: str = ID
    id: str | None = Field(
        None, min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$"
    )
    title: str | None = Field(None, max_length=1000)
    metadata: dict[str, Any] | None = None


class ThreadUpdate(Input):
    """Only title and metadata change; the owning resource never does."""

    title: str | None = Field(None, max_length=1000)
    metadata: dict[str, Any] | None = None


class ThreadClone(Input):
    new_thread_id: str | None = Field(
        None, min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$"
    )
    title: str | None = Field(None, max_length=1000)
    metadata: dict[str, Any] | None = None


class MessageContent(Input):
    format: Literal[2] = 2
    parts: list[dict[str, Any]] = Field(max_length=1000)


class MessageSave(Input):
    id: str | None = Field(
        None, min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f#]+$"
    )
    role: Literal["user", "assistant", "system", "tool"]
    content: MessageContent
    created_at: datetime | None = None
    type: str = Field("v2", max_length=32)


class MessagesSave(Input):
    messages: list[MessageSave] = Field(min_length=1, max_length=100)


class MessagesDelete(Input):
    message_ids: list[str] = Field(min_length=1, max_length=100)


class MessagePublic(Wire):
    id: str
    thread_id: str
    resource_id: str
    role: str
    type: str
    content: dict[str, Any]
    created_at: str


class MessageList(Wire):
    messages: list[MessagePublic]
    total: int
    page: int
    per_page: int
    has_more: bool


class MessagesSaved(Wire):
    messages: list[MessagePublic]


class MessagesDeleted(Wire):
    deleted: int


class ObservationPublic(Wire):
    id: str
    thread_id: str
    resource_id: str
    generation: int
    kind: str
    text: str
    token_count: int
    message_count: int
    model: str | None
    prompt_tokens: int
    completion_tokens: int
    created_at: str


class ObservationHistory(Wire):
    observations: list[ObservationPublic]
    generation: int
