"""The OpenAPI 3.1 document, generated from the route table and pydantic.

Chalice routes come from ROUTE_RULES: the handler's return annotation is the
success schema, its `call.body(Model)` calls the request schema, its
`call.query("name")` and `call.header("name")` calls the parameters (read
from the handler's source, and from same-module helpers it hands `call` to).
Routes whose handler returns a bare chalice Response, and the streaming
routes, are described in OVERRIDES and STREAMING below; a route that is in
neither and has no typed return fails `document()` (and its test).
"""

import ast
import functools
import inspect
import json
import re
import textwrap
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic.json_schema import models_json_schema

from chalicelib import edge
from chalicelib.http import ROUTE_RULES, RouteRule
from chalicelib.schemas.operations import EnvVarsPublic
from chalicelib.schemas.projects import DiagnosisEnvelope
from chalicelib.services import idempotency

REF = "#/components/schemas/{model}"
PROBLEM = "application/problem+json"
JSON = "application/json"
HTML = "text/html"
_PARAM = re.compile(r"\{([^}/]+)\}")
# Headers the edge reads on every request; not per-route parameters.
_EDGE_HEADERS = {"authorization", "host", "x-forwarded-proto", "origin"}


class MissingMetadata(Exception):
    """A route the document cannot describe: type it or add an override."""


class FieldProblem(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, as every error response carries them."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    message: str
    instance: str | None = None
    errors: list[FieldProblem] | None = None


@dataclass(frozen=True)
class Body:
    """One response body: a media type and, for JSON, its model."""

    media: str = JSON
    model: type[BaseModel] | None = None
    schema: dict[str, Any] | None = None


@dataclass(frozen=True)
class Override:
    """What a route's types cannot say: other statuses and media types."""

    success: dict[int, Body | tuple[Body, ...] | None] = field(default_factory=dict)
    errors: tuple[int, ...] = ()
    request_media: tuple[str, ...] = ()
    summary: str = ""


_HTML_PAGE = Body(HTML, schema={"type": "string"})
_HTML_OR_PROBLEM = (_HTML_PAGE, Body(PROBLEM, model=Problem))
_ANY_JSON = {"type": "object", "additionalProperties": True}

OVERRIDES: dict[tuple[str, str], Override] = {
    ("GET", "/openapi.json"): Override(
        success={200: Body(schema=_ANY_JSON)}, summary="This document."
    ),
    # The browser pages answer with HTML, their refusals too (or problem+json).
    ("GET", "/v1/auth/login"): Override(
        success={200: _HTML_PAGE, 400: _HTML_OR_PROBLEM, 404: _HTML_OR_PROBLEM},
        summary="The sign-in page.",
    ),
    ("POST", "/v1/auth/login"): Override(
        success={
            200: _HTML_PAGE,
            302: None,
            **{s: _HTML_OR_PROBLEM for s in (400, 401, 415, 429)},
        },
        request_media=("application/x-www-form-urlencoded",),
        summary="Sign in; redirects the browser to the CLI's callback.",
    ),
    ("GET", "/v1/invitations/accept"): Override(
        success={200: _HTML_PAGE, **{s: _HTML_OR_PROBLEM for s in (400, 404, 410)}},
        summary="Invitation page.",
    ),
    ("POST", "/v1/invitations/accept"): Override(
        success={200: _HTML_PAGE, **{s: _HTML_OR_PROBLEM for s in (404, 409, 410)}},
        request_media=("application/x-www-form-urlencoded",),
    ),
    ("POST", "/v1/org/members/invitations"): Override(errors=(409,)),
    ("POST", "/v1/auth/refresh-token"): Override(errors=(401, 429)),
    ("GET", "/v1/server/projects/{project_id}/env"): Override(
        success={200: Body(model=EnvVarsPublic)}
    ),
    ("PUT", "/v1/server/projects/{project_id}/env"): Override(
        success={200: Body(model=EnvVarsPublic)}, errors=(412, 428)
    ),
    **{
        ("GET", f"/v1/{product}/deploys/{{deploy_id}}/diagnosis"): Override(
            success={200: Body(model=DiagnosisEnvelope), 204: None}
        )
        for product in ("studio", "server")
    },
    **{
        ("POST", f"/v1/{product}/deploys/{{deploy_id}}/diagnosis"): Override(
            success={201: Body(schema=_ANY_JSON), 304: None}
        )
        for product in ("studio", "server")
    },
}

_EVENT_STREAM = Body("text/event-stream", schema={"type": "string"})
_PROXY_BODY = {
    "description": "The provider's own wire format (OpenAI or Anthropic).",
    **_ANY_JSON,
}


@dataclass(frozen=True)
class Streaming:
    """A streaming route's description (chalicelib/streaming.py ROUTES)."""

    summary: str
    security: Literal["bearer", "gateway"]
    success: dict[int, Body | tuple[Body, ...]]
    errors: tuple[int, ...]
    body: dict[str, Any] | None = None


STREAMING: dict[tuple[str, str], Streaming] = {
    ("GET", "/v1/studio/deploys/{deploy_id}/logs/stream"): Streaming(
        "A deploy's log as server-sent events; closes when the deploy is done.",
        "bearer",
        {200: _EVENT_STREAM},
        (401, 403, 404),
    ),
    **{
        ("POST", path): Streaming(
            f"LLM gateway: {path}, streamed when the body asks for a stream.",
            "gateway",
            {200: (Body(schema=_ANY_JSON), _EVENT_STREAM)},
            (400, 401, 402, 403, 404, 413, 415, 429, 502, 503, 504),
            body=_PROXY_BODY,
        )
        for path in ("/v1/chat/completions", "/v1/responses", "/v1/messages")
    },
    ("GET", "/v1/models"): Streaming(
        "LLM gateway: the models this key may use, in OpenAI's list format.",
        "gateway",
        {200: Body(schema=_ANY_JSON)},
        (401,),
    ),
}


@dataclass
class HandlerReads:
    """What a handler reads from the request, found in its source."""

    bodies: list[type[BaseModel]] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)


def handler_reads(handler: Callable[..., Any]) -> HandlerReads:
    reads = HandlerReads()
    _scan(handler, reads, depth=2, seen=set())
    return reads


def _scan(
    func: Callable[..., Any], reads: HandlerReads, depth: int, seen: set[Any]
) -> None:
    func = inspect.unwrap(func)
    if func in seen or not isinstance(func, types.FunctionType):
        return
    seen.add(func)
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    except (OSError, TypeError, SyntaxError):
        return
    names = func.__globals__
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        target = node.func
        if isinstance(target, ast.Attribute) and _is_call(target.value):
            _read(target.attr, node, names, reads)
        elif any(_is_call_query(arg) for arg in node.args):
            # A parser handed `call.query` and a tuple of the names it reads.
            for arg in node.args:
                value = _resolve(arg, names)
                if isinstance(value, tuple) and all(isinstance(v, str) for v in value):
                    reads.queries += list(value)
        elif depth and any(_is_call(arg) for arg in node.args):
            helper = _resolve(target, names)
            if callable(helper) and getattr(helper, "__module__", "").startswith(
                "chalicelib"
            ):
                if isinstance(target, ast.Name) and "query" in target.id:
                    reads.queries += _constants(node.args)
                _scan(helper, reads, depth - 1, seen)


def _is_call(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id == "call"


def _is_call_query(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and _is_call(node.value)
        and node.attr == "query"
    )


def _read(
    attr: str, node: ast.Call, names: dict[str, Any], reads: HandlerReads
) -> None:
    if attr == "body" and node.args:
        model = _resolve(node.args[0], names)
        if isinstance(model, type) and issubclass(model, BaseModel):
            reads.bodies.append(model)
    elif attr == "query":
        reads.queries += _constants(node.args[:1])
    elif attr == "header":
        reads.headers += [
            h.lower()
            for h in _constants(node.args[:1])
            if h.lower() not in _EDGE_HEADERS
        ]


def _constants(args: list[ast.expr]) -> list[str]:
    return [
        a.value
        for a in args
        if isinstance(a, ast.Constant) and isinstance(a.value, str)
    ]


def _resolve(node: ast.expr, names: dict[str, Any]) -> Any:
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.Attribute):
        owner = _resolve(node.value, names)
        return getattr(owner, node.attr, None) if owner is not None else None
    return None


def _return_models(handler: Callable[..., Any]) -> list[type[BaseModel]]:
    hint = typing.get_type_hints(inspect.unwrap(handler)).get("return")
    options = (
        typing.get_args(hint)
        if typing.get_origin(hint) in (typing.Union, types.UnionType)
        else (hint,)
    )
    return [o for o in options if isinstance(o, type) and issubclass(o, BaseModel)]


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM: {"schema": {"$ref": REF.format(model="Problem")}}},
    }


_ERROR_TEXT = {
    400: "The request is not valid (body, query or path).",
    401: "No valid credentials.",
    402: "A spend limit is exhausted.",
    403: "The caller may not do this in this organization.",
    404: "Not found (or an unknown organization).",
    409: "Conflicts with the current state.",
    410: "Expired.",
    412: "If-Match does not match the current version.",
    413: "The body is over the limit (PLATFORM_MAX_REQUEST_BODY_BYTES).",
    415: "The body is not application/json.",
    422: "The Idempotency-Key was used for a different request.",
    428: "If-Match is required.",
    429: "Too many requests; see Retry-After.",
    502: "The upstream provider failed.",
    503: "Temporarily unavailable; see Retry-After.",
    504: "The upstream provider timed out.",
}


class _Schemas:
    """Collects models; their JSON Schemas land in components.schemas."""

    def __init__(self) -> None:
        self.models: set[tuple[type[BaseModel], str]] = {(Problem, "serialization")}

    def ref(self, model: type[BaseModel], mode: str) -> dict[str, Any]:
        self.models.add((model, mode))
        return {"$ref": f"__{mode}__{model.__module__}.{model.__qualname__}"}

    def components(self) -> tuple[dict[str, Any], dict[str, str]]:
        ordered = sorted(self.models, key=lambda m: (m[0].__qualname__, m[1]))
        keyed, top = models_json_schema(
            [(model, mode) for model, mode in ordered],  # type: ignore[misc]
            ref_template=REF,
        )
        refs = {
            f"__{mode}__{model.__module__}.{model.__qualname__}": schema["$ref"]
            for (model, mode), schema in keyed.items()
        }
        return top.get("$defs", {}), refs


def _body(
    body: Body | tuple[Body, ...] | None, schemas: _Schemas
) -> dict[str, Any] | None:
    if body is None:
        return None
    if isinstance(body, tuple):
        return {k: v for b in body for k, v in (_body(b, schemas) or {}).items()}
    if body.model is not None:
        schema = schemas.ref(body.model, "serialization")
    else:
        schema = body.schema or {}
    return {body.media: {"schema": schema}}


def _response(
    status: int, body: Body | tuple[Body, ...] | None, schemas: _Schemas
) -> dict[str, Any]:
    out: dict[str, Any] = {"description": _SUCCESS_TEXT.get(status, "Success.")}
    content = _body(body, schemas)
    if content:
        out["content"] = content
    return out


_SUCCESS_TEXT = {
    200: "OK.",
    201: "Created.",
    204: "No content.",
    302: "Redirect.",
    304: "Already there.",
}


def _path_parameters(path: str) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "minLength": 1},
            "description": "An opaque id, percent-encoded in the URL, decoded once.",
        }
        for name in _PARAM.findall(path)
    ]


def _chalice_operation(rule: RouteRule, schemas: _Schemas) -> dict[str, Any]:
    override = OVERRIDES.get((rule.method, rule.path))
    reads = handler_reads(rule.handler)
    models = _return_models(rule.handler)
    if override is None and (len(models) != 1):
        raise MissingMetadata(
            f"{rule.method} {rule.path}: its handler returns no single pydantic "
            "model; type it or describe it in chalicelib/openapi.py OVERRIDES."
        )
    override = override or Override()
    success: dict[int, Body | tuple[Body, ...] | None] = dict(override.success)
    if models and rule.status not in success:
        success[rule.status] = Body(model=models[0])
    responses = {str(s): _response(s, b, schemas) for s, b in sorted(success.items())}
    errors = set(override.errors)
    params = _path_parameters(rule.path)
    if params:
        errors |= {400, 404}
    if reads.queries:
        errors.add(400)
    if rule.auth:
        errors |= {401, 403, 404}
        params.append(
            {
                "name": "x-organization-id",
                "in": "header",
                "required": False,
                "schema": {"type": "string"},
                "description": "The organization to act in; default the token's.",
            }
        )
    if rule.method in ("POST", "PUT", "PATCH", "DELETE"):
        errors.add(409 if rule.auth else 400)
    for name in dict.fromkeys(reads.queries):
        params.append(
            {
                "name": name,
                "in": "query",
                "required": False,
                "schema": {"type": "string"},
                "description": "Give it once: a repeated parameter is a 400.",
            }
        )
    for name in dict.fromkeys(reads.headers):
        params.append(
            {
                "name": name,
                "in": "header",
                "required": False,
                "schema": {"type": "string"},
            }
        )
    if rule.idempotent:
        errors |= {409, 422}
        params.append(
            {
                "name": idempotency.HEADER,
                "in": "header",
                "required": False,
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                "description": "Replays the first response for the same request; "
                "422 for a different one.",
            }
        )
    operation: dict[str, Any] = {
        "operationId": _operation_id(rule.method, rule.path),
        "summary": override.summary or _first_line(rule.handler),
        "tags": [_tag(rule.path)],
        "parameters": params,
        "responses": responses,
        "security": [{"bearerAuth": []}] if rule.auth else [],
    }
    if reads.bodies:
        errors |= {400, 413, 415}
        model = reads.bodies[0]
        content = {JSON: {"schema": schemas.ref(model, "validation")}}
        for media in override.request_media:
            content[media] = {"schema": {"type": "object"}}
        operation["requestBody"] = {
            "required": any(f.is_required() for f in model.model_fields.values()),
            "content": content,
            "description": f"At most {edge.body_limit()} bytes.",
        }
    for status in sorted(errors):
        responses.setdefault(str(status), _problem(_ERROR_TEXT.get(status, "Refused.")))
    return operation


def _streaming_operation(
    method: str, path: str, doc: Streaming, schemas: _Schemas
) -> dict[str, Any]:
    responses = {str(s): _response(s, b, schemas) for s, b in doc.success.items()}
    for status in doc.errors:
        responses[str(status)] = _problem(_ERROR_TEXT.get(status, "Refused."))
    security: list[dict[str, list[str]]] = (
        [{"bearerAuth": []}]
        if doc.security == "bearer"
        else [{"gatewayKey": []}, {"gatewayApiKey": []}]
    )
    operation: dict[str, Any] = {
        "operationId": _operation_id(method, path),
        "summary": doc.summary,
        "tags": ["gateway proxy" if doc.security == "gateway" else "streams"],
        "parameters": _path_parameters(path),
        "responses": responses,
        "security": security,
    }
    if doc.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {JSON: {"schema": doc.body}},
        }
    return operation


def _operation_id(method: str, path: str) -> str:
    words = re.sub(r"[^A-Za-z0-9]+", "_", path.replace("{", "by_")).strip("_")
    return f"{method.lower()}_{words}"


def _tag(path: str) -> str:
    parts = [p for p in path.split("/") if p and not p.startswith("{")]
    return parts[1] if len(parts) > 1 and parts[0] == "v1" else parts[0]


def _first_line(handler: Callable[..., Any]) -> str:
    doc = inspect.getdoc(inspect.unwrap(handler)) or ""
    return doc.splitlines()[0] if doc else ""


def streaming_routes() -> Iterator[tuple[str, str]]:
    from chalicelib.streaming import ROUTES

    for route in ROUTES:
        for method in sorted(set(getattr(route, "methods", None) or ()) - {"HEAD"}):
            yield method, route.path


def document() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document for every Chalice and streaming route."""
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    for rule in ROUTE_RULES:
        paths.setdefault(rule.path, {})[rule.method.lower()] = _chalice_operation(
            rule, schemas
        )
    for method, path in streaming_routes():
        doc = STREAMING.get((method, path))
        if doc is None:
            raise MissingMetadata(
                f"{method} {path}: describe the streaming route in "
                "chalicelib/openapi.py STREAMING."
            )
        paths.setdefault(path, {})[method.lower()] = _streaming_operation(
            method, path, doc, schemas
        )
    defs, refs = schemas.components()
    text = json.dumps({"paths": paths})
    for placeholder, ref in refs.items():
        text = text.replace(json.dumps(placeholder), json.dumps(ref))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Mastra platform control plane",
            "version": "1",
            "description": "Generated from the route table and the pydantic "
            "schemas. Errors are RFC 9457 problem+json. JSON bodies are at most "
            f"{edge.body_limit()} bytes (413 beyond, before parsing).",
        },
        "servers": [{"url": "/"}],
        "paths": json.loads(text)["paths"],
        "components": {
            "schemas": defs,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token or a CLI access token.",
                },
                "gatewayKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A gateway key (mgk_...).",
                },
                "gatewayApiKey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "x-api-key",
                    "description": "A gateway key, the Anthropic SDK's way.",
                },
            },
        },
    }


@functools.cache
def document_json() -> str:
    return json.dumps(document(), sort_keys=False)
