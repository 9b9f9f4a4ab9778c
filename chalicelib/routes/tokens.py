"""`/v1/auth/tokens`: API tokens for the CLI and automation."""

from chalice import Blueprint
from pynamodb.exceptions import DoesNotExist

from chalicelib.errors import Forbidden, NotFound
from chalicelib.http import Api, Call
from chalicelib.log import logger
from chalicelib.models import ApiToken
from chalicelib.schemas.auth import TokenCreate, TokenCreated, TokenList, TokenPublic
from chalicelib.schemas.common import Ok
from chalicelib.services import audit
from chalicelib.services.auth import mint_token
from chalicelib.services.clock import iso

bp = Blueprint(__name__)
api = Api(bp)


def token_public(token: ApiToken) -> TokenPublic:
    return TokenPublic(
        id=token.id,
        name=token.name,
        obfuscated_value=token.obfuscated_value,
        last_used_at=iso(token.last_used_at),
        created_at=iso(token.created_at) or "",
        expires_at=iso(token.expires_at),
    )


@api.route("/v1/auth/tokens", "POST", status=201, idempotent=True)
def create_token(call: Call) -> TokenCreated:
    """Create a token for the caller; its secret is shown only here."""
    body = call.body(TokenCreate)
    token, secret = mint_token(
        call.principal.org_id, call.principal.user.id, body.name, body.expires_at
    )
    logger.info("API token created", token_id=token.id)
    audit.record(
        call.principal.org_id,
        call.principal.user.id,
        "token.created",
        "token",
        token.id,
        name=token.name,
        owner=token.user_id,
    )
    return TokenCreated(token=token_public(token), secret=secret)


@api.route("/v1/auth/tokens", "GET")
def list_tokens(call: Call) -> TokenList:
    """Admins see every token in the organization; members their own."""
    tokens = ApiToken.org_index.query(call.principal.org_id, scan_index_forward=False)
    visible = [
        t
        for t in tokens
        if call.principal.is_admin or t.user_id == call.principal.user.id
    ]
    return TokenList(tokens=[token_public(t) for t in visible])


@api.route("/v1/auth/tokens/{token_id}", "DELETE")
def revoke_token(call: Call, token_id: str) -> Ok:
    """Revoke a token; the next request made with it is refused."""
    try:
        token = ApiToken.get(token_id, consistent_read=True)
    except DoesNotExist:
        token = None
    if token is None or token.org_id != call.principal.org_id:
        raise NotFound(f"Token {token_id} not found.")
    if token.user_id != call.principal.user.id and not call.principal.is_admin:
        raise Forbidden("Only admins can revoke other members' tokens.")
    token.delete()
    logger.info("API token revoked", token_id=token_id)
    audit.record(
        call.principal.org_id,
        call.principal.user.id,
        "token.revoked",
        "token",
        token_id,
        name=token.name,
        owner=token.user_id,
    )
    return Ok()
