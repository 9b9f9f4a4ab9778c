"""Base for every table: its name, region and endpoint come from settings."""

from functools import cache
from typing import Any

from pynamodb.connection import Connection, TableConnection
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib.settings import get_settings


class PlatformModel(Model):
    """A PynamoDB model whose table name is `<table_prefix><Meta.base_name>`."""

    class Meta:
        abstract = True
        base_name = ""

    @classmethod
    def table_name(cls) -> str:
        return get_settings().table_prefix + cls.Meta.base_name

    @classmethod
    def _get_connection(cls) -> TableConnection:
        settings = get_settings()
        name = cls.table_name()
        meta: Any = cls.Meta
        if meta.table_name != name or meta.host != settings.aws_endpoint_url:
            meta.table_name = name
            meta.region = settings.region
            meta.host = settings.aws_endpoint_url
            cls._connection = None
        return super()._get_connection()

    @classmethod
    def describe_schema(cls) -> dict[str, Any]:
        """The key schema, attributes and indexes, for infra and bootstrap."""
        return cls._get_schema()  # type: ignore[return-value]


def transaction() -> TransactWrite:
    """A DynamoDB transaction on the configured endpoint."""
    settings = get_settings()
    return TransactWrite(
        connection=_connection(settings.region, settings.aws_endpoint_url)
    )


@cache
def _connection(region: str, host: str | None) -> Connection:
    # One per endpoint: a new Connection builds a new botocore session and
    # client (tens of milliseconds of CPU) on its first call.
    return Connection(region=region, host=host)
