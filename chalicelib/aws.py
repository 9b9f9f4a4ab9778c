"""boto3 clients, built on first use so tests and the emulator see them."""

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from chalicelib.settings import get_settings


@cache
def client(service: str) -> Any:
    """Return a cached client for `service` in the configured region."""
    settings = get_settings()
    config = Config(
        signature_version="s3v4" if service == "s3" else None,
        s3={"addressing_style": "path"},
        retries={"mode": "standard", "max_attempts": 4},
    )
    return boto3.client(
        service,
        region_name=settings.region,
        endpoint_url=settings.aws_endpoint_url,
        config=config,
    )


def reset_clients() -> None:
    """Drop cached clients (tests switch emulators between cases)."""
    client.cache_clear()
