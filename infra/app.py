"""Synthesize the platform stack offline: `python infra/app.py [outdir]`.

No AWS account and no AWS calls: `chalice package` builds the Lambda zip
(it may fetch wheels from PyPI) and CDK writes CloudFormation JSON into
infra/cdk.out/. `make deploy` hands that to the CDK CLI.
"""

import contextlib
import os
import shutil
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_OUTDIR = PROJECT_DIR / "infra" / "cdk.out"
DEFAULT_STAGE = "prod"

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
# chalice's packager builds a boto3 session; any region will do offline.
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))


def synth(outdir: Path = DEFAULT_OUTDIR, stage: str = DEFAULT_STAGE):  # type: ignore[no-untyped-def]
    """Build the app and write its cloud assembly; return (assembly, stack)."""
    import aws_cdk as cdk

    from infra.stack import PlatformStack

    outdir.mkdir(parents=True, exist_ok=True)
    # chalice.cdk adds a fresh package folder on every run; keep only one.
    shutil.rmtree(outdir / "chalice.out", ignore_errors=True)
    app = cdk.App(outdir=str(outdir))
    # chalice.cdk writes its package under the working directory.
    with contextlib.chdir(outdir):
        stack = PlatformStack(app, stage)
        assembly = app.synth()
    return assembly, stack


def main(argv: list[str]) -> int:
    outdir = Path(argv[1]).resolve() if len(argv) > 1 else DEFAULT_OUTDIR
    stage = os.environ.get("PLATFORM_DEPLOY_STAGE", DEFAULT_STAGE)
    assembly, stack = synth(outdir, stage)
    template = Path(assembly.directory) / stack.template_file
    print(f"Synthesized {stack.stack_name} into {template}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
