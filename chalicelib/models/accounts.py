"""Organizations, users, memberships and API tokens."""

from pynamodb.attributes import (
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.models.base import PlatformModel


class Organization(PlatformModel):
    class Meta:
        table_name = None
        base_name = "organizations"

    id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    # Kept in the same transaction as every admin membership change.
    admin_count = NumberAttribute(null=True)


class UserEmailIndex(GlobalSecondaryIndex["User"]):
    class Meta:
        index_name = "email-index"
        projection = AllProjection()

    email = UnicodeAttribute(hash_key=True)


class User(PlatformModel):
    class Meta:
        table_name = None
        base_name = "users"

    id = UnicodeAttribute(hash_key=True)
    email = UnicodeAttribute()
    first_name = UnicodeAttribute(null=True)
    last_name = UnicodeAttribute(null=True)
    password_hash = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    email_index = UserEmailIndex()


class MembershipUserIndex(GlobalSecondaryIndex["Membership"]):
    class Meta:
        index_name = "user-index"
        projection = AllProjection()

    user_id = UnicodeAttribute(hash_key=True)
    org_id = UnicodeAttribute(range_key=True)


class Membership(PlatformModel):
    """A user's role in one organization."""

    class Meta:
        table_name = None
        base_name = "memberships"

    org_id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute(range_key=True)
    role = UnicodeAttribute()
    status = UnicodeAttribute(default="active")
    created_at = UTCDateTimeAttribute()
    version = NumberAttribute(default=0)
    user_index = MembershipUserIndex()


class TokenOrgIndex(GlobalSecondaryIndex["ApiToken"]):
    class Meta:
        index_name = "org-index"
        projection = AllProjection()

    org_id = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class ApiToken(PlatformModel):
    """A bearer token; only a hash of the secret is kept."""

    class Meta:
        table_name = None
        base_name = "api-tokens"

    id = UnicodeAttribute(hash_key=True)
    secret_hash = UnicodeAttribute()
    org_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    name = UnicodeAttribute()
    obfuscated_value = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    last_used_at = UTCDateTimeAttribute(null=True)
    expires_at = UTCDateTimeAttribute(null=True)
    org_index = TokenOrgIndex()
