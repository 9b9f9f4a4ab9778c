"""Server projects in operation: env vars, domains, runtime logs, restarts."""

from pydantic import Field

from chalicelib.schemas.common import Input, Wire


class EnvVarsBody(Input):
    env_vars: dict[str, str]


class EnvRestartBody(Input):
    env_vars: dict[str, str] | None = None


class EnvVarsPublic(Wire):
    env_vars: dict[str, str]


class DomainCreate(Input):
    domain: str = Field(min_length=1, max_length=300)


class DnsRecord(Wire):
    type: str
    hostlabel: str
    required_value: str


class DomainPublic(Wire):
    domain: str
    status: str
    dns_records: list[DnsRecord]
    error: str | None
    checked_at: str | None
    verified_at: str | None
    created_at: str | None


class DomainList(Wire):
    domains: list[DomainPublic]


class RuntimeLogLine(Wire):
    timestamp: str
    message: str
    severity: str


class RuntimeLogs(Wire):
    logs: list[RuntimeLogLine]
    next_cursor: str | None
    deploy_id: str | None


class DeployStarted(Wire):
    id: str
    status: str


class AlwaysOn(Wire):
    always_on: bool
