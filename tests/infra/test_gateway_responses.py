"""API Gateway's own errors are problem+json too (issue 8)."""

import json

from infra.stack import GATEWAY_PROBLEMS
from tests.infra.conftest import Synth


def test_gateway_refusals_are_problem_json(synth: Synth) -> None:
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in synth.resources("AWS::ApiGateway::GatewayResponse").values()
    }
    assert set(responses) == {kind for kind, _, _ in GATEWAY_PROBLEMS}
    for kind, status, title in GATEWAY_PROBLEMS:
        props = responses[kind]
        assert props["StatusCode"] == str(status)
        headers = props["ResponseParameters"]
        assert headers["gatewayresponse.header.Content-Type"] == (
            "'application/problem+json'"
        )
        template = props["ResponseTemplates"]["application/json"]
        # What API Gateway renders: its message is a JSON string already.
        rendered = json.loads(
            template.replace("$context.error.messageString", '"Forbidden"').replace(
                "$context.path", "/v1/x"
            )
        )
        assert rendered["status"] == status
        assert rendered["title"] == title
        assert rendered["detail"] == "Forbidden"
    missing = responses["MISSING_AUTHENTICATION_TOKEN"]
    assert missing["StatusCode"] == "404"
