"""Projects, shared by Studio and Server, and uniqueness claims."""

from pynamodb.attributes import (
    BooleanAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.models.base import PlatformModel


class ProjectOrgIndex(GlobalSecondaryIndex["Project"]):
    class Meta:
        index_name = "org-index"
        projection = AllProjection()

    org_id = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class Project(PlatformModel):
    """One deployable app; Studio and Server deploys hang off it."""

    class Meta:
        table_name = None
        base_name = "projects"

    id = UnicodeAttribute(hash_key=True)
    org_id = UnicodeAttribute()
    slug = UnicodeAttribute()
    name = UnicodeAttribute()
    studio_enabled = BooleanAttribute(default=False)
    server_enabled = BooleanAttribute(default=False)
    always_on = BooleanAttribute(default=False)
    studio_deploy_id = UnicodeAttribute(null=True)
    studio_deploy_status = UnicodeAttribute(null=True)
    studio_deploy_created_at = UTCDateTimeAttribute(null=True)
    studio_instance_url = UnicodeAttribute(null=True)
    server_deploy_id = UnicodeAttribute(null=True)
    server_deploy_status = UnicodeAttribute(null=True)
    server_deploy_created_at = UTCDateTimeAttribute(null=True)
    server_instance_url = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    version = NumberAttribute(default=0)
    org_index = ProjectOrgIndex()


class UniqueClaim(PlatformModel):
    """A claimed unique value, e.g. `project-slug#<org>#<slug>`."""

    class Meta:
        table_name = None
        base_name = "unique-claims"

    key = UnicodeAttribute(hash_key=True)
    owner_id = UnicodeAttribute()
