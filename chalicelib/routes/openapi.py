"""`GET /openapi.json`: the API described from its own route table."""

from chalice import Blueprint, Response

from chalicelib.http import Api, Call
from chalicelib.openapi import document_json

bp = Blueprint(__name__)
api = Api(bp)


@api.route("/openapi.json", "GET", auth=False)
def openapi_document(call: Call) -> Response:
    """The OpenAPI 3.1 document, generated from ROUTE_RULES and the schemas."""
    return Response(
        body=document_json(),
        status_code=200,
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
