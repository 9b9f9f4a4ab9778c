"""Pieces both deploy products share: upload confirmation and diagnosis."""

from chalice import Response

from chalicelib.http import Call, json_response
from chalicelib.models import Deploy
from chalicelib.services import deploys, diagnosis


def diagnosis_get(deploy: Deploy) -> Response:
    if diagnosis.is_healthy(deploy):
        return Response(body="", status_code=204)
    return json_response({"diagnosis": diagnosis.load(deploy)})


def diagnosis_post(deploy: Deploy) -> Response:
    # The CLI accepts exactly 201 (started) or 304 (already there).
    if diagnosis.start(deploy):
        return json_response(
            {
                "diagnosis": diagnosis.load(
                    deploys.get_for_org(deploy.org_id, deploy.id, deploy.product)
                )
            },
            201,
        )
    return Response(body="", status_code=304)


def load(call: Call, deploy_id: str, product: str) -> Deploy:
    return deploys.get_for_org(call.principal.org_id, deploy_id, product)
