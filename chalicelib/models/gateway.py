"""LLM gateway tables: projects, keys, bindings, request records, counters.

Access patterns (all keyed, no scans):
- projects of an org: Query `GatewayProject` on `org_id`;
- a key from its secret: GetItem `GatewayKey` on the id inside the secret;
- keys of a project: Query `project-index`;
- bindings of a project or key: Query `GatewayBinding` on `scope`;
- request records of a project, newest first: Query `GatewayRequest` on
  `project_id` (sort key `<ISO time>#<request id>`); one record by id via
  `request-index`; the records of one facet combination (`combo-index`),
  one thread (`thread-index`) or one resource (`resource-index`), newest
  first, for filtered log pages;
- usage counters: Query `GatewayUsage` on `<project>#<granularity>#<dimension>`
  with the sort key `<bucket start>#<dimension value>` between two times.
"""

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.models.base import PlatformModel


class GatewayProject(PlatformModel):
    """A gateway project of an organization; its keys die with it."""

    class Meta:
        table_name = None
        base_name = "gateway-projects"

    org_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)
    name = UnicodeAttribute()
    log_retention_days = NumberAttribute()
    # Observational memory thresholds (issue 6); None means the default.
    memory_observe_tokens = NumberAttribute(null=True)
    memory_reflect_tokens = NumberAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    version = VersionAttribute()


class GatewayKeyProjectIndex(GlobalSecondaryIndex["GatewayKey"]):
    class Meta:
        index_name = "project-index"
        projection = AllProjection()

    project_id = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class GatewayKey(PlatformModel):
    """A gateway key; only a hash of its secret is kept.

    Money is in whole nano-USD. `committed_nanos` is spend plus open
    reservations: the spend limit is enforced on it with a conditional ADD,
    so concurrent requests cannot overshoot. `spent_nanos` is settled spend.
    """

    class Meta:
        table_name = None
        base_name = "gateway-keys"

    id = UnicodeAttribute(hash_key=True)
    org_id = UnicodeAttribute()
    project_id = UnicodeAttribute()
    secret_hash = UnicodeAttribute()
    prefix = UnicodeAttribute()
    label = UnicodeAttribute()
    allowed_models = ListAttribute(of=UnicodeAttribute, null=True)
    rate_limit_rpm = NumberAttribute(null=True)
    spend_limit_nanos = NumberAttribute(null=True)
    committed_nanos = NumberAttribute(default=0)
    spent_nanos = NumberAttribute(default=0)
    created_at = UTCDateTimeAttribute()
    last_used_at = UTCDateTimeAttribute(null=True)
    expires_at = UTCDateTimeAttribute(null=True)
    project_index = GatewayKeyProjectIndex()


class GatewayBinding(PlatformModel):
    """A provider credential (BYOK) for `project#<id>` or `key#<id>`."""

    class Meta:
        table_name = None
        base_name = "gateway-bindings"

    scope = UnicodeAttribute(hash_key=True)
    provider = UnicodeAttribute(range_key=True)
    org_id = UnicodeAttribute()
    project_id = UnicodeAttribute()
    sealed_key = BinaryAttribute(legacy_encoding=False)
    masked_key = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()


class GatewayRequestIdIndex(GlobalSecondaryIndex["GatewayRequest"]):
    class Meta:
        index_name = "request-index"
        projection = AllProjection()

    request_id = UnicodeAttribute(hash_key=True)


class GatewayRequestComboIndex(GlobalSecondaryIndex["GatewayRequest"]):
    """Records of one `<project>#<combo value>`: every one matches it."""

    class Meta:
        index_name = "combo-index"
        projection = AllProjection()

    combo = UnicodeAttribute(hash_key=True)
    sort_key = UnicodeAttribute(range_key=True)


class GatewayRequestThreadIndex(GlobalSecondaryIndex["GatewayRequest"]):
    """Sparse: records of one `<project>#<thread id>`."""

    class Meta:
        index_name = "thread-index"
        projection = AllProjection()

    thread_partition = UnicodeAttribute(hash_key=True)
    sort_key = UnicodeAttribute(range_key=True)


class GatewayRequestResourceIndex(GlobalSecondaryIndex["GatewayRequest"]):
    """Sparse: records of one `<project>#<resource id>`."""

    class Meta:
        index_name = "resource-index"
        projection = AllProjection()

    resource_partition = UnicodeAttribute(hash_key=True)
    sort_key = UnicodeAttribute(range_key=True)


class GatewayRequest(PlatformModel):
    """Exactly one record per proxied request; bodies are never stored."""

    class Meta:
        table_name = None
        base_name = "gateway-requests"

    project_id = UnicodeAttribute(hash_key=True)
    sort_key = UnicodeAttribute(range_key=True)
    request_id = UnicodeAttribute()
    org_id = UnicodeAttribute()
    key_id = UnicodeAttribute()
    key_label = UnicodeAttribute()
    key_prefix = UnicodeAttribute()
    model = UnicodeAttribute(null=True)
    provider = UnicodeAttribute(null=True)
    source = UnicodeAttribute(null=True)
    source_category = UnicodeAttribute(null=True)
    endpoint = UnicodeAttribute()
    status_code = NumberAttribute()
    prompt_tokens = NumberAttribute(default=0)
    completion_tokens = NumberAttribute(default=0)
    cached_tokens = NumberAttribute(default=0)
    cache_write_tokens = NumberAttribute(default=0)
    total_tokens = NumberAttribute(default=0)
    # nano-USD (1e-9); divide by 1e9 for `cost_usd`.
    cost_nanos = NumberAttribute(default=0)
    latency_ms = NumberAttribute()
    first_token_ms = NumberAttribute(null=True)
    is_stream = BooleanAttribute()
    error = UnicodeAttribute(null=True)
    thread_id = UnicodeAttribute(null=True)
    resource_id = UnicodeAttribute(null=True)
    message_ids = ListAttribute(of=UnicodeAttribute, null=True)
    # The upstream's own id for the response (OpenAI / Anthropic / Responses).
    generation_id = UnicodeAttribute(null=True)
    timestamp = UTCDateTimeAttribute()
    expires_at = NumberAttribute()
    # Index keys: `<project>#<combo value>` (`records.combo_value`), and
    # `<project>#<thread id>` / `<project>#<resource id>` when set. Records
    # written before these existed lack them and show only unfiltered.
    combo = UnicodeAttribute(null=True)
    thread_partition = UnicodeAttribute(null=True)
    resource_partition = UnicodeAttribute(null=True)
    request_index = GatewayRequestIdIndex()
    combo_index = GatewayRequestComboIndex()
    thread_index = GatewayRequestThreadIndex()
    resource_index = GatewayRequestResourceIndex()


class GatewayUsage(PlatformModel):
    """A pre-aggregated counter, grown with DynamoDB ADD by each record.

    `counter_key` is `<project>#<granularity>#<dimension>` (dimension one of
    `all`, `model`, `provider`, `api_key_id`, `source_category`); `bucket` is
    `<bucket start ISO>#<value>` (`*` for `all`), so one Query returns a time
    range of one dimension with every value in it. Dimension `combo` has the
    JSON list of every facet value as its value (usage reads group and
    filter on any of them); it is also kept split by one filter value
    (`combo@key=<key id>`, `combo@model=<model>`, and `combo@error` for
    status 400 and above only), so a filtered read Queries only the
    combinations of that value; these `combo` partitions are also kept per
    day (`<project>#1d#...`, bucket `<day start ISO>#<value>`) for reads
    over whole days. `memory` counts observer and reflector calls
    per key, apart from the application's own tokens.
    """

    class Meta:
        table_name = None
        base_name = "gateway-usage"

    counter_key = UnicodeAttribute(hash_key=True)
    bucket = UnicodeAttribute(range_key=True)
    requests = NumberAttribute(default=0)
    errors = NumberAttribute(default=0)
    prompt_tokens = NumberAttribute(default=0)
    completion_tokens = NumberAttribute(default=0)
    cached_tokens = NumberAttribute(default=0)
    cache_write_tokens = NumberAttribute(default=0)
    total_tokens = NumberAttribute(default=0)
    cost_nanos = NumberAttribute(default=0)
    latency_ms = NumberAttribute(default=0)


class GatewayRateWindow(PlatformModel):
    """Requests of one key in one minute (`<key id>#<epoch minute>`)."""

    class Meta:
        table_name = None
        base_name = "gateway-rate-windows"

    id = UnicodeAttribute(hash_key=True)
    requests = NumberAttribute(default=0)
    expires_at = NumberAttribute()
