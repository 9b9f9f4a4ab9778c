"""The whole platform as one CloudFormation stack.

Tables, bucket notification, queues and the state machine come from
infra.definitions, the same functions local/emulator.py provisions moto
with, so the laptop and AWS cannot drift apart.
"""

import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from aws_cdk import aws_stepfunctions as sfn
from chalice.cdk import Chalice
from constructs import Construct

from infra import streaming_bundle
from infra.access import (
    STREAMING_GRANTS,
    TABLE_READ,
    TABLE_WRITE,
    Grants,
    grants_for,
)
from infra.definitions import (
    MAX_RECEIVES,
    STEP_QUEUE_VISIBILITY,
    UPLOAD_QUEUE_VISIBILITY,
    Names,
    bucket_notification,
    state_machine_definition,
    table_specs,
)

PROJECT_DIR = Path(__file__).resolve().parent.parent
ARTIFACT_PREFIX = "deploys/"
BUILD_PREFIX = "builds/"
RUNTIME_CLASS = "chalicelib.services.aws_runtime:AwsRuntime"
# Lambda Web Adapter, published by AWS Labs in every commercial region.
LWA_ACCOUNT = "753240598075"
LWA_LAYER_VERSION = 22
LOG_RETENTION = logs.RetentionDays.TWO_WEEKS
# The substitution variable the state machine definition is written with.
STEP_QUEUE_URL_VARIABLE = "StepQueueUrl"
# Placeholder Chalice needs when it does not manage roles; every function's
# Role is overridden below with its own least-privilege role.
ROLE_PLACEHOLDER = "arn:aws:iam::000000000000:role/replaced-by-infra-stack"
# Per-function CloudFormation properties beyond Chalice's config: the step
# worker downloads artifacts of up to 200 MiB into /tmp.
FUNCTION_PROPERTIES: dict[str, dict[str, Any]] = {
    "OnDeployStep": {"EphemeralStorage": {"Size": 2048}},
}
# Routes served by the streaming function; the rest go to API Gateway.
GATEWAY_PATHS = ("/v1/chat/completions", "/v1/messages", "/v1/responses", "/v1/models")
# The web dashboard, also served by the streaming function.
DASHBOARD_PATHS = ("/dashboard", "/dashboard/*")


def chalice_stage_config() -> dict[str, Any]:
    """Overrides for `chalice package`: roles and settings come from here."""
    return {
        "manage_iam_role": False,
        "iam_role_arn": ROLE_PLACEHOLDER,
        "api_gateway_endpoint_type": "REGIONAL",
    }


def streaming_paths() -> list[str]:
    """CloudFront path patterns for the streaming routes."""
    from chalicelib.streaming import ROUTES

    patterns = [re.sub(r"\{[^}]+\}", "*", route.path) for route in ROUTES]
    for path in GATEWAY_PATHS:
        patterns += [path, f"{path}/*"]
    return list(dict.fromkeys(patterns))


def function_name(prefix: str, logical_id: str) -> str:
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", logical_id)
    return f"{prefix}{words.lower()}"[:64]


def notification_for_cloudformation(api: dict[str, Any]) -> dict[str, Any]:
    """S3 API notification config (infra.definitions) in CloudFormation form."""
    configurations = []
    for entry in api.get("QueueConfigurations", []):
        rules = entry.get("Filter", {}).get("Key", {}).get("FilterRules", [])
        for event in entry["Events"]:
            item: dict[str, Any] = {"Event": event, "Queue": entry["QueueArn"]}
            if rules:
                item["Filter"] = {"S3Key": {"Rules": rules}}
            configurations.append(item)
    return {"QueueConfigurations": configurations}


class PlatformStack(cdk.Stack):
    """Everything one stage of the platform needs."""

    def __init__(self, scope: Construct, stage: str, **kwargs: Any) -> None:
        # chalice.cdk names the Chalice stage after this construct's id.
        super().__init__(scope, stage, stack_name=f"mastra-{stage}", **kwargs)
        self.names = Names(stage)
        self.node.set_context("stage", stage)
        self.alarm_topic = sns.Topic(self, "Alarms", display_name="Mastra alarms")
        self.key = kms.Key(
            self,
            "SecretsKey",
            alias=f"alias/{self.names.prefix}secrets",
            description="Mastra platform secrets (envelope encryption)",
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.tables = self._tables()
        self.queues = {
            self.names.upload_queue: self._queue(
                "Upload", self.names.upload_queue, UPLOAD_QUEUE_VISIBILITY
            ),
            self.names.step_queue: self._queue(
                "Step", self.names.step_queue, STEP_QUEUE_VISIBILITY
            ),
        }
        self.upload_queue = self.queues[self.names.upload_queue]
        self.step_queue = self.queues[self.names.step_queue]
        self.bucket = self._bucket()
        self.machine = self._state_machine()
        self._runtime()
        self.cursor_secret = secretsmanager.Secret(
            self,
            "CursorSecret",
            secret_name=self.names.cursor_secret,
            description="Signs the API's pagination cursors",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True
            ),
        )
        self.platform_env = self._environment()
        self.chalice = self._chalice()
        self._gateway_responses()
        self.streaming_function, self.streaming_url = self._streaming()
        self.distribution = self._distribution()
        # Read at run time (chalicelib/services/stage_values.py): naming the
        # distribution in the functions' environment would be a cycle.
        ssm.StringParameter(
            self,
            "PublicUrl",
            parameter_name=self.names.public_url_parameter,
            string_value=f"https://{self.distribution.distribution_domain_name}",
        )
        self._outputs()

    # Data -----------------------------------------------------------------

    def _tables(self) -> dict[str, dynamodb.CfnTable]:
        tables = {}
        for model, schema, ttl in table_specs():
            base = model.Meta.base_name
            table = dynamodb.CfnTable(
                self,
                f"Table{model.__name__}",
                table_name=self.names.prefix + base,
                billing_mode="PAY_PER_REQUEST",
                key_schema=_keys(schema["key_schema"]),
                attribute_definitions=[
                    dynamodb.CfnTable.AttributeDefinitionProperty(
                        attribute_name=a["AttributeName"],
                        attribute_type=a["AttributeType"],
                    )
                    for a in schema["attribute_definitions"]
                ],
                global_secondary_indexes=[
                    dynamodb.CfnTable.GlobalSecondaryIndexProperty(
                        index_name=index["index_name"],
                        key_schema=_keys(index["key_schema"]),
                        projection=_projection(index["projection"]),
                    )
                    for index in schema.get("global_secondary_indexes", [])
                ]
                or None,
                local_secondary_indexes=[
                    dynamodb.CfnTable.LocalSecondaryIndexProperty(
                        index_name=index["index_name"],
                        key_schema=_keys(index["key_schema"]),
                        projection=_projection(index["projection"]),
                    )
                    for index in schema.get("local_secondary_indexes", [])
                ]
                or None,
                point_in_time_recovery_specification=dynamodb.CfnTable.PointInTimeRecoverySpecificationProperty(
                    point_in_time_recovery_enabled=True
                ),
                sse_specification=dynamodb.CfnTable.SSESpecificationProperty(
                    sse_enabled=True
                ),
                time_to_live_specification=dynamodb.CfnTable.TimeToLiveSpecificationProperty(
                    attribute_name=ttl, enabled=True
                )
                if ttl
                else None,
            )
            table.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
            tables[base] = table
        return tables

    def _queue(self, label: str, name: str, visibility: int) -> sqs.Queue:
        dead = sqs.Queue(
            self,
            f"{label}DeadLetterQueue",
            queue_name=self.names.dead_letter(name),
            retention_period=cdk.Duration.days(14),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
        queue = sqs.Queue(
            self,
            f"{label}Queue",
            queue_name=name,
            visibility_timeout=cdk.Duration.seconds(visibility),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(
                max_receive_count=MAX_RECEIVES, queue=dead
            ),
        )
        alarm = cloudwatch.Alarm(
            self,
            f"{label}DeadLetterAlarm",
            alarm_description=f"Messages of {name} failed {MAX_RECEIVES} times.",
            metric=dead.metric_approximate_number_of_messages_visible(
                period=cdk.Duration.minutes(5), statistic="Maximum"
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(cloudwatch_actions.SnsAction(self.alarm_topic))
        return queue

    def _bucket(self) -> s3.Bucket:
        # Bucket names are global: the stage name plus account and region.
        name = f"{self.names.bucket}-{self.account}-{self.region}"
        bucket_arn = f"arn:{self.partition}:s3:::{name}"
        self.upload_queue.add_to_resource_policy(
            iam.PolicyStatement(
                sid="S3ArtifactEvents",
                principals=[iam.ServicePrincipal("s3.amazonaws.com")],
                actions=["sqs:SendMessage"],
                resources=[self.upload_queue.queue_arn],
                conditions={
                    "ArnLike": {"aws:SourceArn": bucket_arn},
                    "StringEquals": {"aws:SourceAccount": self.account},
                },
            )
        )
        bucket = s3.Bucket(
            self,
            "Artifacts",
            bucket_name=name,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=cdk.RemovalPolicy.RETAIN,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="abandoned-uploads",
                    prefix=ARTIFACT_PREFIX,
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
                ),
                s3.LifecycleRule(
                    id="stale-builds",
                    prefix=BUILD_PREFIX,
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
                ),
            ],
        )
        cfn_bucket: s3.CfnBucket = bucket.node.default_child  # type: ignore[assignment]
        cfn_bucket.add_property_override(
            "NotificationConfiguration",
            notification_for_cloudformation(
                bucket_notification(self.upload_queue.queue_arn, ARTIFACT_PREFIX)
            ),
        )
        # S3 checks it may send to the queue when the bucket is created.
        policy = self.upload_queue.node.find_child("Policy")
        cfn_bucket.node.add_dependency(policy)
        return bucket

    def _state_machine(self) -> sfn.CfnStateMachine:
        role = iam.Role(
            self,
            "DeployMachineRole",
            assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
            description="Deploy state machine: sends steps to the workers",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["sqs:SendMessage"], resources=[self.step_queue.queue_arn]
            )
        )
        definition = state_machine_definition(f"${{{STEP_QUEUE_URL_VARIABLE}}}")
        machine = sfn.CfnStateMachine(
            self,
            "DeployMachine",
            state_machine_name=self.names.state_machine,
            role_arn=role.role_arn,
            definition_string=json.dumps(definition),
            definition_substitutions={
                STEP_QUEUE_URL_VARIABLE: self.step_queue.queue_url
            },
        )
        machine.node.add_dependency(role.node.find_child("DefaultPolicy"))
        return machine

    # Runtime for deployed apps -------------------------------------------

    def _runtime(self) -> None:
        self.lwa_layer_arn = (
            f"arn:{self.partition}:lambda:{self.region}:{LWA_ACCOUNT}:layer:"
            f"LambdaAdapterLayerX86:{LWA_LAYER_VERSION}"
        )
        self.app_prefix = f"{self.names.prefix}app-"
        self.app_log_group = logs.LogGroup(
            self,
            "AppLogs",
            log_group_name=f"/mastra/{self.names.stage}/apps",
            retention=LOG_RETENTION,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.app_role = iam.Role(
            self,
            "AppRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Deployed Mastra apps: write their own logs, nothing else",
        )
        self.app_role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[f"{self.app_log_group.log_group_arn}:*"],
            )
        )
        build_logs = logs.LogGroup(
            self,
            "BuildLogs",
            log_group_name=f"/mastra/{self.names.stage}/builds",
            retention=LOG_RETENTION,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.build_log_group = build_logs
        self.build_project = codebuild.Project(
            self,
            "AppBuild",
            project_name=f"{self.names.prefix}app-build",
            description="npm ci --omit=dev of a deploy artifact, zipped for Lambda",
            environment=codebuild.BuildEnvironment(
                build_image=codebuild.LinuxBuildImage.STANDARD_7_0,
                compute_type=codebuild.ComputeType.SMALL,
            ),
            timeout=cdk.Duration.minutes(20),
            logging=codebuild.LoggingOptions(
                cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=build_logs)
            ),
            build_spec=codebuild.BuildSpec.from_object(_buildspec()),
        )
        # The build reads the uploaded artifact and writes the installed app.
        self.bucket.grant_read(self.build_project, f"{ARTIFACT_PREFIX}*")
        self.bucket.grant_put(self.build_project, f"{BUILD_PREFIX}*")

    # Functions ------------------------------------------------------------

    def _environment(self) -> dict[str, str]:
        return {
            "PLATFORM_STAGE": self.names.stage,
            "PLATFORM_TABLE_PREFIX": self.names.prefix,
            "PLATFORM_ARTIFACT_BUCKET": self.bucket.bucket_name,
            "PLATFORM_UPLOAD_QUEUE_URL": self.upload_queue.queue_url,
            "PLATFORM_STEP_QUEUE_URL": self.step_queue.queue_url,
            "PLATFORM_STATE_MACHINE_ARN": self.machine.attr_arn,
            "PLATFORM_KMS_KEY_ID": self.key.key_id,
            "PLATFORM_CURSOR_SECRET_ARN": self.cursor_secret.secret_arn,
            "PLATFORM_PUBLIC_URL_PARAMETER": self.names.public_url_parameter,
            "PLATFORM_RUNTIME": RUNTIME_CLASS,
            "PLATFORM_AWS_BUILD_PROJECT": self.build_project.project_name,
            "PLATFORM_AWS_APP_ROLE_ARN": self.app_role.role_arn,
            "PLATFORM_AWS_APP_LAYER_ARN": self.lwa_layer_arn,
            "PLATFORM_AWS_APP_LOG_GROUP": self.app_log_group.log_group_name,
            "PLATFORM_AWS_APP_FUNCTION_PREFIX": self.app_prefix,
        }

    def _chalice(self) -> Chalice:
        app = Chalice(
            self,
            "Api",
            source_dir=str(PROJECT_DIR),
            stage_config=chalice_stage_config(),
        )
        sam_path = Path(app._sam_package_dir) / "sam.json"
        self.deployment_zip = Path(app._sam_package_dir) / "deployment.zip"
        self.sam = json.loads(sam_path.read_text())
        self.function_roles: dict[str, iam.Role] = {}
        for logical_id, resource in self.sam["Resources"].items():
            if resource["Type"] != "AWS::Serverless::Function":
                continue
            grants = grants_for(logical_id)
            name = function_name(self.names.prefix, logical_id)
            log_group = self._log_group(logical_id, name)
            role = self._role(logical_id, grants, log_group)
            cfn = app.get_resource(logical_id)
            cfn.add_property_override("FunctionName", name)
            cfn.add_property_override("Role", role.role_arn)
            for key, value in FUNCTION_PROPERTIES.get(logical_id, {}).items():
                cfn.add_property_override(key, value)
            for key, value in self.platform_env.items():
                cfn.add_property_override(f"Environment.Variables.{key}", value)
            for event_id, event in resource["Properties"].get("Events", {}).items():
                if event["Type"] != "SQS":
                    continue
                queue = self._queue_named(event["Properties"]["Queue"])
                cfn.add_property_override(
                    f"Events.{event_id}.Properties.Queue", queue.queue_arn
                )
                queue.grant_consume_messages(role)
            cfn.node.add_dependency(log_group.node.default_child)  # type: ignore[arg-type]
            cfn.node.add_dependency(
                role.node.find_child("DefaultPolicy").node.default_child
            )  # type: ignore[arg-type]
            self.function_roles[logical_id] = role
        return app

    def _gateway_responses(self) -> None:
        """Errors API Gateway answers itself, as problem+json (issue 8).

        An unknown path (and so API Gateway's "Missing Authentication Token")
        is a 404; wrong methods reach the app (chalicelib/routes/fallback.py).
        """
        rest_api = self.chalice.get_resource("RestAPI").ref
        for response_type, status, title in GATEWAY_PROBLEMS:
            template = json.dumps(
                {
                    "type": "about:blank",
                    "title": title,
                    "status": status,
                    "detail": "$context.error.messageString",
                    "message": "$context.error.messageString",
                    "instance": "$context.path",
                }
            ).replace('"$context.error.messageString"', "$context.error.messageString")
            apigateway.CfnGatewayResponse(
                self,
                f"Gateway{response_type.title().replace('_', '')}",
                rest_api_id=rest_api,
                response_type=response_type,
                status_code=str(status),
                response_parameters={
                    "gatewayresponse.header.Content-Type": "'application/problem+json'",
                    "gatewayresponse.header.Vary": "'Origin'",
                },
                response_templates={"application/json": template},
            )

    def _queue_named(self, arn: Any) -> sqs.Queue:
        text = json.dumps(arn)
        for name, queue in self.queues.items():
            if text.endswith(f':{name}"}}') or text.endswith(f':{name}"'):
                return queue
        raise KeyError(f"An SQS event source names a queue the stack lacks: {text}")

    def _log_group(self, logical_id: str, name: str) -> logs.LogGroup:
        return logs.LogGroup(
            self,
            f"{logical_id}Logs",
            log_group_name=f"/aws/lambda/{name}",
            retention=LOG_RETENTION,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )

    def _role(self, label: str, grants: Grants, log_group: logs.LogGroup) -> iam.Role:
        role = iam.Role(
            self,
            f"{label}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Mastra platform function {label}",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[f"{log_group.log_group_arn}:*"],
            )
        )
        tables = [
            table
            for base, table in self.tables.items()
            if grants.tables is None or base in grants.tables
        ]
        if tables:
            arns = [t.attr_arn for t in tables] + [
                f"{t.attr_arn}/index/*" for t in tables
            ]
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=[*TABLE_READ, *TABLE_WRITE],
                    resources=arns,
                )
            )
        objects = self.bucket.bucket_arn
        for actions, prefixes in (
            (["s3:GetObject"], grants.read_objects),
            (["s3:PutObject"], grants.write_objects),
            (["s3:DeleteObject"], grants.delete_objects),
        ):
            if prefixes:
                role.add_to_policy(
                    iam.PolicyStatement(
                        actions=actions,
                        resources=[f"{objects}/{prefix}*" for prefix in prefixes],
                    )
                )
        if grants.list_bucket:
            role.add_to_policy(
                iam.PolicyStatement(actions=["s3:ListBucket"], resources=[objects])
            )
        if grants.kms:
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=list(grants.kms), resources=[self.key.key_arn]
                )
            )
        executions = (
            f"arn:{self.partition}:states:{self.region}:{self.account}:execution:"
            f"{self.names.state_machine}:*"
        )
        if grants.start_executions:
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["states:StartExecution"],
                    resources=[self.machine.attr_arn],
                )
            )
        if grants.stop_executions:
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["states:StopExecution", "states:DescribeExecution"],
                    resources=[executions],
                )
            )
        if grants.report_tasks:
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["states:SendTaskSuccess", "states:SendTaskFailure"],
                    resources=[self.machine.attr_arn],
                )
            )
        if grants.stage_values:
            self.cursor_secret.grant_read(role)
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["ssm:GetParameter"],
                    resources=[
                        self.format_arn(
                            service="ssm",
                            resource="parameter",
                            resource_name=self.names.public_url_parameter.lstrip("/"),
                        )
                    ],
                )
            )
        if grants.send_steps:
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["sqs:SendMessage"], resources=[self.step_queue.queue_arn]
                )
            )
        if grants.manage_apps:
            self._grant_app_management(role)
        return role

    def _grant_app_management(self, role: iam.Role) -> None:
        functions = (
            f"arn:{self.partition}:lambda:{self.region}:{self.account}:function:"
            f"{self.app_prefix}*"
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "codebuild:StartBuild",
                    "codebuild:BatchGetBuilds",
                    "codebuild:StopBuild",
                ],
                resources=[self.build_project.project_arn],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:GetLogEvents"],
                resources=[f"{self.build_log_group.log_group_arn}:*"],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "lambda:CreateFunction",
                    "lambda:UpdateFunctionCode",
                    "lambda:UpdateFunctionConfiguration",
                    "lambda:GetFunctionConfiguration",
                    "lambda:DeleteFunction",
                    "lambda:CreateFunctionUrlConfig",
                    "lambda:GetFunctionUrlConfig",
                    "lambda:AddPermission",
                    "lambda:TagResource",
                ],
                resources=[functions],
            )
        )
        # ListFunctions cannot be scoped to a resource.
        role.add_to_policy(
            iam.PolicyStatement(actions=["lambda:ListFunctions"], resources=["*"])
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["lambda:GetLayerVersion"], resources=[self.lwa_layer_arn]
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[self.app_role.role_arn],
                conditions={
                    "StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}
                },
            )
        )

    def _streaming(self) -> tuple[lambda_.Function, lambda_.FunctionUrl]:
        name = function_name(self.names.prefix, "Streaming")
        log_group = self._log_group("Streaming", name)
        role = self._role("Streaming", STREAMING_GRANTS, log_group)
        outdir = Path(cdk.Stage.of(self).outdir)  # type: ignore[union-attr]
        bundle = streaming_bundle.build(
            self.deployment_zip, outdir / "streaming-bundle.zip"
        )
        runtime = self.sam["Resources"]["APIHandler"]["Properties"]["Runtime"]
        function = lambda_.Function(
            self,
            "Streaming",
            function_name=name,
            description="Streaming routes: studio log SSE and the LLM gateway proxy",
            runtime=lambda_.Runtime(runtime, lambda_.RuntimeFamily.PYTHON),
            handler=streaming_bundle.START_SCRIPT,
            code=lambda_.Code.from_asset(str(bundle)),
            layers=[
                lambda_.LayerVersion.from_layer_version_arn(
                    self, "WebAdapter", self.lwa_layer_arn
                )
            ],
            memory_size=1024,
            timeout=cdk.Duration.minutes(15),
            role=role,
            log_group=log_group,
            environment={
                **self.platform_env,
                "POWERTOOLS_SERVICE_NAME": "mastra-platform",
                "AWS_LAMBDA_EXEC_WRAPPER": "/opt/bootstrap",
                "AWS_LWA_INVOKE_MODE": "response_stream",
                "PORT": str(streaming_bundle.PORT),
                # End streams before the 15-minute budget; clients resume.
                "PLATFORM_SSE_MAX_SECONDS": "840",
            },
        )
        url = function.add_function_url(
            auth_type=lambda_.FunctionUrlAuthType.NONE,
            invoke_mode=lambda_.InvokeMode.RESPONSE_STREAM,
        )
        return function, url

    def _distribution(self) -> cloudfront.Distribution:
        rest_api = self.chalice.get_resource("RestAPI").ref
        api_domain = f"{rest_api}.execute-api.{self.region}.{self.url_suffix}"
        stage = self.sam["Resources"]["RestAPI"]["Properties"]["StageName"]
        api_origin = origins.HttpOrigin(
            api_domain,
            origin_path=f"/{stage}",
            protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
        )
        # Nothing is cached; Authorization and the org header reach origins.
        no_cache = cloudfront.CachePolicy(
            self,
            "PassThrough",
            default_ttl=cdk.Duration.seconds(0),
            min_ttl=cdk.Duration.seconds(0),
            max_ttl=cdk.Duration.seconds(1),
            header_behavior=cloudfront.CacheHeaderBehavior.allow_list(
                "Authorization", "x-organization-id"
            ),
            query_string_behavior=cloudfront.CacheQueryStringBehavior.all(),
            cookie_behavior=cloudfront.CacheCookieBehavior.none(),
        )

        def behavior(origin: Any) -> cloudfront.BehaviorOptions:
            return cloudfront.BehaviorOptions(
                origin=origin,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                cache_policy=no_cache,
                origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
                compress=False,
            )

        stream_origin = origins.FunctionUrlOrigin(
            self.streaming_url, read_timeout=cdk.Duration.seconds(60)
        )
        # The dashboard (in the streaming app): pages, forms, static files
        # and the deploy page's SSE. Never cached; every cookie, query
        # string and header but Host reaches the function.
        dashboard = cloudfront.BehaviorOptions(
            origin=stream_origin,
            allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
            viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
            cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
            origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
            compress=False,
        )
        return cloudfront.Distribution(
            self,
            "Front",
            comment=f"Mastra platform {self.names.stage}",
            default_behavior=behavior(api_origin),
            additional_behaviors={
                **{path: behavior(stream_origin) for path in streaming_paths()},
                **{path: dashboard for path in DASHBOARD_PATHS},
            },
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
        )

    def _outputs(self) -> None:
        cdk.CfnOutput(
            self,
            "BaseUrl",
            description="One base URL for the API and the streaming routes",
            value=f"https://{self.distribution.distribution_domain_name}",
        )
        cdk.CfnOutput(self, "StreamingFunctionUrl", value=self.streaming_url.url)
        # Each setting's output is described by its variable (infra.admin).
        for key, value in self.platform_env.items():
            output_id = re.sub(r"[^A-Za-z0-9]", "", key.title())
            cdk.CfnOutput(self, output_id, value=value, description=key)


# API Gateway's own refusals, each with the status and title it is sent as.
GATEWAY_PROBLEMS = (
    ("MISSING_AUTHENTICATION_TOKEN", 404, "Not Found"),
    ("RESOURCE_NOT_FOUND", 404, "Not Found"),
    ("REQUEST_TOO_LARGE", 413, "Payload Too Large"),
    ("UNSUPPORTED_MEDIA_TYPE", 415, "Unsupported Media Type"),
    ("THROTTLED", 429, "Too Many Requests"),
    ("INTEGRATION_TIMEOUT", 504, "Gateway Timeout"),
    ("DEFAULT_4XX", 400, "Bad Request"),
    ("DEFAULT_5XX", 502, "Bad Gateway"),
)


def _keys(schema: list[dict[str, str]]) -> list[dynamodb.CfnTable.KeySchemaProperty]:
    ordered = sorted(schema, key=lambda k: k["KeyType"] != "HASH")
    return [
        dynamodb.CfnTable.KeySchemaProperty(
            attribute_name=k["AttributeName"], key_type=k["KeyType"]
        )
        for k in ordered
    ]


def _projection(projection: dict[str, Any]) -> dynamodb.CfnTable.ProjectionProperty:
    return dynamodb.CfnTable.ProjectionProperty(
        projection_type=projection.get("ProjectionType"),
        non_key_attributes=projection.get("NonKeyAttributes"),
    )


def _buildspec() -> dict[str, Any]:
    install = (
        "if [ -f package-lock.json ] || [ -f npm-shrinkwrap.json ]; then "
        "npm ci --omit=dev --no-audit --no-fund; "
        "elif [ -f package.json ]; then "
        "npm install --omit=dev --no-audit --no-fund; "
        'else echo "No package.json in the build output; nothing to install"; fi'
    )
    return {
        "version": "0.2",
        "env": {
            "variables": {"MASTRA_TELEMETRY_DISABLED": "1", "NO_UPDATE_NOTIFIER": "1"}
        },
        "phases": {
            "install": {"runtime-versions": {"nodejs": "22"}},
            "build": {
                "commands": [
                    'cd "$CODEBUILD_SRC_DIR/$APP_DIR"',
                    'test -f index.mjs || { echo "index.mjs is missing"; exit 1; }',
                    install,
                    "printf '#!/bin/sh\\nexec node index.mjs\\n' > run.sh",
                    "chmod 755 run.sh",
                    "zip -qry /tmp/app.zip .",
                    'aws s3 cp /tmp/app.zip "s3://$OUTPUT_BUCKET/$OUTPUT_KEY"',
                ]
            },
        },
    }
