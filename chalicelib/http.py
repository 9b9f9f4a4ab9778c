"""The HTTP edge shared by every Blueprint: auth, bodies, problems, JSON."""

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from chalice import Blueprint, Response
from chalice.app import Request
from pydantic import BaseModel, ValidationError

from chalicelib import edge
from chalicelib.errors import (
    BadRequest,
    Forbidden,
    ProblemError,
    UnsupportedMediaType,
)
from chalicelib.log import logger
from chalicelib.services import idempotency
from chalicelib.services.auth import Principal, authenticate

M = TypeVar("M", bound=BaseModel)

JSON_TYPES = ("application/json", "application/problem+json")
# Accepted so that a wrong type reaches us and gets a problem+json 415,
# instead of Chalice's own error body.
ACCEPTED_TYPES = [
    "application/json",
    "application/problem+json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "application/octet-stream",
    "multipart/form-data",
    "application/zip",
    # Any other type too (Chalice matches "*/*" against all of them).
    "*/*",
]


@dataclass(frozen=True)
class RouteRule:
    """How a route is guarded; the authorization matrix reads these."""

    path: str
    method: str
    auth: bool
    admin: bool = False
    status: int = 200
    # Creating POSTs honour an Idempotency-Key header (issue 8).
    idempotent: bool = False
    # The typed handler; chalicelib/openapi.py reads its schemas.
    handler: Any = field(default=None, compare=False, repr=False)


ROUTE_RULES: list[RouteRule] = []


@dataclass
class Call:
    """One request as a handler sees it."""

    request: Request
    principal: Principal

    def header(self, name: str) -> str | None:
        value = _headers(self.request).get(name.lower())
        return value.strip() if value and value.strip() else None

    def query(self, name: str) -> str | None:
        return edge.single_query(self.request.query_params, name)

    def body(self, model: type[M]) -> M:
        return parse_body(self.request, model)


def parse_body(request: Request, model: type[M]) -> M:
    """Validate the JSON body against `model`; an absent body counts as `{}`."""
    content_type = _headers(request).get("content-type", "")
    raw = request.raw_body or b""
    if raw.strip():
        media = content_type.split(";")[0].strip().lower()
        if media not in JSON_TYPES:
            raise UnsupportedMediaType(
                f"Send the body as application/json, not {media or 'untyped'}."
            )
    try:
        return model.model_validate_json(raw if raw.strip() else b"{}")
    except ValidationError as exc:
        raise BadRequest(
            "The request body is not valid.", errors=field_errors(exc)
        ) from None


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    errors = []
    for error in exc.errors(include_url=False, include_input=False):
        if error["type"] == "json_invalid":
            return [{"field": "body", "message": "is not valid JSON"}]
        field = ".".join(str(part) for part in error["loc"]) or "body"
        errors.append({"field": field, "message": error["msg"]})
    return errors


def json_response(payload: Any, status: int = 200) -> Response:
    if isinstance(payload, BaseModel):
        body = payload.model_dump_json(by_alias=True)
    else:
        body = json.dumps(payload)
    return Response(
        body=body,
        status_code=status,
        headers={"Content-Type": "application/json; charset=utf-8"},
    )


def problem_response(error: ProblemError, instance: str | None) -> Response:
    return Response(
        body=json.dumps(error.to_problem(instance)),
        status_code=error.status,
        headers={"Content-Type": "application/problem+json", **error.headers},
    )


class Api:
    """Registers routes on a Blueprint with auth and problem handling."""

    def __init__(self, blueprint: Blueprint) -> None:
        self.blueprint = blueprint

    def route(
        self,
        path: str,
        method: str,
        *,
        auth: bool = True,
        status: int = 200,
        admin: bool = False,
        idempotent: bool = False,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def register(handler: Callable[..., Any]) -> Callable[..., Any]:
            ROUTE_RULES.append(
                RouteRule(path, method, auth, admin, status, idempotent, handler)
            )

            @functools.wraps(handler)
            def view(**raw_params: str) -> Response:
                request = self.blueprint.current_request
                response = handle(request, raw_params)
                response.headers.update(
                    edge.cors_headers(_headers(request).get("origin"))
                )
                return response

            def handle(request: Request, raw_params: dict[str, str]) -> Response:
                params = edge.decode_path_params(raw_params, request.context)
                try:
                    edge.check_body_size(
                        _headers(request).get("content-length"),
                        len(request.raw_body or b""),
                    )
                    principal = authenticate(_headers(request)) if auth else None
                    if admin and not (principal and principal.is_admin):
                        raise Forbidden(
                            "This needs the admin role in the organization."
                        )
                    call = Call(request, principal)  # type: ignore[arg-type]

                    def run() -> Response:
                        return _render(handler(call, **params), status)

                    key = call.header(idempotency.HEADER) if idempotent else None
                    if key and principal:
                        return _replayable(call, key, path, params, run)
                    return run()
                except ProblemError as exc:
                    return problem_response(exc, request.path)
                except Exception:
                    logger.exception("Unhandled error", path=request.path)
                    return problem_response(
                        ProblemError("The platform hit an internal error."),
                        request.path,
                    )

            self.blueprint.route(path, methods=[method], content_types=ACCEPTED_TYPES)(
                view
            )
            return handler

        return register


def _render(result: Any, status: int) -> Response:
    if isinstance(result, Response):
        return result
    return json_response(result, status)


def _replayable(
    call: Call,
    key: str,
    route: str,
    params: dict[str, str],
    run: Callable[[], Response],
) -> Response:
    """Run a creating route once per Idempotency-Key; replay its response."""

    def execute() -> dict[str, Any]:
        response = run()
        body = response.body
        if isinstance(body, bytes):
            body = body.decode()
        elif not isinstance(body, str):
            body = json.dumps(body)
        return {
            "status": response.status_code,
            "headers": dict(response.headers or {}),
            "body": body,
        }

    request = call.request
    record = idempotency.run(
        call.principal.org_id,
        key,
        idempotency.fingerprint(request.method, route, params, request.raw_body or b""),
        execute,
        request.lambda_context,
    )
    return Response(
        body=record["body"],
        status_code=int(record["status"]),
        headers=dict(record["headers"]),
    )


def _headers(request: Request) -> dict[str, str]:
    return {k.lower(): v for k, v in (request.headers or {}).items()}
