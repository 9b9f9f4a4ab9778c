"""Deploys and their log lines."""

from pynamodb.attributes import (
    BinaryAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.models.base import PlatformModel


class DeployProjectIndex(GlobalSecondaryIndex["Deploy"]):
    class Meta:
        index_name = "project-index"
        projection = AllProjection()

    project_id = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class DeployStatusIndex(GlobalSecondaryIndex["Deploy"]):
    """Deploys by status, oldest first: what the scheduled cleanup reads."""

    class Meta:
        index_name = "status-index"
        projection = AllProjection()

    status = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class Deploy(PlatformModel):
    """One build-and-run of an uploaded artifact; `status` moves by rule."""

    class Meta:
        table_name = None
        base_name = "deploys"

    id = UnicodeAttribute(hash_key=True)
    product = UnicodeAttribute()
    org_id = UnicodeAttribute()
    project_id = UnicodeAttribute()
    project_name = UnicodeAttribute()
    status = UnicodeAttribute()
    error = UnicodeAttribute(null=True)
    instance_url = UnicodeAttribute(null=True)
    artifact_key = UnicodeAttribute()
    artifact_size = NumberAttribute(null=True)
    env_ciphertext = BinaryAttribute(null=True, legacy_encoding=False)
    # The env the app was started with (stored merged under the deploy's own).
    run_env_ciphertext = BinaryAttribute(null=True, legacy_encoding=False)
    git_branch = UnicodeAttribute(null=True)
    mastra_version = UnicodeAttribute(null=True)
    execution_arn = UnicodeAttribute(null=True)
    diagnosis = UnicodeAttribute(null=True)
    upload_expires_at = UTCDateTimeAttribute()
    uploaded_at = UTCDateTimeAttribute(null=True)
    started_at = UTCDateTimeAttribute(null=True)
    stopped_at = UTCDateTimeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    version = VersionAttribute()
    project_index = DeployProjectIndex()
    status_index = DeployStatusIndex()


class DeployLog(PlatformModel):
    """A log line at `seq` >= 1; the item at seq 0 holds the line counter."""

    class Meta:
        table_name = None
        base_name = "deploy-logs"

    deploy_id = UnicodeAttribute(hash_key=True)
    seq = NumberAttribute(range_key=True)
    phase = UnicodeAttribute(null=True)
    message = UnicodeAttribute(null=True)
    logged_at = UTCDateTimeAttribute(null=True)
    next_seq = NumberAttribute(null=True)
    expires_at = NumberAttribute(null=True)
