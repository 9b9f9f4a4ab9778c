"""Idempotency records: the schema of the table Powertools' idempotency writes.

Powertools' DynamoDB persistence layer owns the item format; this model only
declares the table (key `id`, TTL on `expiration`) so that infra, the local
emulator and tests create it like every other table.
"""

from pynamodb.attributes import NumberAttribute, UnicodeAttribute

from chalicelib.models.base import PlatformModel


class IdempotencyRecord(PlatformModel):
    """One `Idempotency-Key` use: `id` hashes the org and the key."""

    class Meta:
        table_name = None
        base_name = "idempotency"

    id = UnicodeAttribute(hash_key=True)
    expiration = NumberAttribute(null=True)
    in_progress_expiration = NumberAttribute(null=True)
    status = UnicodeAttribute(null=True)
    data = UnicodeAttribute(null=True)
    validation = UnicodeAttribute(null=True)
