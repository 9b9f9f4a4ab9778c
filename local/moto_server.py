"""moto server whose KMS key keeps its id and material across restarts.

Locally the KMS root key is a file in the state folder (mode 0600), so the
env vars and keys sealed under it can be read after `make run` restarts.

DynamoDB transactions run one at a time: moto answers requests on threads
and undoes a cancelled transaction by restoring the tables it copied when
the transaction began, which would also undo a transaction that succeeded
meanwhile (two accepts of one invitation: the 409 erased the 201's
membership). DynamoDB isolates transactions; this keeps that locally.
"""

import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

import moto.dynamodb.models as dynamodb_models
import moto.kms.models as kms_models
from moto.server import main


def _pin_key(path: Path) -> None:
    saved = {}
    if path.exists():
        saved = json.loads(path.read_text())
    generate_id, generate_material = (
        kms_models.generate_key_id,
        kms_models.generate_master_key,
    )

    def key_id(multi_region: bool = False) -> str:
        if "id" not in saved:
            saved["id"] = generate_id(multi_region)
            _write(path, saved)
        return str(saved["id"])

    def material() -> bytes:
        if "material" not in saved:
            saved["material"] = generate_material().hex()
            _write(path, saved)
        return bytes.fromhex(saved["material"])

    kms_models.generate_key_id = key_id  # type: ignore[assignment]
    kms_models.generate_master_key = material  # type: ignore[assignment]


def _isolate_transactions() -> None:
    backend = dynamodb_models.DynamoDBBackend
    transact = backend.transact_write_items
    lock = threading.Lock()

    def one_at_a_time(self: Any, transact_items: list[dict[str, Any]]) -> None:
        with lock:
            transact(self, transact_items)

    backend.transact_write_items = one_at_a_time  # type: ignore[method-assign]


def _write(path: Path, value: dict) -> None:
    path.touch(mode=0o600)
    path.write_text(json.dumps(value))


if __name__ == "__main__":
    master = os.environ.get("PLATFORM_KMS_MASTER_FILE")
    if master:
        _pin_key(Path(master))
    _isolate_transactions()
    sys.argv[0] = "moto_server"
    main()
