"""Local state that lasts: DynamoDB tables and S3 objects saved under the state
folder and loaded back into a fresh moto server at startup.

Snapshots are written atomically (a new folder, then a rename), so a crash
mid-write leaves the previous snapshot intact; a snapshot taken every few
seconds bounds what a SIGKILL can lose.
"""

import base64
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from chalicelib import aws
from chalicelib.models import ALL_MODELS
from chalicelib.settings import get_settings

FORMAT = 1
CURRENT = "snapshot"


class CorruptState(Exception):
    """The saved state cannot be read back."""


def _tables() -> list[str]:
    prefix = get_settings().table_prefix
    return [prefix + model.Meta.base_name for model in ALL_MODELS]


def save(state: Path) -> None:
    """Write every table and artifact to `<state>/snapshot`, atomically."""
    target = state / CURRENT
    fresh = state / f"{CURRENT}.new"
    shutil.rmtree(fresh, ignore_errors=True)
    (fresh / "tables").mkdir(parents=True)
    dynamodb = aws.client("dynamodb")
    counts = {}
    for table in _tables():
        items: list[dict[str, Any]] = []
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            items.extend(page.get("Items", []))
        (fresh / "tables" / f"{table}.json").write_text(json.dumps(items, default=_b64))
        counts[table] = len(items)
    objects = _save_objects(target / "objects", fresh / "objects")
    manifest = {
        "format": FORMAT,
        "savedAt": time.time(),
        "tables": counts,
        "objects": objects,
    }
    (fresh / "manifest.json").write_text(json.dumps(manifest))
    old = state / f"{CURRENT}.old"
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(fresh, target)
    shutil.rmtree(old, ignore_errors=True)


def _save_objects(previous: Path, folder: Path) -> dict[str, str]:
    """Copy bucket objects; unchanged ones (same ETag) come from the last save."""
    bucket = get_settings().artifact_bucket
    s3 = aws.client("s3")
    folder.mkdir(parents=True)
    old_manifest = _read_json(previous.parent / "manifest.json") or {}
    old_objects = (
        old_manifest.get("objects", {}) if isinstance(old_manifest, dict) else {}
    )
    saved: dict[str, str] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            key, etag = item["Key"], item["ETag"]
            name = _file_name(key)
            reused = previous / name
            if old_objects.get(key) == etag and reused.exists():
                os.link(reused, folder / name)
            else:
                s3.download_file(bucket, key, str(folder / name))
            saved[key] = etag
    return saved


def _file_name(key: str) -> str:
    return key.replace("%", "%25").replace("/", "%2F")


def _b64(value: object) -> dict[str, str]:
    if isinstance(value, bytes | bytearray):
        return {"$b64": base64.b64encode(value).decode()}
    raise TypeError(f"cannot save {type(value).__name__}")


def _unb64(value: dict[str, Any]) -> Any:
    if set(value) == {"$b64"}:
        return base64.b64decode(value["$b64"])
    return value


def _read_json(path: Path, binary: bool = False) -> Any:
    try:
        return json.loads(path.read_text(), object_hook=_unb64 if binary else None)
    except (OSError, ValueError):
        return None


def exists(state: Path) -> bool:
    return (state / CURRENT / "manifest.json").exists()


def load(state: Path) -> dict[str, int]:
    """Put a saved snapshot into the (freshly provisioned) emulator."""
    folder = state / CURRENT
    manifest = _read_json(folder / "manifest.json")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CorruptState("the snapshot manifest is missing or unreadable")
    dynamodb = aws.client("dynamodb")
    loaded = {}
    known = set(_tables())
    for table in manifest.get("tables", {}):
        if table not in known:
            continue
        items = _read_json(folder / "tables" / f"{table}.json", binary=True)
        if not isinstance(items, list):
            raise CorruptState(f"table {table} in the snapshot is unreadable")
        for start in range(0, len(items), 25):
            batch = [
                {"PutRequest": {"Item": item}} for item in items[start : start + 25]
            ]
            request = {table: batch}
            while request:
                answer = dynamodb.batch_write_item(RequestItems=request)
                request = answer.get("UnprocessedItems") or {}
        loaded[table] = len(items)
    bucket = get_settings().artifact_bucket
    s3 = aws.client("s3")
    for key in manifest.get("objects", {}):
        path = folder / "objects" / _file_name(key)
        if not path.exists():
            raise CorruptState(f"object {key} is missing from the snapshot")
        s3.upload_file(str(path), bucket, key)
    return loaded


def set_aside(state: Path) -> Path:
    """Move an unreadable snapshot out of the way (kept for inspection)."""
    folder = state / CURRENT
    aside = state / f"{CURRENT}.corrupt-{int(time.time())}"
    if folder.exists():
        os.replace(folder, aside)
    return aside
