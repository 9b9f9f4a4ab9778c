"""Deploy diagnosis: 204 when healthy, null until asked, 201 once then 304."""

from typing import Any

import pytest

from tests.conftest import Caller, body
from tests.fakes import FakeRuntime
from tests.functional.helpers import (
    assert_problem,
    run_steps,
    running_deploy,
    uploaded_deploy,
    zip_bytes,
)

PRODUCTS = ["studio", "server"]
DIAGNOSIS_FIELDS = {
    "id",
    "deployId",
    "status",
    "summary",
    "recommendations",
    "error",
    "createdAt",
    "completedAt",
}


def get_diagnosis(client: Any, caller: Caller, product: str, deploy_id: str) -> Any:
    return client.http.get(
        f"/v1/{product}/deploys/{deploy_id}/diagnosis", headers=caller.headers()
    )


def post_diagnosis(client: Any, caller: Caller, product: str, deploy_id: str) -> Any:
    return client.http.post(
        f"/v1/{product}/deploys/{deploy_id}/diagnosis", headers=caller.headers()
    )


def failed_install(client: Any, caller: Caller, product: str) -> str:
    FakeRuntime.fail_build = "Dependency install failed: npm ERR! 404 left-pad"
    deploy_id = uploaded_deploy(client, caller, product)
    run_steps(deploy_id)
    return deploy_id


@pytest.mark.parametrize("product", PRODUCTS)
def test_diagnosis_of_a_running_deploy_is_204(
    client: Any, admin: Caller, product: str
) -> None:
    deploy_id = running_deploy(client, admin, product)
    response = get_diagnosis(client, admin, product, deploy_id)
    assert response.status_code == 204
    assert not response.body


@pytest.mark.parametrize("product", PRODUCTS)
def test_diagnosis_of_a_failed_deploy_is_null_before_it_is_asked_for(
    client: Any, admin: Caller, product: str
) -> None:
    deploy_id = failed_install(client, admin, product)
    response = get_diagnosis(client, admin, product, deploy_id)
    assert response.status_code == 200, response.body
    assert body(response) == {"diagnosis": None}


@pytest.mark.parametrize("product", PRODUCTS)
def test_diagnosis_post_is_201_then_304(
    client: Any, admin: Caller, product: str
) -> None:
    deploy_id = failed_install(client, admin, product)
    first = post_diagnosis(client, admin, product, deploy_id)
    second = post_diagnosis(client, admin, product, deploy_id)
    assert first.status_code == 201, first.body
    assert second.status_code == 304, second.body
    # The diagnosis written first is the one kept.
    created = body(first)["diagnosis"]
    kept = body(get_diagnosis(client, admin, product, deploy_id))["diagnosis"]
    assert kept["id"] == created["id"]


@pytest.mark.parametrize("product", PRODUCTS)
def test_diagnosis_after_post_is_complete_with_a_matching_recommendation(
    client: Any, admin: Caller, product: str
) -> None:
    deploy_id = failed_install(client, admin, product)
    post_diagnosis(client, admin, product, deploy_id)
    response = get_diagnosis(client, admin, product, deploy_id)
    assert response.status_code == 200, response.body
    diagnosis = body(response)["diagnosis"]
    assert set(diagnosis) == DIAGNOSIS_FIELDS
    assert diagnosis["deployId"] == deploy_id
    assert diagnosis["status"] == "COMPLETE"
    assert diagnosis["error"] is None
    assert diagnosis["completedAt"] is not None
    assert "npm ERR! 404 left-pad" in diagnosis["summary"]
    titles = [rec["title"] for rec in diagnosis["recommendations"]]
    assert titles[0] == "Fix the dependency install"
    for rec in diagnosis["recommendations"]:
        assert set(rec) == {"title", "description", "action", "docsUrl"}


@pytest.mark.parametrize(
    ("content", "fail_health", "expected"),
    [
        (
            zip_bytes({"output/readme.md": "no build"}),
            None,
            "Build the project before deploying",
        ),
        (b"garbage", None, "Upload a clean artifact"),
        (None, "Health check timed out after 120 s", "Listen on the PORT"),
    ],
    ids=["no-entry", "broken-zip", "health-timeout"],
)
def test_recommendations_follow_the_error(
    client: Any,
    admin: Caller,
    content: bytes | None,
    fail_health: str | None,
    expected: str,
) -> None:
    FakeRuntime.fail_health = fail_health
    deploy_id = uploaded_deploy(client, admin, "studio", content)
    run_steps(deploy_id)
    assert post_diagnosis(client, admin, "studio", deploy_id).status_code == 201
    diagnosis = body(get_diagnosis(client, admin, "studio", deploy_id))["diagnosis"]
    titles = [rec["title"] for rec in diagnosis["recommendations"]]
    assert any(title.startswith(expected) for title in titles), titles


def test_diagnosis_of_an_unknown_deploy_is_a_404_problem(
    client: Any, admin: Caller
) -> None:
    assert_problem(get_diagnosis(client, admin, "studio", "dep_aaaaaaaaaaaaaaaa"), 404)
    assert_problem(post_diagnosis(client, admin, "server", "dep_aaaaaaaaaaaaaaaa"), 404)
