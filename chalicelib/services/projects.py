"""Projects: one per app, shared by the Studio and Server products."""

import re
import unicodedata

from pynamodb.exceptions import DoesNotExist, TransactWriteError

from chalicelib.errors import BadRequest, NotFound
from chalicelib.models import Project, UniqueClaim
from chalicelib.models.base import transaction
from chalicelib.services.clock import new_id, now

MAX_SLUG_ATTEMPTS = 20


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.decode().lower()).strip("-")
    return slug[:48].strip("-") or "project"


def _slug_claim(org_id: str, slug: str) -> str:
    return f"project-slug#{org_id}#{slug}"


def create_project(
    org_id: str,
    name: str,
    studio_enabled: bool = False,
    server_enabled: bool = False,
) -> Project:
    """Create a project with a slug unique in its organization."""
    name = name.strip()
    if not name:
        raise BadRequest(
            "Project name must not be empty.",
            errors=[{"field": "name", "message": "must not be empty"}],
        )
    base = slugify(name)
    stamp = now()
    project = Project(
        new_id("prj"),
        org_id=org_id,
        name=name,
        slug=base,
        studio_enabled=studio_enabled,
        server_enabled=server_enabled,
        created_at=stamp,
        updated_at=stamp,
    )
    for attempt in range(1, MAX_SLUG_ATTEMPTS + 1):
        project.slug = base if attempt == 1 else f"{base}-{attempt}"
        claim = UniqueClaim(_slug_claim(org_id, project.slug), owner_id=project.id)
        try:
            with transaction() as tx:
                tx.save(claim, condition=UniqueClaim.key.does_not_exist())
                tx.save(project, condition=Project.id.does_not_exist())
        except TransactWriteError:
            continue
        return project
    raise BadRequest(f"Could not find a free slug for project name {name!r}.")


def list_projects(org_id: str) -> list[Project]:
    return list(Project.org_index.query(org_id, scan_index_forward=False))


def get_project(org_id: str, project_id: str) -> Project:
    """The project, if it exists in `org_id`; otherwise 404."""
    try:
        project = Project.get(project_id, consistent_read=True)
    except DoesNotExist:
        project = None
    if project is None or project.org_id != org_id:
        raise NotFound(f"Project {project_id} not found.")
    return project


def release_slug(project: Project) -> None:
    UniqueClaim(_slug_claim(project.org_id, project.slug)).delete()


def delete_project(project: Project) -> None:
    """Delete a project with its deploys, their logs and running apps."""
    from chalicelib.services import deploys, domains, env

    deploys.delete_project_deploys(project)
    domains.remove_all(project)
    env.delete(project)
    release_slug(project)
    project.delete()
