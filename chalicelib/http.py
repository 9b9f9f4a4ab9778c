"""The HTTP edge shared by every Blueprint: auth, bodies, problems, JSON."""

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from chalice import Blueprint, Response
from chalice.app import Request
from pydantic import BaseModel, ValidationError

from chalicelib.errors import (
    BadRequest,
    Forbidden,
    ProblemError,
    UnsupportedMediaType,
)
from chalicelib.log import logger
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
]


@dataclass(frozen=True)
class RouteRule:
    """How a route is guarded; the authorization matrix reads these."""

    path: str
    method: str
    auth: bool
    admin: bool = False


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
        params: Any = self.request.query_params or {}
        return params.get(name)

    def body(self, model: type[M]) -> M:
        return parse_body(self.request, model)


def parse_body(request: Request, model: type[M]) -> M:
    """Validate the JSON body against `model`; an absent body counts as `{}`."""
    content_type = _headers(request).get("content-type", "")
    raw = request.raw_body or b""
    if raw.strip() and content_type:
        media = content_type.split(";")[0].strip().lower()
        if media not in JSON_TYPES:
            raise UnsupportedMediaType(
                f"Send the body as application/json, not {media}."
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
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        ROUTE_RULES.append(RouteRule(path, method, auth, admin))

        def register(handler: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(handler)
            def view(**params: str) -> Response:
                request = self.blueprint.current_request
                try:
                    principal = authenticate(_headers(request)) if auth else None
                    if admin and not (principal and principal.is_admin):
                        raise Forbidden(
                            "This needs the admin role in the organization."
                        )
                    call = Call(request, principal)  # type: ignore[arg-type]
                    result = handler(call, **params)
                except ProblemError as exc:
                    return problem_response(exc, request.path)
                except Exception:
                    logger.exception("Unhandled error", path=request.path)
                    return problem_response(
                        ProblemError("The platform hit an internal error."),
                        request.path,
                    )
                if isinstance(result, Response):
                    return result
                return json_response(result, status)

            self.blueprint.route(path, methods=[method], content_types=ACCEPTED_TYPES)(
                view
            )
            return handler

        return register


def _headers(request: Request) -> dict[str, str]:
    return {k.lower(): v for k, v in (request.headers or {}).items()}
