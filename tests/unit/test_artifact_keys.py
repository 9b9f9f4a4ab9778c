"""Artifact keys, and decoding the URL-encoded keys S3 puts in its events."""

import pytest

from chalicelib.services.deploys import (
    artifact_key,
    deploy_id_from_key,
    execution_name,
)


def test_artifact_key_is_under_deploys_and_named_artifact_zip() -> None:
    assert artifact_key("dep_abc") == "deploys/dep_abc/artifact.zip"


def test_a_key_round_trips_to_its_deploy_id() -> None:
    assert deploy_id_from_key(artifact_key("dep_abc")) == "dep_abc"


@pytest.mark.parametrize(
    ("key", "deploy_id"),
    [
        ("deploys/dep_x/artifact.zip", "dep_x"),
        ("deploys%2Fdep_x%2Fartifact.zip", "dep_x"),
        ("deploys%2fdep_x%2fartifact.zip", "dep_x"),
        ("deploys/dep+x/artifact.zip", "dep x"),
        ("deploys%2Fdep+with+space%2Fartifact.zip", "dep with space"),
        ("deploys%2Fdep%2Bplus%2Fartifact.zip", "dep+plus"),
        ("deploys%2Fdep%5Fx%2Fartifact.zip", "dep_x"),
    ],
)
def test_deploy_id_from_key_decodes_s3_event_keys(key: str, deploy_id: str) -> None:
    assert deploy_id_from_key(key) == deploy_id


@pytest.mark.parametrize(
    "key",
    [
        "",
        "deploys/",
        "deploys/dep_x",
        "deploys/dep_x/",
        "deploys/dep_x/other.zip",
        "deploys/dep_x/artifact.zip/extra",
        "deploys/a/dep_x/artifact.zip",
        "uploads/dep_x/artifact.zip",
        "Deploys/dep_x/artifact.zip",
        "/deploys/dep_x/artifact.zip",
        "deploys%2Fdep_x%2Fartifact.zip.tmp",
    ],
)
def test_deploy_id_from_key_ignores_keys_that_are_not_artifacts(key: str) -> None:
    assert deploy_id_from_key(key) is None


def test_execution_name_is_derived_from_the_deploy_id() -> None:
    assert execution_name("dep_abc") == "deploy-dep_abc"
