"""Count DynamoDB items examined (ScannedCount) per table, with botocore hooks.

A Query's ScannedCount is the number of items it read before any filter, the
figure DynamoDB bills and the one that shows whether a read is bounded. The
hooks go on the clients PynamoDB already holds for the given models.
"""

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

OPERATIONS = ("Query", "Scan")


@contextmanager
def examined(*models: Any) -> Iterator[Counter[str]]:
    """Items examined while inside, keyed by table base name (and `calls:`)."""
    counts: Counter[str] = Counter()
    names = {m.table_name(): m.Meta.base_name for m in models}

    def remember(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["examined_table"] = names.get(params.get("TableName", ""), "other")

    def count(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        table = context.get("examined_table", "other")
        counts[table] += int(parsed.get("ScannedCount", 0))
        counts[f"calls:{table}"] += 1

    emitters = {
        id(e): e
        for e in (m._get_connection().connection.client.meta.events for m in models)
    }
    for emitter in emitters.values():
        for operation in OPERATIONS:
            emitter.register(
                f"provide-client-params.dynamodb.{operation}",
                remember,
                unique_id=f"examined-remember-{operation}",
            )
            emitter.register(
                f"after-call.dynamodb.{operation}",
                count,
                unique_id=f"examined-count-{operation}",
            )
    try:
        yield counts
    finally:
        for emitter in emitters.values():
            for operation in OPERATIONS:
                emitter.unregister(
                    f"provide-client-params.dynamodb.{operation}",
                    unique_id=f"examined-remember-{operation}",
                )
                emitter.unregister(
                    f"after-call.dynamodb.{operation}",
                    unique_id=f"examined-count-{operation}",
                )
