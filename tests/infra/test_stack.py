"""The synthesized stack, asserted offline against the shared definitions."""

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from infra.access import FUNCTION_GRANTS
from infra.definitions import (
    MAX_RECEIVES,
    Names,
    bucket_notification,
    state_machine_definition,
    table_specs,
)
from infra.stack import (
    DASHBOARD_PATHS,
    RUNTIME_CLASS,
    STEP_QUEUE_URL_VARIABLE,
    notification_for_cloudformation,
    streaming_paths,
)
from tests.infra.conftest import Synth

NAMES = Names("prod")
SETTINGS_FROM_STACK = (
    "PLATFORM_TABLE_PREFIX",
    "PLATFORM_ARTIFACT_BUCKET",
    "PLATFORM_STEP_QUEUE_URL",
    "PLATFORM_STATE_MACHINE_ARN",
    "PLATFORM_KMS_KEY_ID",
    "PLATFORM_RUNTIME",
    "PLATFORM_AWS_BUILD_PROJECT",
    "PLATFORM_AWS_APP_ROLE_ARN",
)


@pytest.fixture(scope="module")
def template(synth: Synth) -> Template:
    return Template.from_json(synth.template)


def _functions(synth: Synth) -> dict[str, dict[str, Any]]:
    return {
        **synth.resources("AWS::Serverless::Function"),
        **synth.resources("AWS::Lambda::Function"),
    }


def _by_name(synth: Synth, kind: str, key: str, name: str) -> dict[str, Any]:
    matches = [
        r for r in synth.resources(kind).values() if r["Properties"].get(key) == name
    ]
    assert len(matches) == 1, f"expected one {kind} named {name}"
    return matches[0]["Properties"]


def _keys(schema: list[dict[str, str]]) -> list[dict[str, str]]:
    ordered = sorted(schema, key=lambda k: k["KeyType"] != "HASH")
    return [
        {"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]} for k in ordered
    ]


@pytest.mark.parametrize(
    "model,schema,ttl",
    table_specs(),
    ids=[model.__name__ for model, _, _ in table_specs()],
)
def test_table_matches_its_model(
    synth: Synth, model: Any, schema: dict[str, Any], ttl: str | None
) -> None:
    table = _by_name(
        synth, "AWS::DynamoDB::Table", "TableName", NAMES.prefix + model.Meta.base_name
    )
    assert table["KeySchema"] == _keys(schema["key_schema"])
    assert sorted(table["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == (
        sorted(schema["attribute_definitions"], key=lambda a: a["AttributeName"])
    )
    expected_indexes = {
        index["index_name"]: (_keys(index["key_schema"]), index["projection"])
        for index in schema["global_secondary_indexes"]
    }
    actual_indexes = {
        index["IndexName"]: (index["KeySchema"], index["Projection"])
        for index in table.get("GlobalSecondaryIndexes", [])
    }
    assert actual_indexes == expected_indexes
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"] == {
        "PointInTimeRecoveryEnabled": True
    }
    if ttl is None:
        assert "TimeToLiveSpecification" not in table
    else:
        assert table["TimeToLiveSpecification"] == {
            "AttributeName": ttl,
            "Enabled": True,
        }


def test_every_model_has_exactly_one_table(synth: Synth) -> None:
    names = sorted(
        r["Properties"]["TableName"]
        for r in synth.resources("AWS::DynamoDB::Table").values()
    )
    assert names == sorted(NAMES.prefix + m.Meta.base_name for m, _, _ in table_specs())


def test_bucket_notification_targets_the_upload_queue(synth: Synth) -> None:
    (bucket,) = synth.resources("AWS::S3::Bucket").values()
    queue_arn = {"Fn::GetAtt": [synth.logical_id(synth.stack.upload_queue), "Arn"]}
    expected = notification_for_cloudformation(
        bucket_notification("QUEUE_ARN", "deploys/")
    )
    expected["QueueConfigurations"][0]["Queue"] = queue_arn
    props = bucket["Properties"]
    assert props["NotificationConfiguration"] == expected
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    rules = {rule["Prefix"]: rule for rule in props["LifecycleConfiguration"]["Rules"]}
    assert rules["deploys/"]["AbortIncompleteMultipartUpload"] == {
        "DaysAfterInitiation": 1
    }
    # S3 may only send to the queue from this bucket, and the policy exists first.
    assert (
        synth.logical_id(synth.stack.upload_queue.node.find_child("Policy"))
        in (bucket["DependsOn"])
    )


def test_every_queue_has_a_dead_letter_queue_and_an_alarm(synth: Synth) -> None:
    queues = synth.resources("AWS::SQS::Queue")
    alarms = synth.resources("AWS::CloudWatch::Alarm").values()
    alarmed = {
        d["Value"]["Fn::GetAtt"][0]
        for alarm in alarms
        for d in alarm["Properties"]["Dimensions"]
        if d["Name"] == "QueueName"
    }
    main = {k: q for k, q in queues.items() if "RedrivePolicy" in q["Properties"]}
    names = sorted(q["Properties"]["QueueName"] for q in main.values())
    assert names == sorted([NAMES.upload_queue, NAMES.step_queue])
    for queue in main.values():
        redrive = queue["Properties"]["RedrivePolicy"]
        assert redrive["maxReceiveCount"] == MAX_RECEIVES
        dead = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
        assert queues[dead]["Properties"]["QueueName"] == NAMES.dead_letter(
            queue["Properties"]["QueueName"]
        )
        assert dead in alarmed
    for alarm in alarms:
        assert alarm["Properties"]["AlarmActions"], "alarms notify the topic"


def test_state_machine_is_the_local_definition(synth: Synth) -> None:
    (machine,) = synth.resources("AWS::StepFunctions::StateMachine").values()
    props = machine["Properties"]
    assert props["StateMachineName"] == NAMES.state_machine
    assert json.loads(props["DefinitionString"]) == state_machine_definition(
        f"${{{STEP_QUEUE_URL_VARIABLE}}}"
    )
    step_queue = synth.logical_id(synth.stack.step_queue)
    assert props["DefinitionSubstitutions"] == {
        STEP_QUEUE_URL_VARIABLE: {"Ref": step_queue}
    }
    role = props["RoleArn"]["Fn::GetAtt"][0]
    statements = [
        s
        for policy in synth.resources("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert statements == [
        {
            "Action": "sqs:SendMessage",
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [step_queue, "Arn"]},
        }
    ]


def _statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        documents = [props.get("PolicyDocument"), props.get("KeyPolicy")]
        documents += [p.get("PolicyDocument") for p in props.get("Policies", [])]
        for document in documents:
            if isinstance(document, dict):
                found += document.get("Statement", [])
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_no_statement_grants_everything_on_everything(synth: Synth) -> None:
    statements = _statements(synth.template)
    assert len(statements) > 20
    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        actions = _as_list(statement.get("Action", []))
        resources = _as_list(statement.get("Resource", []))
        assert not ("*" in actions and "*" in resources), statement
        assert "*" not in actions, statement


def test_each_function_has_its_own_role_settings_and_log_group(synth: Synth) -> None:
    functions = _functions(synth)
    roles = synth.resources("AWS::IAM::Role")
    groups = {
        g["Properties"]["LogGroupName"]: g
        for g in synth.resources("AWS::Logs::LogGroup").values()
    }
    seen_roles = set()
    for name, function in functions.items():
        props = function["Properties"]
        role = props["Role"]["Fn::GetAtt"][0]
        assert role in roles
        assert role not in seen_roles, f"{name} shares a role"
        seen_roles.add(role)
        variables = props["Environment"]["Variables"]
        for setting in SETTINGS_FROM_STACK:
            assert setting in variables, f"{name} lacks {setting}"
        assert variables["PLATFORM_RUNTIME"] == RUNTIME_CLASS
        assert variables["PLATFORM_TABLE_PREFIX"] == NAMES.prefix
        assert f"/aws/lambda/{props['FunctionName']}" in groups
    for group in groups.values():
        assert group["Properties"]["RetentionInDays"] > 0
    chalice_functions = synth.resources("AWS::Serverless::Function")
    assert set(chalice_functions) <= set(FUNCTION_GRANTS)
    assert {"APIHandler", "OnArtifactUploaded", "OnDeployStep"} <= set(
        chalice_functions
    )


def test_sqs_event_sources_use_the_stack_queues(synth: Synth) -> None:
    functions = synth.resources("AWS::Serverless::Function")
    expected = {
        "OnArtifactUploaded": synth.logical_id(synth.stack.upload_queue),
        "OnDeployStep": synth.logical_id(synth.stack.step_queue),
    }
    for name, queue in expected.items():
        (event,) = [
            e
            for e in functions[name]["Properties"]["Events"].values()
            if e["Type"] == "SQS"
        ]
        assert event["Properties"]["Queue"] == {"Fn::GetAtt": [queue, "Arn"]}


def _role_statements(synth: Synth, function: str) -> list[dict[str, Any]]:
    props = _functions(synth)[function]["Properties"]
    role = props["Role"]["Fn::GetAtt"][0]
    # CDK moves what does not fit a role's inline policy to overflow
    # managed policies; both kinds count.
    policies = [
        *synth.resources("AWS::IAM::Policy").values(),
        *synth.resources("AWS::IAM::ManagedPolicy").values(),
    ]
    return [
        s
        for policy in policies
        if {"Ref": role} in policy["Properties"].get("Roles", [])
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statements: list[dict[str, Any]]) -> set[str]:
    return {a for s in statements for a in _as_list(s["Action"])}


def test_workers_get_only_what_they_use(synth: Synth) -> None:
    upload = _actions(_role_statements(synth, "OnArtifactUploaded"))
    assert "states:StartExecution" in upload
    assert not any(a.startswith(("kms:", "lambda:", "codebuild:")) for a in upload)
    assert "s3:PutObject" not in upload
    step = _actions(_role_statements(synth, "OnDeployStep"))
    assert {"states:SendTaskSuccess", "codebuild:StartBuild", "iam:PassRole"} <= step
    assert "kms:GenerateDataKey" not in step
    api = _actions(_role_statements(synth, "APIHandler"))
    assert {"kms:GenerateDataKey", "s3:PutObject", "states:StartExecution"} <= api
    assert not any(a.startswith(("lambda:", "codebuild:", "iam:")) for a in api)


def test_streaming_function_may_do_what_the_dashboard_forms_do(synth: Synth) -> None:
    (streaming,) = synth.resources("AWS::Lambda::Function")
    actions = _actions(_role_statements(synth, streaming))
    api = _actions(_role_statements(synth, "APIHandler"))
    assert actions == api
    wanted = {"kms:GenerateDataKey", "states:StartExecution", "sqs:SendMessage"}
    assert wanted <= actions


def test_stage_values_come_from_secrets_manager_and_ssm(synth: Synth) -> None:
    (secret_id,) = synth.resources("AWS::SecretsManager::Secret")
    secret = synth.template["Resources"][secret_id]["Properties"]
    assert secret["Name"] == NAMES.cursor_secret
    assert secret["GenerateSecretString"]["PasswordLength"] >= 64
    (parameter,) = synth.resources("AWS::SSM::Parameter").values()
    assert parameter["Properties"]["Name"] == NAMES.public_url_parameter
    value = json.dumps(parameter["Properties"]["Value"])
    assert synth.logical_id(synth.stack.distribution) in value
    for function in ("APIHandler", *synth.resources("AWS::Lambda::Function")):
        env = _functions(synth)[function]["Properties"]["Environment"]["Variables"]
        assert env["PLATFORM_CURSOR_SECRET_ARN"] == {"Ref": secret_id}
        assert env["PLATFORM_PUBLIC_URL_PARAMETER"] == NAMES.public_url_parameter
        actions = _actions(_role_statements(synth, function))
        assert {"secretsmanager:GetSecretValue", "ssm:GetParameter"} <= actions
    for worker in ("OnArtifactUploaded", "OnDeployStep", "Sweep"):
        actions = _actions(_role_statements(synth, worker))
        assert not any(a.startswith(("secretsmanager:", "ssm:")) for a in actions)


def test_upload_worker_tables_are_the_deploy_tables(synth: Synth) -> None:
    statements = _role_statements(synth, "OnArtifactUploaded")
    (dynamo,) = [s for s in statements if "dynamodb:GetItem" in _as_list(s["Action"])]
    tables = {
        r["Fn::GetAtt"][0]
        for r in dynamo["Resource"]
        if isinstance(r, dict) and "Fn::GetAtt" in r
    }
    names = {synth.template["Resources"][t]["Properties"]["TableName"] for t in tables}
    assert names == {NAMES.prefix + n for n in ("deploys", "deploy-logs", "projects")}


def test_streaming_function_streams_behind_a_function_url(
    synth: Synth, template: Template
) -> None:
    template.has_resource_properties(
        "AWS::Lambda::Url",
        {"AuthType": "NONE", "InvokeMode": "RESPONSE_STREAM"},
    )
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "run.sh",
            "Environment": {
                "Variables": Match.object_like(
                    {
                        "AWS_LAMBDA_EXEC_WRAPPER": "/opt/bootstrap",
                        "AWS_LWA_INVOKE_MODE": "response_stream",
                    }
                )
            },
        },
    )

    (streaming,) = synth.resources("AWS::Lambda::Function").values()
    assert ":layer:LambdaAdapterLayerX86:" in json.dumps(
        streaming["Properties"]["Layers"]
    )


def test_one_base_url_routes_streaming_paths_to_the_function(synth: Synth) -> None:
    (distribution,) = synth.resources("AWS::CloudFront::Distribution").values()
    config = distribution["Properties"]["DistributionConfig"]
    origins = {o["Id"]: o for o in config["Origins"]}
    default = origins[config["DefaultCacheBehavior"]["TargetOriginId"]]
    assert default["OriginPath"] == "/v1"
    assert "execute-api" in json.dumps(default["DomainName"])
    behaviors = {b["PathPattern"]: b for b in config["CacheBehaviors"]}
    required = [
        "/v1/studio/deploys/*/logs/stream",
        "/v1/chat/completions",
        "/v1/messages",
        "/v1/responses",
        "/v1/models",
    ]
    assert set(required) <= set(behaviors)
    assert set(streaming_paths()) | set(DASHBOARD_PATHS) == set(behaviors)
    url = synth.logical_id(synth.stack.streaming_url)
    for pattern in behaviors.values():
        origin = origins[pattern["TargetOriginId"]]
        assert url in json.dumps(origin["DomainName"])
        assert pattern["AllowedMethods"] == [
            "GET",
            "HEAD",
            "OPTIONS",
            "PUT",
            "PATCH",
            "POST",
            "DELETE",
        ]


# CloudFront's managed policies (their ids are fixed by AWS).
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"


def test_dashboard_goes_to_the_streaming_function_uncached(synth: Synth) -> None:
    (distribution,) = synth.resources("AWS::CloudFront::Distribution").values()
    config = distribution["Properties"]["DistributionConfig"]
    origins = {o["Id"]: o for o in config["Origins"]}
    behaviors = {b["PathPattern"]: b for b in config["CacheBehaviors"]}
    assert {"/dashboard", "/dashboard/*"} <= set(behaviors)
    url = synth.logical_id(synth.stack.streaming_url)
    for pattern in ("/dashboard", "/dashboard/*"):
        behavior = behaviors[pattern]
        assert url in json.dumps(origins[behavior["TargetOriginId"]]["DomainName"])
        # Forms post; pages and static files are never cached.
        assert {"GET", "HEAD", "POST"} <= set(behavior["AllowedMethods"])
        assert behavior["CachePolicyId"] == CACHING_DISABLED
        # Cookies (the session), query strings (filters, pages) and every
        # header but Host (the function URL needs its own) reach the app.
        assert behavior["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST_HEADER
        assert behavior["ViewerProtocolPolicy"] in ("https-only", "redirect-to-https")
    # No API or streaming pattern also matches a dashboard path.
    others = [p for p in behaviors if p not in DASHBOARD_PATHS]
    assert not [p for p in others if p.startswith("/dashboard")]


def test_schedules_target_the_chalice_handlers_that_exist(synth: Synth) -> None:
    functions = synth.resources("AWS::Serverless::Function")
    scheduled = {
        name
        for name, f in functions.items()
        for e in f["Properties"].get("Events", {}).values()
        if e["Type"] == "Schedule"
    }
    present = {"Sweep", "CheckDomains"} & set(functions)
    if not present:
        pytest.skip("no scheduled handlers are registered in app.py yet")
    assert present <= scheduled


def test_outputs_name_every_setting_for_the_admin_command(synth: Synth) -> None:
    outputs = synth.template["Outputs"]
    described = {
        o["Description"]
        for o in outputs.values()
        if o.get("Description", "").startswith("PLATFORM_")
    }
    (api,) = [
        f
        for name, f in synth.resources("AWS::Serverless::Function").items()
        if name == "APIHandler"
    ]
    platform = {
        k
        for k in api["Properties"]["Environment"]["Variables"]
        if k.startswith("PLATFORM_")
    }
    assert described == platform
    assert "BaseUrl" in outputs


def test_prod_stage_config_names_the_aws_runtime() -> None:
    from pathlib import Path

    config = json.loads(
        (Path(__file__).resolve().parents[2] / ".chalice" / "config.json").read_text()
    )
    variables = config["stages"]["prod"]["environment_variables"]
    assert variables["PLATFORM_RUNTIME"] == RUNTIME_CLASS


def test_api_is_regional_behind_the_distribution(synth: Synth) -> None:
    api = synth.template["Resources"]["RestAPI"]["Properties"]
    assert api["EndpointConfiguration"] == "REGIONAL"
