"""The Lambda packages as AWS gets them, and the template as cfn-lint sees it."""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.infra.conftest import Synth

ROOT = Path(__file__).resolve().parents[2]

# Imported with only the package on sys.path (no site-packages, no repo).
IMPORT_CHECK = """
import importlib, json, sys
root = sys.argv[1]
sys.path[:0] = [root]
import app
from chalicelib.services.runtime import Runtime
runtime = importlib.import_module("chalicelib.services.aws_runtime").AwsRuntime
modules = {}
for name in sys.argv[2:]:
    modules[name] = importlib.import_module(name).__file__
outside = sorted(
    name for name, module in sys.modules.items()
    if getattr(module, "__file__", None)
    and "site-packages" in module.__file__
)
print(json.dumps({
    "routes": sorted(app.app.routes),
    "handlers": sorted(app.app.handler_map),
    "modules": modules,
    "outside": outside,
    "runtime": all(hasattr(runtime, m) for m in ("build", "start", "wait_healthy",
                                                  "mark_running", "stop", "prune")),
}))
"""


def _import_packaged(zip_path: Path, folder: Path, *modules: str) -> dict:
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(folder)
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", IMPORT_CHECK, str(folder), *modules],
        capture_output=True,
        text=True,
        cwd=folder,
        env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1"},
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_packaged_api_imports_with_only_its_dependencies(
    synth: Synth, tmp_path: Path
) -> None:
    report = _import_packaged(
        synth.deployment_zip, tmp_path, "pynamodb", "pydantic_core", "chalicelib"
    )
    assert "/v1/auth/verify" in report["routes"]
    assert {"on_artifact_uploaded", "on_deploy_step"} <= set(report["handlers"])
    for name, path in report["modules"].items():
        assert path.startswith(str(tmp_path)), f"{name} came from {path}"
    assert report["outside"] == []
    assert report["runtime"]
    names = zipfile.ZipFile(synth.deployment_zip).namelist()
    assert not any(n.startswith(("local/", "infra/", "tests/")) for n in names)


def test_streaming_bundle_imports_the_asgi_app_and_server(
    synth: Synth, tmp_path: Path
) -> None:
    report = _import_packaged(
        synth.streaming_zip, tmp_path, "uvicorn", "chalicelib.streaming"
    )
    for name, path in report["modules"].items():
        assert path.startswith(str(tmp_path)), f"{name} came from {path}"
    info = zipfile.ZipFile(synth.streaming_zip).getinfo("run.sh")
    assert (info.external_attr >> 16) & 0o111, "run.sh must be executable"


# The packaged streaming app, as uvicorn starts it, asked for dashboard files.
SERVE_CHECK = """
import json, sys
sys.path[:0] = [sys.argv[1]]
from starlette.testclient import TestClient
from chalicelib.streaming import create_app
client = TestClient(create_app(), base_url="https://example.cloudfront.net")
answers = {}
for path in sys.argv[2:]:
    response = client.get(path, follow_redirects=False)
    answers[path] = {
        "status": response.status_code,
        "type": response.headers.get("content-type", ""),
        "location": response.headers.get("location"),
        "cookie": response.headers.get("set-cookie", ""),
        "size": len(response.content),
    }
print(json.dumps(answers))
"""


def test_streaming_bundle_serves_the_dashboard(synth: Synth, tmp_path: Path) -> None:
    with zipfile.ZipFile(synth.streaming_zip) as archive:
        archive.extractall(tmp_path)
    paths = [
        "/dashboard",
        "/dashboard/sign-in",
        "/dashboard/static/dashboard.css",
        "/dashboard/static/vendor/chart.umd.min.js",
    ]
    settings = {
        "PLATFORM_ARTIFACT_BUCKET": "bucket",
        "PLATFORM_STEP_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/q",
        "PLATFORM_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:1:stateMachine:m",
        "PLATFORM_KMS_KEY_ID": "alias/k",
    }
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", SERVE_CHECK, str(tmp_path), *paths],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1", **settings},
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    answers = json.loads(result.stdout.strip().splitlines()[-1])
    assert answers["/dashboard"]["status"] == 307
    assert answers["/dashboard"]["location"] == "/dashboard/"
    sign_in = answers["/dashboard/sign-in"]
    assert sign_in["status"] == 200 and sign_in["type"].startswith("text/html")
    # Off loopback the CSRF cookie is Secure, HttpOnly and SameSite.
    assert "secure" in sign_in["cookie"].lower()
    assert "httponly" in sign_in["cookie"].lower()
    assert "samesite=lax" in sign_in["cookie"].lower()
    for path in paths[2:]:
        assert answers[path]["status"] == 200, path
        assert answers[path]["size"] > 0, path


def test_cfn_lint_reports_no_errors(synth: Synth) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(synth.template_path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    # cfn-lint's exit code is a bit mask: 2 means errors (4 warnings, 8 info).
    assert result.returncode & 2 == 0 and result.returncode & 1 == 0, result.stdout
