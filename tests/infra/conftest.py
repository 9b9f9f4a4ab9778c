"""One offline synth of the whole stack per test session."""

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass
class Synth:
    outdir: Path
    template_path: Path
    template: dict[str, Any]
    stack: Any
    deployment_zip: Path
    streaming_zip: Path

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        return {
            name: resource
            for name, resource in self.template["Resources"].items()
            if resource["Type"] == kind
        }

    def logical_id(self, construct: Any) -> str:
        element = getattr(construct.node, "default_child", None) or construct
        return str(self.stack.get_logical_id(element))


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    from infra.app import synth as run_synth

    outdir = tmp_path_factory.mktemp("cdk.out")
    assembly, stack = run_synth(outdir, "prod")
    template_path = Path(assembly.directory) / stack.template_file
    return Synth(
        outdir=outdir,
        template_path=template_path,
        template=json.loads(template_path.read_text()),
        stack=stack,
        deployment_zip=stack.deployment_zip,
        streaming_zip=outdir / "streaming-bundle.zip",
    )


@pytest.fixture(autouse=True)
def restore_environment() -> Any:
    """The admin command exports stack settings; keep them out of later tests."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
