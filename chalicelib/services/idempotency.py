"""`Idempotency-Key` on creating POSTs, kept by Powertools' idempotency utility.

The record is keyed by the org and the client's key; its validation hash
covers the method, route, path parameters and canonical body, so a replay
with the same request gets the stored response and a different request with
the same key is refused (422). A request still running under the key is 409.
Errors are not stored (Powertools deletes the record when the call raises),
so a client may retry a refused request under the same key.
"""

import hashlib
import json
import warnings
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import (
    DataRecord,
)

from chalicelib import aws
from chalicelib.errors import BadRequest, Conflict, Unprocessable
from chalicelib.models import IdempotencyRecord
from chalicelib.settings import get_settings

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255


def check_key(key: str) -> str:
    if len(key) > MAX_KEY_LENGTH or not key.isprintable() or not key.isascii():
        raise BadRequest(
            "The Idempotency-Key header is not valid.",
            errors=[
                {
                    "field": HEADER,
                    "message": f"must be 1 to {MAX_KEY_LENGTH} printable ASCII",
                }
            ],
        )
    return key


def fingerprint(
    method: str, route: str, params: dict[str, str], raw_body: bytes | str
) -> dict[str, Any]:
    """What must match on a replay: JSON bodies compare by value, not bytes."""
    try:
        canonical = json.dumps(json.loads(raw_body or b"{}"), sort_keys=True)
        body = canonical.encode()
    except ValueError:
        body = raw_body.encode() if isinstance(raw_body, str) else raw_body
    return {
        "method": method,
        "route": route,
        "params": params,
        "body": hashlib.sha256(body).hexdigest(),
    }


def _mark_replay(response: Any, idempotent_data: DataRecord) -> Any:
    headers = dict(response.get("headers") or {})
    headers[REPLAYED_HEADER] = "true"
    return {**response, "headers": headers}


def run(
    org_id: str,
    key: str,
    request: dict[str, Any],
    execute: Callable[[], dict[str, Any]],
    lambda_context: Any = None,
) -> dict[str, Any]:
    """`execute()` once per (org, key); its JSON-able result is replayed."""
    persistence = DynamoDBPersistenceLayer(
        table_name=IdempotencyRecord.table_name(),
        boto3_client=aws.client("dynamodb"),
    )
    config = IdempotencyConfig(
        event_key_jmespath="[org, key]",
        payload_validation_jmespath="request",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=get_settings().idempotency_ttl_seconds,
        hash_function="sha256",
        response_hook=_mark_replay,
    )

    @idempotent_function(
        data_keyword_argument="call", persistence_store=persistence, config=config
    )
    def create(call: dict[str, Any]) -> dict[str, Any]:
        return execute()

    if lambda_context is not None:
        config.register_lambda_context(lambda_context)
    try:
        with warnings.catch_warnings():
            # Locally there is no Lambda context and so no remaining time.
            warnings.filterwarnings("ignore", "Couldn't determine the remaining time")
            result: dict[str, Any] = create(
                call={"org": org_id, "key": check_key(key), "request": request}
            )
    except IdempotencyValidationError:
        raise Unprocessable(
            "This Idempotency-Key was used for a different request.",
            errors=[{"field": HEADER, "message": "was used with another request"}],
        ) from None
    except IdempotencyAlreadyInProgressError:
        raise Conflict(
            "A request with this Idempotency-Key is still in progress.",
            headers={"Retry-After": "1"},
        ) from None
    return result
