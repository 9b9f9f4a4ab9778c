"""Wrong methods and CORS preflights, answered by the API itself (issue 8).

On AWS, API Gateway answers a method that no route declares with its own
403 "Missing Authentication Token" before the Lambda runs. Registering the
methods every path lacks, once all Blueprints are in, gives a 405
problem+json with an `Allow` header the same way under the test client, the
local server and API Gateway, and an OPTIONS preflight for allowlisted
origins. Unknown paths are answered by local/front.py and, on AWS, by the
gateway responses in infra/stack.py.
"""

from chalice import Chalice, Response

from chalicelib import edge
from chalicelib.errors import MethodNotAllowed
from chalicelib.http import ACCEPTED_TYPES, problem_response

# (method, path) pairs registered here, not by a Blueprint route.
FALLBACK_ROUTES: set[tuple[str, str]] = set()


def register(app: Chalice) -> None:
    """Add the missing methods and OPTIONS to every path `app` routes."""

    def method_fallback() -> Response:
        request = app.current_request
        assert request is not None
        declared = sorted(
            method
            for method in app.routes[request.path]
            if (method, request.path) not in FALLBACK_ROUTES
        )
        origin: str | None = request.headers.get("origin")
        allow = ", ".join(declared)
        if request.method == "OPTIONS":
            headers: dict[str, str | list[str]] = {
                "Allow": allow,
                **edge.preflight_headers(origin, declared),
            }
            return Response(body="", status_code=204, headers=headers)
        error = MethodNotAllowed(
            f"{request.method} is not allowed on {request.path}; use {allow}.",
            headers={"Allow": allow},
        )
        response = problem_response(error, request.path)
        response.headers.update(edge.cors_headers(origin))
        return response

    for path, methods in list(app.routes.items()):
        missing = [m for m in (*edge.HTTP_METHODS, "OPTIONS") if m not in methods]
        if not missing:
            continue
        FALLBACK_ROUTES.update((method, path) for method in missing)
        app.route(path, methods=missing, content_types=ACCEPTED_TYPES)(method_fallback)
