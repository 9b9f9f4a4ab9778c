"""Server projects in operation: env vars, custom domains, runtime log lines."""

from pynamodb.attributes import (
    BinaryAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.models.base import PlatformModel


class ProjectEnv(PlatformModel):
    """A project's env vars, sealed as one blob; `version` is the ETag."""

    class Meta:
        table_name = None
        base_name = "project-env"

    project_id = UnicodeAttribute(hash_key=True)
    org_id = UnicodeAttribute()
    ciphertext = BinaryAttribute(legacy_encoding=False)
    names_count = NumberAttribute(default=0)
    version = NumberAttribute(default=0)
    updated_at = UTCDateTimeAttribute()


class DomainProjectIndex(GlobalSecondaryIndex["Domain"]):
    class Meta:
        index_name = "project-index"
        projection = AllProjection()

    project_id = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class DomainCheckIndex(GlobalSecondaryIndex["Domain"]):
    class Meta:
        index_name = "check-index"
        projection = AllProjection()

    status = UnicodeAttribute(hash_key=True)
    next_check_at = UTCDateTimeAttribute(range_key=True)


class Domain(PlatformModel):
    """A custom hostname of a project; unique platform-wide via a claim."""

    class Meta:
        table_name = None
        base_name = "domains"

    hostname = UnicodeAttribute(hash_key=True)
    project_id = UnicodeAttribute()
    org_id = UnicodeAttribute()
    status = UnicodeAttribute()
    cname_target = UnicodeAttribute()
    txt_value = UnicodeAttribute()
    error = UnicodeAttribute(null=True)
    checked_at = UTCDateTimeAttribute(null=True)
    verified_at = UTCDateTimeAttribute(null=True)
    next_check_at = UTCDateTimeAttribute()
    created_at = UTCDateTimeAttribute()
    project_index = DomainProjectIndex()
    check_index = DomainCheckIndex()


class RuntimeLog(PlatformModel):
    """A line a running app wrote; seq 0 holds the deploy's line counter."""

    class Meta:
        table_name = None
        base_name = "runtime-logs"

    deploy_id = UnicodeAttribute(hash_key=True)
    seq = NumberAttribute(range_key=True)
    severity = UnicodeAttribute(null=True)
    message = UnicodeAttribute(null=True)
    logged_at = UTCDateTimeAttribute(null=True)
    next_seq = NumberAttribute(null=True)
    expires_at = NumberAttribute(null=True)
