"""Artifact inspection and unpacking, on zips written to tmp_path."""

import stat
import zipfile
from pathlib import Path

import pytest

from chalicelib.services.artifacts import ArtifactError, Layout, extract, inspect

LIMIT = 10 * 1024 * 1024
SERVER = {
    "package.json": '{"name": "app"}',
    ".mastra/output/index.mjs": "export default 1",
    ".mastra/output/package.json": "{}",
}
STUDIO = {
    "output/index.mjs": "export default 1",
    "output/package.json": "{}",
    "output/.npmrc": "registry=https://registry.npmjs.org/",
}


def write_zip(
    path: Path, files: dict[str, str], compression: int = zipfile.ZIP_DEFLATED
) -> Path:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return path


def rejection(path: Path, limit: int = LIMIT) -> str:
    with pytest.raises(ArtifactError) as caught:
        inspect(path, limit)
    return str(caught.value)


def test_server_layout_is_recognised(tmp_path: Path) -> None:
    layout = inspect(write_zip(tmp_path / "a.zip", SERVER), LIMIT)
    assert layout.prefix == ".mastra/output/"
    assert layout.entry == ".mastra/output/index.mjs"
    assert layout.entries == 3
    assert layout.unpacked_bytes == sum(len(v) for v in SERVER.values())


def test_studio_layout_is_recognised(tmp_path: Path) -> None:
    layout = inspect(write_zip(tmp_path / "a.zip", STUDIO), LIMIT)
    assert layout.prefix == "output/"
    assert layout.entry == "output/index.mjs"
    assert layout.entries == 3


def test_stored_entries_are_fine_too(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "a.zip", STUDIO, zipfile.ZIP_STORED)
    assert inspect(path, LIMIT).prefix == "output/"


def test_a_file_that_is_not_a_zip_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    path.write_bytes(b"this is not a zip")
    assert "not a valid zip" in rejection(path)


def test_an_empty_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    path.write_bytes(b"")
    assert "not a valid zip" in rejection(path)


def test_a_truncated_zip_is_rejected(tmp_path: Path) -> None:
    whole = write_zip(tmp_path / "whole.zip", {**SERVER, "big": "y" * 4000})
    path = tmp_path / "cut.zip"
    path.write_bytes(whole.read_bytes()[:-30])
    assert "not a valid zip" in rejection(path)


@pytest.mark.parametrize("compression", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED])
def test_a_zip_with_damaged_entry_data_is_rejected(
    tmp_path: Path, compression: int
) -> None:
    path = write_zip(tmp_path / "a.zip", {**SERVER, "big.txt": "x" * 5000}, compression)
    content = bytearray(path.read_bytes())
    data_at = content.index(b"big.txt") + len(b"big.txt")
    content[data_at + 2] ^= 0xFF
    path.write_bytes(bytes(content))
    assert "corrupt" in rejection(path)


@pytest.mark.parametrize(
    "name",
    [
        "../evil",
        ".mastra/output/../../evil",
        "/etc/passwd",
        "\\windows\\evil",
        "output\\..\\evil",
        "C:/evil",
    ],
)
def test_a_path_that_escapes_is_rejected(tmp_path: Path, name: str) -> None:
    path = write_zip(tmp_path / "a.zip", {**SERVER, name: "gotcha"})
    message = rejection(path)
    assert "escapes the working folder" in message
    assert name in message


def test_a_dotted_name_that_stays_inside_is_accepted(tmp_path: Path) -> None:
    files = {**STUDIO, "output/..hidden": "ok", "output/a..b/c": "ok"}
    assert inspect(write_zip(tmp_path / "a.zip", files), LIMIT).entries == 5


def test_a_symlink_entry_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in STUDIO.items():
            archive.writestr(name, content)
        link = zipfile.ZipInfo("output/link")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    message = rejection(path)
    assert "symbolic link" in message
    assert "output/link" in message


def test_a_missing_entry_file_is_rejected(tmp_path: Path) -> None:
    files = {"package.json": "{}", "output/main.mjs": "", "index.mjs": ""}
    message = rejection(write_zip(tmp_path / "a.zip", files))
    assert "no entry file" in message
    assert "mastra build" in message


def test_an_entry_file_under_the_wrong_prefix_is_rejected(tmp_path: Path) -> None:
    files = {"build/output/index.mjs": "", "mastra/output/index.mjs": ""}
    assert "no entry file" in rejection(write_zip(tmp_path / "a.zip", files))


def test_an_artifact_that_unpacks_over_the_limit_is_rejected(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "a.zip", {**STUDIO, "output/blob": "z" * 2000})
    size = sum(len(v) for v in STUDIO.values()) + 2000
    message = rejection(path, limit=size - 1)
    assert "over the limit" in message
    assert str(size) in message
    assert inspect(path, size).unpacked_bytes == size


def test_extract_unpacks_into_the_destination(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "a.zip", SERVER)
    layout = inspect(path, LIMIT)
    root = extract(path, tmp_path / "work", layout)
    assert root == (tmp_path / "work").resolve() / ".mastra/output/"
    assert (root / "index.mjs").read_text() == "export default 1"
    assert (tmp_path / "work" / "package.json").exists()


def test_extract_refuses_a_path_that_escapes(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "a.zip", {**SERVER, "../evil": "gotcha"})
    layout = Layout(".mastra/output/", 4, 0)
    with pytest.raises(ArtifactError, match="escapes"):
        extract(path, tmp_path / "work", layout)
    assert not (tmp_path / "evil").exists()
