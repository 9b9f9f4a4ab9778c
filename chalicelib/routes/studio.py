"""`/v1/studio`: Studio projects and deploys."""

from chalice import Blueprint, Response

from chalicelib.errors import BadRequest
from chalicelib.http import Api, Call
from chalicelib.models import Deploy, Project
from chalicelib.routes import deploy_common
from chalicelib.schemas.common import Ok
from chalicelib.schemas.projects import (
    DeployQueued,
    ProjectCreate,
    StatusOk,
    StudioDeployCreate,
    StudioDeployEnvelope,
    StudioDeployPublic,
    StudioDeployQueued,
    StudioLogs,
    StudioProjectDetail,
    StudioProjectEnvelope,
    StudioProjectList,
    StudioProjectPublic,
)
from chalicelib.services import deploy_logs, deploys, projects
from chalicelib.services.clock import iso
from chalicelib.services.lifecycle import public_status

bp = Blueprint(__name__)
api = Api(bp)
MAX_TAIL = 10000


def project_public(project: Project) -> StudioProjectPublic:
    status = project.studio_deploy_status
    return StudioProjectPublic(
        id=project.id,
        slug=project.slug,
        name=project.name,
        organization_id=project.org_id,
        studio_enabled=project.studio_enabled,
        server_enabled=project.server_enabled,
        latest_deploy_id=project.studio_deploy_id,
        latest_deploy_status=public_status("studio", status) if status else None,
        latest_deploy_created_at=iso(project.studio_deploy_created_at),
        latest_server_deploy_status=project.server_deploy_status,
        custom_server_api_url=None,
        instance_url=project.studio_instance_url,
        server_instance_url=project.server_instance_url,
        created_at=iso(project.created_at),
        updated_at=iso(project.updated_at),
    )


def deploy_public(deploy: Deploy) -> StudioDeployPublic:
    return StudioDeployPublic(
        id=deploy.id,
        project_id=deploy.project_id,
        organization_id=deploy.org_id,
        project_name=deploy.project_name,
        status=public_status("studio", deploy.status),
        instance_url=deploy.instance_url,
        error=deploy.error,
        created_at=iso(deploy.created_at),
    )


@api.route("/v1/studio/projects", "GET")
def list_projects(call: Call) -> StudioProjectList:
    """List the organization's projects."""
    found = projects.list_projects(call.principal.org_id)
    return StudioProjectList(projects=[project_public(p) for p in found])


@api.route("/v1/studio/projects", "POST", idempotent=True)
def create_project(call: Call) -> StudioProjectEnvelope:
    """Create a project; Studio is on unless the body says otherwise."""
    body = call.body(ProjectCreate)
    project = projects.create_project(
        call.principal.org_id,
        body.name,
        studio_enabled=True if body.studio_enabled is None else body.studio_enabled,
        server_enabled=bool(body.server_enabled),
    )
    return StudioProjectEnvelope(project=project_public(project))


@api.route("/v1/studio/projects/{project_id}", "GET")
def get_project(call: Call, project_id: str) -> StudioProjectDetail:
    """A project and its Studio deploys, newest first."""
    project = projects.get_project(call.principal.org_id, project_id)
    found = deploys.list_for_project(project.id, "studio")
    return StudioProjectDetail(
        project=project_public(project), deploys=[deploy_public(d) for d in found]
    )


@api.route("/v1/studio/projects/{project_id}", "DELETE")
def delete_project(call: Call, project_id: str) -> Ok:
    """Delete a project with its deploys, logs and running apps."""
    project = projects.get_project(call.principal.org_id, project_id)
    projects.delete_project(project)
    return Ok()


@api.route("/v1/studio/deploys", "POST", status=202, idempotent=True)
def create_deploy(call: Call) -> StudioDeployQueued:
    """Queue a deploy and return the signed URL its zip goes to."""
    project_id = call.header("x-project-id")
    if project_id is None:
        raise BadRequest(
            "Header x-project-id is required.",
            errors=[{"field": "x-project-id", "message": "is required"}],
        )
    body = call.body(StudioDeployCreate)
    project = projects.get_project(call.principal.org_id, project_id)
    created = deploys.create(
        "studio",
        project,
        body.env_vars,
        git_branch=call.header("x-git-branch"),
        mastra_version=call.header("x-mastra-version"),
    )
    return StudioDeployQueued(
        deploy=DeployQueued(
            id=created.deploy.id, status="queued", upload_url=created.upload_url
        )
    )


@api.route("/v1/studio/deploys/{deploy_id}/upload-complete", "POST")
def upload_complete(call: Call, deploy_id: str) -> StatusOk:
    """Confirm the artifact is uploaded; safe to call again."""
    deploy_common.load(call, deploy_id, "studio")
    deploys.confirm_upload(deploy_id, source="client")
    return StatusOk()


@api.route("/v1/studio/deploys/{deploy_id}/cancel", "POST")
def cancel_deploy(call: Call, deploy_id: str) -> Ok:
    """Cancel a queued or in-progress deploy; it ends `stopped`."""
    deploys.cancel(deploy_common.load(call, deploy_id, "studio"))
    return Ok()


@api.route("/v1/studio/deploys/{deploy_id}", "GET")
def get_deploy(call: Call, deploy_id: str) -> StudioDeployEnvelope:
    """The deploy's status, URL and error."""
    deploy = deploy_common.load(call, deploy_id, "studio")
    return StudioDeployEnvelope(deploy=deploy_public(deploy))


@api.route("/v1/studio/deploys/{deploy_id}/logs", "GET")
def get_logs(call: Call, deploy_id: str) -> StudioLogs:
    """Build and start output as one newline-joined string."""
    deploy = deploy_common.load(call, deploy_id, "studio")
    tail = call.query("tail")
    if tail is None:
        lines = deploy_logs.read(deploy.id)
    else:
        if not tail.isdigit() or not 0 < int(tail) <= MAX_TAIL:
            raise BadRequest(
                f"tail must be a whole number from 1 to {MAX_TAIL}.",
                errors=[{"field": "tail", "message": "must be 1 to 10000"}],
            )
        lines = deploy_logs.tail(deploy.id, int(tail))
    return StudioLogs(logs="\n".join(line.text for line in lines))


@api.route("/v1/studio/deploys/{deploy_id}/diagnosis", "GET")
def get_diagnosis(call: Call, deploy_id: str) -> Response:
    """204 when healthy, else the diagnosis or `{diagnosis: null}`."""
    return deploy_common.diagnosis_get(deploy_common.load(call, deploy_id, "studio"))


@api.route("/v1/studio/deploys/{deploy_id}/diagnosis", "POST")
def start_diagnosis(call: Call, deploy_id: str) -> Response:
    """Diagnose the deploy: 201 when started, 304 when one exists."""
    return deploy_common.diagnosis_post(deploy_common.load(call, deploy_id, "studio"))
