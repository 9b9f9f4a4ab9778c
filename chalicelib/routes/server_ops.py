"""`/v1/server/projects/{id}/...`: env vars, domains, runtime logs, redeploy,
restart, pause and always-on of a Server project."""

from chalice import Blueprint, Response

from chalicelib.errors import BadRequest
from chalicelib.http import Api, Call, json_response
from chalicelib.models import Deploy, Domain
from chalicelib.schemas.common import Ok
from chalicelib.schemas.operations import (
    AlwaysOn,
    DeployStarted,
    DnsRecord,
    DomainCreate,
    DomainList,
    DomainPublic,
    EnvRestartBody,
    EnvVarsBody,
    EnvVarsPublic,
    RuntimeLogLine,
    RuntimeLogs,
)
from chalicelib.services import (
    cursors,
    domains,
    env,
    operations,
    projects,
    runtime_logs,
)
from chalicelib.services.clock import iso
from chalicelib.settings import get_settings

bp = Blueprint(__name__)
api = Api(bp)

BASE = "/v1/server/projects/{project_id}"


def _env_response(values: env.EnvSet) -> Response:
    response = json_response(EnvVarsPublic(env_vars=values.values))
    response.headers["ETag"] = values.etag
    return response


@api.route(BASE + "/env", "GET")
def get_env(call: Call, project_id: str) -> Response:
    """The project's env vars, with an ETag to send back in If-Match."""
    project = projects.get_project(call.principal.org_id, project_id)
    return _env_response(env.read(project))


@api.route(BASE + "/env", "PUT")
def put_env(call: Call, project_id: str) -> Response:
    """Replace the whole set; If-Match makes it fail (412) on a lost update.

    Applies to the next deploy or `POST /env/restart`, not the running app.
    """
    project = projects.get_project(call.principal.org_id, project_id)
    if_match = env.parse_if_match(call.header("if-match"))
    body = call.body(EnvVarsBody)
    return _env_response(env.replace(project, body.env_vars, if_match))


@api.route(BASE + "/env/restart", "POST")
def env_restart(call: Call, project_id: str) -> DeployStarted:
    """Optionally replace the env vars, then restart the app with them."""
    project = projects.get_project(call.principal.org_id, project_id)
    body = call.body(EnvRestartBody)
    operations.ensure_restartable(project)
    if body.env_vars is not None:
        env.replace(project, body.env_vars, env.parse_if_match(call.header("if-match")))
    return _started(operations.restart(project))


def _domain_public(domain: Domain) -> DomainPublic:
    return DomainPublic(
        domain=domain.hostname,
        status=domain.status,
        dns_records=[
            DnsRecord(
                type=r.type, hostlabel=r.hostlabel, required_value=r.required_value
            )
            for r in domains.records(domain)
        ],
        error=domain.error,
        checked_at=iso(domain.checked_at),
        verified_at=iso(domain.verified_at),
        created_at=iso(domain.created_at),
    )


@api.route(BASE + "/domains", "GET")
def list_domains(call: Call, project_id: str) -> DomainList:
    """The project's custom domains and their verification state."""
    project = projects.get_project(call.principal.org_id, project_id)
    return DomainList(
        domains=[_domain_public(d) for d in domains.list_for_project(project)]
    )


@api.route(BASE + "/domains", "POST")
def add_domain(call: Call, project_id: str) -> DomainPublic:
    """Claim a hostname; the answer lists the DNS records to create."""
    project = projects.get_project(call.principal.org_id, project_id)
    body = call.body(DomainCreate)
    return _domain_public(domains.add(project, body.domain))


@api.route(BASE + "/domains/{domain}", "DELETE")
def remove_domain(call: Call, project_id: str, domain: str) -> Ok:
    """Release a hostname."""
    project = projects.get_project(call.principal.org_id, project_id)
    domains.remove(project, domain)
    return Ok()


@api.route(BASE + "/runtime-logs", "GET")
def get_runtime_logs(call: Call, project_id: str) -> RuntimeLogs:
    """The current deploy's own output, oldest first; `?cursor` and `?limit`."""
    project = projects.get_project(call.principal.org_id, project_id)
    limit = _int_query(call, "limit", get_settings().runtime_log_page)
    deploy_id = call.query("deployId") or project.server_deploy_id
    if deploy_id != project.server_deploy_id:
        operations.owned_deploy(project, str(deploy_id))
    scope = f"runtime-logs:{project_id}:{deploy_id}"
    raw_cursor = call.query("cursor")
    after = 0
    if raw_cursor:
        position = cursors.decode(raw_cursor, call.principal.org_id, scope)
        seq = position.get("after")
        if not isinstance(seq, int) or seq < 0:
            raise BadRequest("The cursor is not valid; start again without it.")
        after = seq
    if not deploy_id:
        return RuntimeLogs(logs=[], next_cursor=None, deploy_id=None)
    lines, next_seq = runtime_logs.page(deploy_id, after, limit)
    return RuntimeLogs(
        logs=[
            RuntimeLogLine(
                timestamp=x.timestamp, message=x.message, severity=x.severity
            )
            for x in lines
        ],
        next_cursor=(
            cursors.encode(call.principal.org_id, scope, {"after": next_seq})
            if next_seq is not None
            else None
        ),
        deploy_id=deploy_id,
    )


def _int_query(call: Call, name: str, default: int) -> int:
    raw = call.query(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or len(raw) > 12:
        raise BadRequest(
            f"Query parameter {name} must be a non-negative integer.",
            errors=[{"field": name, "message": "must be a non-negative integer"}],
        )
    return int(raw)


def _started(deploy: Deploy) -> DeployStarted:
    return DeployStarted(id=deploy.id, status=deploy.status)


@api.route(BASE + "/redeploy", "POST")
def redeploy(call: Call, project_id: str) -> DeployStarted:
    """A new deploy of the last artifact that ran."""
    project = projects.get_project(call.principal.org_id, project_id)
    return _started(operations.redeploy(project))


@api.route(BASE + "/restart", "POST")
def restart(call: Call, project_id: str) -> DeployStarted:
    """Restart with the stored env as a new deploy; 409 while one is active."""
    project = projects.get_project(call.principal.org_id, project_id)
    return _started(operations.restart(project))


@api.route(BASE + "/pause", "POST")
def pause(call: Call, project_id: str) -> Ok:
    """Stop the running app; 409 when it is not running."""
    project = projects.get_project(call.principal.org_id, project_id)
    operations.pause(project)
    return Ok()


@api.route(BASE + "/always-on", "POST")
def always_on(call: Call, project_id: str) -> AlwaysOn:
    """Never stop the app for idleness."""
    project = projects.get_project(call.principal.org_id, project_id)
    return AlwaysOn(always_on=operations.set_always_on(project, True).always_on)


@api.route(BASE + "/always-on", "DELETE")
def always_off(call: Call, project_id: str) -> AlwaysOn:
    """Let the app sleep when idle; a request wakes it."""
    project = projects.get_project(call.principal.org_id, project_id)
    return AlwaysOn(always_on=operations.set_always_on(project, False).always_on)
