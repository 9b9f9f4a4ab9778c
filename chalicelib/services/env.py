"""A Server project's env vars: validated, sealed with KMS, versioned by ETag.

The stored set applies to the next deploy (or `POST /env/restart`); a deploy's
own `envVars` (the CLI sends the app's `.env`) win over stored values of the
same name.
"""

import contextlib
import re
from dataclasses import dataclass

from pynamodb.exceptions import DoesNotExist, PutError

from chalicelib.errors import BadRequest, ProblemError
from chalicelib.log import logger
from chalicelib.models import Deploy, Project, ProjectEnv
from chalicelib.services.clock import now
from chalicelib.services.sealing import seal_json, unseal_json

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_NAME = 128
MAX_VALUE = 32 * 1024
MAX_COUNT = 200
MAX_TOTAL = 128 * 1024
# Set by the runtime itself, or too dangerous to let a project override.
RESERVED = frozenset(
    {
        "PORT",
        "HOST",
        "MASTRA_HOST",
        "NODE_ENV",
        "PATH",
        "HOME",
        "PWD",
        "SHELL",
        "NODE_OPTIONS",
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
    }
)
RESERVED_PREFIXES = ("AWS_", "PLATFORM_", "LAMBDA_", "_HANDLER")


class PreconditionFailed(ProblemError):
    status = 412
    title = "Precondition Failed"


@dataclass(frozen=True)
class EnvSet:
    values: dict[str, str]
    version: int

    @property
    def etag(self) -> str:
        return f'"env-v{self.version}"'


def _context(project_id: str) -> dict[str, str]:
    return {"purpose": "project-env", "project": project_id}


def validate(values: dict[str, str]) -> None:
    """Refuse unsafe names and oversized sets, listing every offending field."""
    errors: list[dict[str, str]] = []
    for name, value in values.items():
        field = f"envVars.{name}"
        if not NAME.match(name):
            errors.append(
                {
                    "field": field,
                    "message": "must be letters, digits and underscores, "
                    "not starting with a digit",
                }
            )
        elif len(name) > MAX_NAME:
            errors.append({"field": field, "message": f"over {MAX_NAME} characters"})
        elif name.upper() in RESERVED or name.upper().startswith(RESERVED_PREFIXES):
            errors.append(
                {"field": field, "message": "is reserved for the platform runtime"}
            )
        if len(value.encode()) > MAX_VALUE:
            errors.append({"field": field, "message": f"value over {MAX_VALUE} bytes"})
        if "\x00" in value:
            errors.append({"field": field, "message": "value contains a NUL byte"})
    if len(values) > MAX_COUNT:
        errors.append(
            {"field": "envVars", "message": f"at most {MAX_COUNT} variables allowed"}
        )
    total = sum(len(k.encode()) + len(v.encode()) for k, v in values.items())
    if total > MAX_TOTAL:
        errors.append(
            {"field": "envVars", "message": f"{total} bytes in all, over {MAX_TOTAL}"}
        )
    if errors:
        raise BadRequest("Some environment variables are not allowed.", errors=errors)


def read(project: Project) -> EnvSet:
    try:
        item = ProjectEnv.get(project.id, consistent_read=True)
    except DoesNotExist:
        return EnvSet({}, 0)
    value = unseal_json(item.ciphertext, _context(project.id))
    return EnvSet(dict(value) if isinstance(value, dict) else {}, int(item.version))


def parse_if_match(header: str | None) -> int | str | None:
    """`None` (no header), `"*"`, or the version an ETag names."""
    if header is None:
        return None
    tag = header.strip()
    if tag == "*":
        return "*"
    match = re.fullmatch(r'(?:W/)?"env-v(\d+)"', tag)
    if match is None:
        raise PreconditionFailed(
            "If-Match does not name a version of these env vars; GET them again."
        )
    return int(match.group(1))


def replace(
    project: Project, values: dict[str, str], if_match: int | str | None = None
) -> EnvSet:
    """Replace the whole set; with `if_match`, only if nobody wrote meanwhile."""
    validate(values)
    current = None
    with contextlib.suppress(DoesNotExist):
        current = ProjectEnv.get(project.id, consistent_read=True)
    base = int(current.version) if current is not None else 0
    if isinstance(if_match, int) and if_match != base:
        raise PreconditionFailed(
            "The env vars changed since you read them; GET them and retry."
        )
    if if_match == "*" and current is None:
        raise PreconditionFailed("The project has no env vars yet.")
    item = ProjectEnv(
        project.id,
        org_id=project.org_id,
        ciphertext=seal_json(values, _context(project.id)),
        names_count=len(values),
        version=base + 1,
        updated_at=now(),
    )
    condition = (
        ProjectEnv.project_id.does_not_exist()
        if current is None
        else ProjectEnv.version == base
    )
    try:
        item.save(condition=condition)
    except PutError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
        if if_match is not None:
            raise PreconditionFailed(
                "The env vars changed since you read them; GET them and retry."
            ) from None
        # No precondition asked for: last writer wins, but never a torn write.
        return replace(project, values, None)
    logger.info("Env vars replaced", project_id=project.id, count=len(values))
    return EnvSet(values, base + 1)


def delete(project: Project) -> None:
    ProjectEnv(project.id).delete()


def merged_for(deploy: Deploy, deploy_own: dict[str, str]) -> dict[str, str]:
    """Stored project env with the deploy's own envVars on top."""
    try:
        item = ProjectEnv.get(deploy.project_id, consistent_read=True)
    except DoesNotExist:
        return dict(deploy_own)
    stored = unseal_json(item.ciphertext, _context(deploy.project_id))
    return {**(dict(stored) if isinstance(stored, dict) else {}), **deploy_own}


def _run_context(deploy_id: str) -> dict[str, str]:
    return {"purpose": "deploy-run-env", "deploy": deploy_id}


def runtime_env(deploy: Deploy, deploy_own: dict[str, str]) -> dict[str, str]:
    """The env to start `deploy` with, fixed on first use (restarts reuse it)."""
    if deploy.run_env_ciphertext:
        value = unseal_json(deploy.run_env_ciphertext, _run_context(deploy.id))
        return dict(value) if isinstance(value, dict) else {}
    values = merged_for(deploy, deploy_own)
    deploy.update(
        actions=[
            Deploy.run_env_ciphertext.set(seal_json(values, _run_context(deploy.id)))
        ]
    )
    return values
