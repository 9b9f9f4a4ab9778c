"""Studio and Server projects and deploys."""

import re
from typing import Annotated

from pydantic import AfterValidator, Field

from chalicelib.schemas.common import Input, Wire

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,255}$")
MAX_ENV_VARS = 500
MAX_ENV_BYTES = 128 * 1024


def _check_env(value: dict[str, str]) -> dict[str, str]:
    if len(value) > MAX_ENV_VARS:
        raise ValueError(f"at most {MAX_ENV_VARS} variables are allowed")
    bad = sorted(name for name in value if not ENV_NAME.match(name))
    if bad:
        raise ValueError(
            f"names must be letters, digits and underscores, not starting "
            f"with a digit: {', '.join(bad[:5])}"
        )
    size = sum(len(k.encode()) + len(v.encode()) for k, v in value.items())
    if size > MAX_ENV_BYTES:
        raise ValueError(f"variables total {size} bytes, over {MAX_ENV_BYTES}")
    return value


EnvVars = Annotated[dict[str, str], AfterValidator(_check_env)]


class ProjectCreate(Input):
    name: str = Field(min_length=1, max_length=100)
    studio_enabled: bool | None = None
    server_enabled: bool | None = None


class StudioProjectPublic(Wire):
    id: str
    slug: str
    name: str
    organization_id: str
    studio_enabled: bool
    server_enabled: bool
    latest_deploy_id: str | None
    latest_deploy_status: str | None
    latest_deploy_created_at: str | None
    latest_server_deploy_status: str | None
    custom_server_api_url: str | None
    instance_url: str | None
    server_instance_url: str | None
    created_at: str | None
    updated_at: str | None


class StudioDeployPublic(Wire):
    id: str
    project_id: str
    organization_id: str
    project_name: str
    status: str
    instance_url: str | None
    error: str | None
    created_at: str | None


class StudioProjectList(Wire):
    projects: list[StudioProjectPublic]


class StudioProjectEnvelope(Wire):
    project: StudioProjectPublic


class StudioProjectDetail(Wire):
    project: StudioProjectPublic
    deploys: list[StudioDeployPublic]


class StudioDeployCreate(Input):
    env_vars: EnvVars | None = None
    disable_platform_observability: bool = False


class DeployQueued(Wire):
    id: str
    status: str
    upload_url: str


class StudioDeployQueued(Wire):
    deploy: DeployQueued


class StudioDeployEnvelope(Wire):
    deploy: StudioDeployPublic


class StudioLogs(Wire):
    logs: str


class ServerProjectPublic(Wire):
    id: str
    name: str
    slug: str | None
    organization_id: str
    studio_enabled: bool
    server_enabled: bool
    always_on: bool
    provider_project_id: str | None = None
    provider_service_id: str | None = None
    provider_environment_id: str | None = None
    repo: str | None = None
    branch: str | None = None
    last_deployed_commit_sha: str | None = None
    last_deployed_image_url: str | None = None
    last_deployed_dockerfile_hash: str | None = None
    latest_deploy_id: str | None
    latest_deploy_status: str | None
    instance_url: str | None
    created_at: str | None
    updated_at: str | None


class ServerDeployPublic(Wire):
    id: str
    project_id: str
    organization_id: str
    project_name: str
    status: str
    instance_url: str | None
    error: str | None
    started_at: str | None
    stopped_at: str | None
    created_at: str | None
    updated_at: str | None


class ServerProjectList(Wire):
    projects: list[ServerProjectPublic]


class ServerProjectDetail(Wire):
    project: ServerProjectPublic
    deploys: list[ServerDeployPublic]


class ServerDeployCreate(Input):
    project_id: str = Field(min_length=1, max_length=100)
    project_name: str | None = None
    env_vars: EnvVars | None = None
    disable_platform_observability: bool = False


class ServerLogs(Wire):
    build_logs: list[str]
    deploy_logs: list[str]


class Recommendation(Wire):
    title: str
    description: str
    action: str | None
    docs_url: str | None


class DiagnosisPublic(Wire):
    id: str
    deploy_id: str
    status: str
    summary: str | None
    recommendations: list[Recommendation] | None
    error: str | None
    created_at: str
    completed_at: str | None


class DiagnosisEnvelope(Wire):
    diagnosis: DiagnosisPublic | None


class StatusOk(Wire):
    status: str = "ok"
