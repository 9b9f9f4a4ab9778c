"""Gateway memory tables: threads, their messages and observations.

Access patterns (all keyed, no scans):
- threads of a project, newest first: Query `project-created-index`;
- threads of one resource: Query `resource-index` on `<project>#<resource>`;
- one thread: GetItem on (project, thread id);
- messages of a thread in order: Query the `order-index` LSI on
  `<project>#<thread>` (sort key `<created ISO>#<seq>#<id>`), or from a
  point on (the unobserved tail); one message: GetItem on (thread, id),
  which is what makes saving an upsert by id;
- observations of a thread: Query on `<project>#<thread>`, sort key
  `g<generation>#<created ISO>#<id>`, so one generation is one range.
"""

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import (
    AllProjection,
    GlobalSecondaryIndex,
    LocalSecondaryIndex,
)

from chalicelib.models.base import PlatformModel


class ThreadCreatedIndex(GlobalSecondaryIndex["MemoryThread"]):
    class Meta:
        index_name = "project-created-index"
        projection = AllProjection()

    project_id = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class ThreadResourceIndex(GlobalSecondaryIndex["MemoryThread"]):
    class Meta:
        index_name = "resource-index"
        projection = AllProjection()

    resource_key = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class MemoryThread(PlatformModel):
    """A conversation thread; it belongs to one resource for life."""

    class Meta:
        table_name = None
        base_name = "gateway-memory-threads"

    project_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)
    resource_id = UnicodeAttribute()
    resource_key = UnicodeAttribute()
    created_key = UnicodeAttribute()
    title = UnicodeAttribute(null=True)
    # JSON text of the caller's metadata object.
    metadata = UnicodeAttribute(default="{}")
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    # Messages with an order key above this are not observed yet.
    observed_until = UnicodeAttribute(default="")
    generation = NumberAttribute(default=0)
    # Epoch seconds until which an observer run holds the thread.
    observing_until = NumberAttribute(null=True)
    created_index = ThreadCreatedIndex()
    resource_index = ThreadResourceIndex()


class MessageOrderIndex(LocalSecondaryIndex["MemoryMessage"]):
    class Meta:
        index_name = "order-index"
        projection = AllProjection()

    thread_key = UnicodeAttribute(hash_key=True)
    order_key = UnicodeAttribute(range_key=True)


class MemoryMessage(PlatformModel):
    class Meta:
        table_name = None
        base_name = "gateway-memory-messages"

    thread_key = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)
    order_key = UnicodeAttribute()
    project_id = UnicodeAttribute()
    thread_id = UnicodeAttribute()
    resource_id = UnicodeAttribute()
    role = UnicodeAttribute()
    type = UnicodeAttribute(default="v2")
    # JSON text of `{format: 2, parts: [...]}`, parts in the order given.
    content = UnicodeAttribute()
    tokens = NumberAttribute(default=0)
    created_at = UTCDateTimeAttribute()
    order_index = MessageOrderIndex()


class MemoryObservation(PlatformModel):
    """An observer's (or reflector's) condensed record of a thread."""

    class Meta:
        table_name = None
        base_name = "gateway-memory-observations"

    thread_key = UnicodeAttribute(hash_key=True)
    sort_key = UnicodeAttribute(range_key=True)
    id = UnicodeAttribute()
    project_id = UnicodeAttribute()
    thread_id = UnicodeAttribute()
    resource_id = UnicodeAttribute()
    generation = NumberAttribute()
    kind = UnicodeAttribute()  # "observation" or "reflection"
    text = UnicodeAttribute()
    tokens = NumberAttribute(default=0)
    message_count = NumberAttribute(default=0)
    observed_until = UnicodeAttribute(default="")
    model = UnicodeAttribute(null=True)
    prompt_tokens = NumberAttribute(default=0)
    completion_tokens = NumberAttribute(default=0)
    created_at = UTCDateTimeAttribute()
