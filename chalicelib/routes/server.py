"""`/v1/server`: Server projects and deploys (flat deploy bodies)."""

from chalice import Blueprint, Response

from chalicelib.http import Api, Call
from chalicelib.models import Deploy, Project
from chalicelib.routes import deploy_common
from chalicelib.schemas.common import Ok
from chalicelib.schemas.projects import (
    DeployQueued,
    ProjectCreate,
    ServerDeployCreate,
    ServerDeployPublic,
    ServerLogs,
    ServerProjectDetail,
    ServerProjectList,
    ServerProjectPublic,
    StatusOk,
)
from chalicelib.services import deploy_logs, deploys, projects
from chalicelib.services.clock import iso

bp = Blueprint(__name__)
api = Api(bp)


def project_public(project: Project) -> ServerProjectPublic:
    return ServerProjectPublic(
        id=project.id,
        name=project.name,
        slug=project.slug,
        organization_id=project.org_id,
        studio_enabled=project.studio_enabled,
        server_enabled=project.server_enabled,
        always_on=project.always_on,
        latest_deploy_id=project.server_deploy_id,
        latest_deploy_status=project.server_deploy_status,
        instance_url=project.server_instance_url,
        created_at=iso(project.created_at),
        updated_at=iso(project.updated_at),
    )


def deploy_public(deploy: Deploy) -> ServerDeployPublic:
    return ServerDeployPublic(
        id=deploy.id,
        project_id=deploy.project_id,
        organization_id=deploy.org_id,
        project_name=deploy.project_name,
        status=deploy.status,
        instance_url=deploy.instance_url,
        error=deploy.error,
        started_at=iso(deploy.started_at),
        stopped_at=iso(deploy.stopped_at),
        created_at=iso(deploy.created_at),
        updated_at=iso(deploy.updated_at),
    )


def _detail(project: Project) -> ServerProjectDetail:
    found = deploys.list_for_project(project.id, "server")
    return ServerProjectDetail(
        project=project_public(project), deploys=[deploy_public(d) for d in found]
    )


@api.route("/v1/server/projects", "GET")
def list_projects(call: Call) -> ServerProjectList:
    """List the organization's projects."""
    found = projects.list_projects(call.principal.org_id)
    return ServerProjectList(projects=[project_public(p) for p in found])


@api.route("/v1/server/projects", "POST", idempotent=True)
def create_project(call: Call) -> ServerProjectDetail:
    """Create a project with Server on."""
    body = call.body(ProjectCreate)
    project = projects.create_project(
        call.principal.org_id,
        body.name,
        studio_enabled=bool(body.studio_enabled),
        server_enabled=True if body.server_enabled is None else body.server_enabled,
    )
    return ServerProjectDetail(project=project_public(project), deploys=[])


@api.route("/v1/server/projects/{project_id}", "GET")
def get_project(call: Call, project_id: str) -> ServerProjectDetail:
    """A project and its Server deploys, newest first."""
    return _detail(projects.get_project(call.principal.org_id, project_id))


@api.route("/v1/server/projects/{project_id}", "DELETE")
def delete_project(call: Call, project_id: str) -> Ok:
    """Delete a project with its deploys, logs and running apps."""
    projects.delete_project(projects.get_project(call.principal.org_id, project_id))
    return Ok()


@api.route("/v1/server/deploys", "POST", status=202, idempotent=True)
def create_deploy(call: Call) -> DeployQueued:
    """Queue a deploy and return the signed URL its zip goes to."""
    body = call.body(ServerDeployCreate)
    project = projects.get_project(call.principal.org_id, body.project_id)
    created = deploys.create("server", project, body.env_vars)
    return DeployQueued(
        id=created.deploy.id, status="queued", upload_url=created.upload_url
    )


@api.route("/v1/server/deploys/{deploy_id}/upload-complete", "POST")
def upload_complete(call: Call, deploy_id: str) -> StatusOk:
    """Confirm the artifact is uploaded; safe to call again."""
    deploy_common.load(call, deploy_id, "server")
    deploys.confirm_upload(deploy_id, source="client")
    return StatusOk()


@api.route("/v1/server/deploys/{deploy_id}", "GET")
def get_deploy(call: Call, deploy_id: str) -> ServerDeployPublic:
    """The deploy itself, flat."""
    return deploy_public(deploy_common.load(call, deploy_id, "server"))


@api.route("/v1/server/deploys/{deploy_id}/logs", "GET")
def get_logs(call: Call, deploy_id: str) -> ServerLogs:
    """Build and deploy output as append-only arrays of lines."""
    deploy = deploy_common.load(call, deploy_id, "server")
    lines = deploy_logs.read(deploy.id)
    return ServerLogs(
        build_logs=[line.text for line in lines if line.phase == deploy_logs.BUILD],
        deploy_logs=[line.text for line in lines if line.phase != deploy_logs.BUILD],
    )


@api.route("/v1/server/deploys/{deploy_id}/cancel", "POST")
def cancel_deploy(call: Call, deploy_id: str) -> Ok:
    """Cancel a queued or in-progress deploy; it ends `cancelled`."""
    deploys.cancel(deploy_common.load(call, deploy_id, "server"))
    return Ok()


@api.route("/v1/server/deploys/{deploy_id}", "DELETE")
def stop_deploy(call: Call, deploy_id: str) -> ServerDeployPublic:
    """Stop a running deploy (a queued one is cancelled)."""
    deploy = deploys.stop(deploy_common.load(call, deploy_id, "server"))
    return deploy_public(deploy)


@api.route("/v1/server/deploys/{deploy_id}/diagnosis", "GET")
def get_diagnosis(call: Call, deploy_id: str) -> Response:
    """204 when healthy, else the diagnosis or `{diagnosis: null}`."""
    return deploy_common.diagnosis_get(deploy_common.load(call, deploy_id, "server"))


@api.route("/v1/server/deploys/{deploy_id}/diagnosis", "POST")
def start_diagnosis(call: Call, deploy_id: str) -> Response:
    """Diagnose the deploy: 201 when started, 304 when one exists."""
    return deploy_common.diagnosis_post(deploy_common.load(call, deploy_id, "server"))
