"""One settings object, read from the environment on first use."""

from functools import lru_cache

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Stage settings; every field maps to a `PLATFORM_*` variable."""

    model_config = SettingsConfigDict(env_prefix="PLATFORM_", extra="ignore")

    stage: str = "local"
    region: str = Field(
        "us-east-1",
        validation_alias=AliasChoices(
            "PLATFORM_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"
        ),
    )
    aws_endpoint_url: str | None = Field(
        None, validation_alias=AliasChoices("AWS_ENDPOINT_URL")
    )
    table_prefix: str = "mastra-local-"
    artifact_bucket: str
    step_queue_url: str
    state_machine_arn: str
    kms_key_id: str
    runtime: str = "local.runtime:LocalRuntime"

    max_artifact_bytes: int = 200 * 1024 * 1024
    max_unpacked_bytes: int = 1024 * 1024 * 1024
    upload_url_ttl_seconds: int = 900
    log_retention_days: int = 14
    build_timeout_seconds: int = 900
    start_timeout_seconds: int = 120
    sse_poll_seconds: float = 0.25
    sse_max_seconds: int = 900
    # LLM gateway (issue 5).
    gateway_log_retention_days: int = 30
    gateway_connect_timeout_seconds: float = 10.0
    gateway_read_timeout_seconds: float = 600.0
    gateway_estimate_output_tokens: int = 4096
    # How long a process may reuse a key's context before reading it again;
    # every change to keys, projects and bindings waits this long (issue 9).
    gateway_key_lease_seconds: float = Field(default=1.0, ge=0, le=60)
    # Gateway memory (issue 6): defaults for projects that set none.
    gateway_memory_observe_tokens: int = 30000
    gateway_memory_reflect_tokens: int = 40000
    gateway_memory_recent_messages: int = 40
    # Server projects in operation (issue 4).
    idle_stop_seconds: int = 900
    apps_domain: str = "apps.mastra.localhost"
    dns_resolver: str = "127.0.0.1:53"
    domain_check_seconds: int = 300
    runtime_log_page: int = 200
    deploy_budget_seconds: int = 1800
    snapshot_seconds: float = 10.0
    cleanup_seconds: float = 60.0

    # Accounts (issue 3): sign-in sessions, invitations, sign-in throttling.
    password_time_cost: int = 3
    password_memory_kib: int = 65536
    public_url: str | None = None
    # SSM parameter holding the public URL (the stack writes it).
    public_url_parameter: str | None = None
    access_token_ttl_seconds: int = 3600
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    invitation_ttl_days: int = 7
    login_max_failures: int = 5
    login_window_seconds: int = 900

    # AWS runtime for deployed apps (issue 7): CodeBuild builds, Lambda runs.
    aws_build_project: str = ""
    aws_app_role_arn: str = ""
    aws_app_layer_arn: str = ""
    aws_app_log_group: str = ""
    aws_app_function_prefix: str = "mastra-app-"
    aws_app_memory_mb: int = 1024
    aws_app_timeout_seconds: int = 300

    # Transport (issue 8): body limit, CORS allowlist, cursors, idempotency.
    max_request_body_bytes: int = 1024 * 1024
    cors_origins: str = "http://localhost:4111,http://127.0.0.1:4111"
    cursor_secret: str = ""
    # Secrets Manager secret the cursor key is read from (stack and local).
    cursor_secret_arn: str | None = None
    idempotency_ttl_seconds: int = 24 * 3600


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the settings, reading the environment the first time."""
    return Settings()  # type: ignore[call-arg]


def reset_settings() -> None:
    """Forget cached settings (tests and stage switches)."""
    get_settings.cache_clear()
