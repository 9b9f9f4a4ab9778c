"""moto server whose KMS key keeps its id and material across restarts.

Locally the KMS root key is a file in the state folder (mode 0600), so the
env vars and keys sealed under it can be read after `make run` restarts.
"""

import json
import os
import sys
from pathlib import Path

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


def _write(path: Path, value: dict) -> None:
    path.touch(mode=0o600)
    path.write_text(json.dumps(value))


if __name__ == "__main__":
    master = os.environ.get("PLATFORM_KMS_MASTER_FILE")
    if master:
        _pin_key(Path(master))
    sys.argv[0] = "moto_server"
    main()
