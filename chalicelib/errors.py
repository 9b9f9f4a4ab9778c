"""The error family every layer raises; rendered as problem+json in one place."""

from typing import Any


class ProblemError(Exception):
    """An error with an HTTP status, shown to clients as RFC 9457 problem+json."""

    status = 500
    title = "Internal Server Error"

    def __init__(
        self,
        detail: str,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            # The CLI's richer extractor falls back to `message`; keep both.
            "message": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = self.errors
        return body


class BadRequest(ProblemError):
    status = 400
    title = "Bad Request"


class Unauthorized(ProblemError):
    status = 401
    title = "Unauthorized"


class Forbidden(ProblemError):
    status = 403
    title = "Forbidden"


class NotFound(ProblemError):
    status = 404
    title = "Not Found"


class MethodNotAllowed(ProblemError):
    status = 405
    title = "Method Not Allowed"


class Conflict(ProblemError):
    status = 409
    title = "Conflict"


class Gone(ProblemError):
    status = 410
    title = "Gone"


class PayloadTooLarge(ProblemError):
    status = 413
    title = "Payload Too Large"


class UnsupportedMediaType(ProblemError):
    status = 415
    title = "Unsupported Media Type"


class Unprocessable(ProblemError):
    status = 422
    title = "Unprocessable Content"


class TooManyRequests(ProblemError):
    status = 429
    title = "Too Many Requests"


class ServiceUnavailable(ProblemError):
    status = 503
    title = "Service Unavailable"
