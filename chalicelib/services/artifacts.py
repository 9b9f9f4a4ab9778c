"""What a deploy artifact must look like, and how to unpack it safely."""

import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

# The two layouts the Mastra CLI uploads: `studio deploy` zips the build
# output under `output/`; `server deploy` keeps `.mastra/output/` and adds
# the project's package.json at the root.
LAYOUTS = (".mastra/output/", "output/")
ENTRY = "index.mjs"


class ArtifactError(Exception):
    """The artifact cannot be deployed; the message says why."""


@dataclass(frozen=True)
class Layout:
    prefix: str
    entries: int
    unpacked_bytes: int

    @property
    def entry(self) -> str:
        return self.prefix + ENTRY


def inspect(path: Path, max_unpacked: int) -> Layout:
    """Check an artifact zip without unpacking it; raise ArtifactError if bad."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise ArtifactError("Artifact is not a valid zip archive.") from None
    with archive:
        infos = archive.infolist()
        names = {info.filename for info in infos}
        total = 0
        for info in infos:
            _check_member(info)
            total += info.file_size
        if total > max_unpacked:
            raise ArtifactError(
                f"Artifact unpacks to {total} bytes, over the limit of "
                f"{max_unpacked} bytes."
            )
        try:
            broken = archive.testzip()
        except (
            zipfile.BadZipFile,
            OSError,
            EOFError,
            zlib.error,  # damaged deflate data
            RuntimeError,  # an encrypted entry
            NotImplementedError,  # a compression method we cannot read
        ):
            broken = "?"
        if broken is not None:
            raise ArtifactError(f"Artifact zip is corrupt (entry {broken}).")
    for prefix in LAYOUTS:
        if prefix + ENTRY in names:
            return Layout(prefix, len(infos), total)
    raise ArtifactError(
        "Artifact has no entry file: expected output/index.mjs or "
        ".mastra/output/index.mjs (did `mastra build` run?)."
    )


def _check_member(info: zipfile.ZipInfo) -> None:
    name = info.filename
    pure = PurePosixPath(name)
    if (
        name.startswith(("/", "\\"))
        or "\\" in name
        or ".." in pure.parts
        or (len(name) > 1 and name[1] == ":")
    ):
        raise ArtifactError(f"Artifact path escapes the working folder: {name}")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise ArtifactError(f"Artifact contains a symbolic link: {name}")


def extract(path: Path, dest: Path, layout: Layout) -> Path:
    """Unpack into `dest` and return the folder holding the entry file."""
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            target = (root / info.filename).resolve()
            if not target.is_relative_to(root):
                raise ArtifactError(
                    f"Artifact path escapes the working folder: {info.filename}"
                )
            archive.extract(info, root)
    return root / layout.prefix
