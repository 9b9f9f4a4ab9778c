"""Size of the Lambda package as AWS gets it (`chalice package`, stage prod).

    .venv/bin/python bench/lambda_package.py

Packages the app with the same overrides the CDK stack uses and prints the
zipped and unzipped sizes and the largest top-level entries.
"""

import os
import sys
import tempfile
import zipfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024
LAMBDA_ZIPPED_LIMIT = 50 * 1024 * 1024


def main() -> None:
    from chalice import api

    from infra.stack import chalice_stage_config

    with tempfile.TemporaryDirectory() as folder:
        api.package_app(
            project_dir=str(ROOT),
            output_dir=folder,
            stage="prod",
            chalice_config=chalice_stage_config(),
        )
        path = Path(folder) / "deployment.zip"
        zipped = path.stat().st_size
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
        unzipped = sum(info.file_size for info in infos)
        by_top = Counter()
        for info in infos:
            by_top[info.filename.split("/")[0]] += info.file_size
    mib = 1024 * 1024
    print(
        f"deployment.zip: {zipped / mib:.1f} MiB zipped "
        f"({zipped / LAMBDA_ZIPPED_LIMIT:.0%} of the 50 MiB direct-upload limit)"
    )
    print(
        f"unzipped: {unzipped / mib:.1f} MiB in {len(infos)} files "
        f"({unzipped / LAMBDA_UNZIPPED_LIMIT:.0%} of the 250 MiB limit)"
    )
    print("largest top-level entries (unzipped):")
    for name, size in by_top.most_common(10):
        print(f"  {name:32} {size / mib:6.1f} MiB")


if __name__ == "__main__":
    main()
