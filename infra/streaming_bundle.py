"""The streaming function's code: the Chalice package plus an ASGI server.

The streaming routes share `chalicelib` and its dependencies with the API,
so the bundle starts from the very deployment zip `chalice package` built
and adds uvicorn (pure Python, pinned in requirements-dev.txt) and the
start script the Lambda Web Adapter runs. Nothing is downloaded here.
"""

import importlib.metadata
import shutil
import zipfile
from pathlib import Path

SERVER_DISTRIBUTIONS = ("uvicorn", "h11", "click")
START_SCRIPT = "run.sh"
PORT = 8000

RUN_SH = f"""#!/bin/sh
# Started by the Lambda Web Adapter (AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap).
cd "$LAMBDA_TASK_ROOT"
exec python3 -m uvicorn --factory chalicelib.streaming:create_app \\
  --host 127.0.0.1 --port "${{PORT:-{PORT}}}" --no-access-log
"""


def build(deployment_zip: Path, dest: Path) -> Path:
    """Write the bundle zip at `dest` and return it."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(deployment_zip, dest)
    with zipfile.ZipFile(dest, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        present = set(archive.namelist())
        for name in SERVER_DISTRIBUTIONS:
            _add_distribution(archive, name, present)
        script = zipfile.ZipInfo(START_SCRIPT, date_time=(2020, 1, 1, 0, 0, 0))
        script.external_attr = (0o100755 & 0xFFFF) << 16
        script.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(script, RUN_SH)
    return dest


def _add_distribution(archive: zipfile.ZipFile, name: str, present: set[str]) -> None:
    dist = importlib.metadata.distribution(name)
    wheel = dist.read_text("WHEEL") or ""
    if "Root-Is-Purelib: true" not in wheel:
        raise RuntimeError(f"{name} is not pure Python; it cannot be bundled.")
    root = Path(str(dist.locate_file("")))
    for file in dist.files or []:
        parts = Path(str(file)).parts
        if not parts or parts[0] in ("..", "bin") or "__pycache__" in parts:
            continue
        source = root / file
        if not source.is_file():
            continue
        arcname = Path(str(file)).as_posix()
        if arcname not in present:
            archive.write(source, arcname)
