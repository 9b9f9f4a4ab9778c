"""Every way a deploy fails ends `failed` with an error that says which."""

import io
import stat
import zipfile
from typing import Any

import pytest

from chalicelib.services import deploy_logs, pipeline
from chalicelib.settings import reset_settings
from tests.conftest import Caller
from tests.fakes import FakeRuntime
from tests.functional.helpers import (
    SERVER_ZIP,
    STUDIO_ZIP,
    deploy_view,
    run_steps,
    uploaded_deploy,
    zip_bytes,
)

PRODUCTS = ["studio", "server"]
ZIPS = {"studio": STUDIO_ZIP, "server": SERVER_ZIP}


def with_symlink(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
        link = zipfile.ZipInfo(".mastra/output/secrets")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    return buffer.getvalue()


def expect_failed(
    client: Any, caller: Caller, product: str, deploy_id: str, words: str
) -> str:
    view = deploy_view(client, caller, product, deploy_id)
    assert view["status"] == "failed"
    assert view["instanceUrl"] is None
    error = str(view["error"])
    assert words.lower() in error.lower(), error
    # The reason is in the deploy's log too, where the CLI shows it.
    assert any(error in line.text for line in deploy_logs.read(deploy_id))
    return error


@pytest.mark.parametrize("product", PRODUCTS)
def test_a_broken_zip_fails_the_deploy(
    client: Any, admin: Caller, product: str
) -> None:
    deploy_id = uploaded_deploy(client, admin, product, b"PK\x03\x04 not really")
    run_steps(deploy_id)
    expect_failed(client, admin, product, deploy_id, "not a valid zip")
    assert FakeRuntime.started == []


@pytest.mark.parametrize("product", PRODUCTS)
def test_a_corrupt_zip_entry_fails_the_deploy(
    client: Any, admin: Caller, product: str
) -> None:
    content = bytearray(zip_bytes({**ZIPS[product], "big.txt": "x" * 5000}))
    data_at = content.index(b"big.txt") + len(b"big.txt")
    content[data_at + 2] ^= 0xFF
    deploy_id = uploaded_deploy(client, admin, product, bytes(content))
    run_steps(deploy_id)
    expect_failed(client, admin, product, deploy_id, "corrupt")


@pytest.mark.parametrize("product", PRODUCTS)
def test_an_artifact_over_the_size_limit_fails_the_deploy(
    client: Any, admin: Caller, product: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = zip_bytes(ZIPS[product])
    monkeypatch.setenv("PLATFORM_MAX_ARTIFACT_BYTES", str(len(content) - 1))
    reset_settings()
    deploy_id = uploaded_deploy(client, admin, product, content)
    run_steps(deploy_id)
    error = expect_failed(client, admin, product, deploy_id, "over the limit")
    assert str(len(content)) in error


@pytest.mark.parametrize("product", PRODUCTS)
def test_an_artifact_that_unpacks_too_large_fails_the_deploy(
    client: Any, admin: Caller, product: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLATFORM_MAX_UNPACKED_BYTES", "10")
    reset_settings()
    deploy_id = uploaded_deploy(client, admin, product)
    run_steps(deploy_id)
    expect_failed(client, admin, product, deploy_id, "unpacks to")


@pytest.mark.parametrize("product", PRODUCTS)
def test_a_path_that_escapes_fails_the_deploy(
    client: Any, admin: Caller, product: str
) -> None:
    content = zip_bytes({**ZIPS[product], "../evil": "gotcha"})
    deploy_id = uploaded_deploy(client, admin, product, content)
    run_steps(deploy_id)
    expect_failed(client, admin, product, deploy_id, "escapes the working folder")


@pytest.mark.parametrize("product", PRODUCTS)
def test_a_symlink_entry_fails_the_deploy(
    client: Any, admin: Caller, product: str
) -> None:
    deploy_id = uploaded_deploy(client, admin, product, with_symlink(ZIPS[product]))
    run_steps(deploy_id)
    expect_failed(client, admin, product, deploy_id, "symbolic link")


@pytest.mark.parametrize("product", PRODUCTS)
def test_a_missing_entry_file_fails_the_deploy(
    client: Any, admin: Caller, product: str
) -> None:
    content = zip_bytes({"package.json": "{}", "output/readme.md": "no build"})
    deploy_id = uploaded_deploy(client, admin, product, content)
    run_steps(deploy_id)
    expect_failed(client, admin, product, deploy_id, "no entry file")


@pytest.mark.parametrize("product", PRODUCTS)
def test_a_failed_install_fails_the_deploy(
    client: Any, admin: Caller, product: str
) -> None:
    FakeRuntime.fail_build = "Dependency install failed: npm ERR! 404 left-pad"
    deploy_id = uploaded_deploy(client, admin, product)
    run_steps(deploy_id)
    error = expect_failed(client, admin, product, deploy_id, "install failed")
    assert error == FakeRuntime.fail_build
    assert FakeRuntime.started == []
    assert deploy_id in FakeRuntime.stopped


@pytest.mark.parametrize("product", PRODUCTS)
def test_a_health_check_timeout_fails_the_deploy(
    client: Any, admin: Caller, product: str
) -> None:
    FakeRuntime.fail_health = "Health check timed out after 120 s"
    deploy_id = uploaded_deploy(client, admin, product)
    run_steps(deploy_id)
    error = expect_failed(client, admin, product, deploy_id, "health check timed out")
    assert error == FakeRuntime.fail_health
    assert FakeRuntime.started == [deploy_id]
    assert deploy_id in FakeRuntime.stopped


@pytest.mark.parametrize("product", PRODUCTS)
def test_an_artifact_deleted_before_validation_fails_the_deploy(
    client: Any, admin: Caller, product: str
) -> None:
    from chalicelib import aws
    from chalicelib.settings import get_settings

    deploy_id = uploaded_deploy(client, admin, product)
    aws.client("s3").delete_object(
        Bucket=get_settings().artifact_bucket, Key=f"deploys/{deploy_id}/artifact.zip"
    )
    run_steps(deploy_id)
    expect_failed(client, admin, product, deploy_id, "missing from storage")


@pytest.mark.parametrize("product", PRODUCTS)
def test_a_step_timeout_reported_by_the_state_machine_fails_the_deploy(
    client: Any, admin: Caller, product: str
) -> None:
    deploy_id = uploaded_deploy(client, admin, product)
    run_steps(deploy_id, ("validate",))
    pipeline.run(
        {
            "step": "fail",
            "deployId": deploy_id,
            "failedStep": "build",
            "error": {"Error": "States.Timeout", "Cause": None},
        }
    )
    error = expect_failed(client, admin, product, deploy_id, "timed out")
    assert error == "Deploy build timed out."


def test_a_step_error_with_a_cause_reports_the_cause(
    client: Any, admin: Caller
) -> None:
    deploy_id = uploaded_deploy(client, admin, "server")
    pipeline.run(
        {
            "step": "fail",
            "deployId": deploy_id,
            "failedStep": "health",
            "error": {"Error": "DeployStepFailed", "Cause": "worker lost"},
        }
    )
    error = expect_failed(client, admin, "server", deploy_id, "worker lost")
    assert error == "Deploy health check failed: worker lost"


def test_a_late_fail_message_does_not_overwrite_the_first_error(
    client: Any, admin: Caller
) -> None:
    FakeRuntime.fail_build = "Dependency install failed: npm ERR! 404"
    deploy_id = uploaded_deploy(client, admin, "server")
    run_steps(deploy_id)
    pipeline.run(
        {
            "step": "fail",
            "deployId": deploy_id,
            "failedStep": "build",
            "error": {"Error": "DeployStepFailed", "Cause": "something else"},
        }
    )
    expect_failed(client, admin, "server", deploy_id, "npm ERR! 404")


def test_a_failed_deploy_is_mirrored_on_its_project(client: Any, admin: Caller) -> None:
    FakeRuntime.fail_health = "Health check timed out after 120 s"
    deploy_id = uploaded_deploy(client, admin, "studio")
    run_steps(deploy_id)
    [project] = client.http.get(
        "/v1/studio/projects", headers=admin.headers()
    ).json_body["projects"]
    assert project["latestDeployId"] == deploy_id
    assert project["latestDeployStatus"] == "failed"
    assert project["instanceUrl"] is None


def test_unknown_step_messages_change_nothing(client: Any, admin: Caller) -> None:
    deploy_id = uploaded_deploy(client, admin, "server")
    pipeline.run({"step": "launch-rockets", "deployId": deploy_id})
    assert deploy_view(client, admin, "server", deploy_id)["status"] == "building"
