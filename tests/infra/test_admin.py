"""`python -m infra.admin bootstrap`: the first admin of a fresh deployment."""

import json

import boto3
import pytest

from chalicelib.errors import Conflict
from chalicelib.models import ApiToken, Membership
from chalicelib.services import accounts, passwords
from chalicelib.services.auth import authenticate
from infra import admin


def test_bootstrap_creates_an_admin_whose_token_authenticates(
    platform: dict[str, str],
) -> None:
    result = admin.bootstrap("Owner@Example.com", "Acme", "a long enough passphrase 7")
    principal = authenticate({"authorization": f"Bearer {result.token}"})
    assert principal.org_id == result.org_id
    assert Membership.get(result.org_id, result.user_id).role == "admin"
    user = accounts.user_by_email("owner@example.com")
    assert user is not None and user.id == result.user_id
    assert passwords.verify_password(user.password_hash, "a long enough passphrase 7")
    (token,) = list(ApiToken.scan())
    assert result.token not in json.dumps(token.attribute_values, default=str)


def test_bootstrap_twice_is_refused(platform: dict[str, str]) -> None:
    admin.bootstrap("owner@example.com", "Acme")
    with pytest.raises(Conflict, match="already exists"):
        admin.bootstrap("owner@example.com", "Other")
    assert len(list(ApiToken.scan())) == 1


def test_settings_come_from_the_stack_outputs(platform: dict[str, str]) -> None:
    template = {
        "Resources": {"Nothing": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {
            "BaseUrl": {"Value": "https://d1.cloudfront.net"},
            "PlatformTablePrefix": {
                "Value": "mastra-prod-",
                "Description": "PLATFORM_TABLE_PREFIX",
            },
            "StreamingFunctionUrl": {"Value": "https://x.lambda-url.aws/"},
        },
    }
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    cloudformation.create_stack(
        StackName="mastra-prod", TemplateBody=json.dumps(template)
    )
    settings, base_url = admin.stack_settings(cloudformation, "prod")
    assert settings == {"PLATFORM_TABLE_PREFIX": "mastra-prod-"}
    assert base_url == "https://d1.cloudfront.net"
