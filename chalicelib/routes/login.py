"""Browser sign-in for `mastra auth login`, token refresh, invitation acceptance.

These routes are public (no bearer token): each checks its own secret.
"""

import json
import re
from html import escape
from urllib.parse import quote, urlencode

from chalice import Blueprint, Response
from chalice.app import Request

from chalicelib.errors import BadRequest, ProblemError
from chalicelib.http import Api, Call
from chalicelib.models import ApiToken, Organization
from chalicelib.routes import pages
from chalicelib.routes.members import member_public
from chalicelib.routes.tokens import token_public
from chalicelib.schemas.members import (
    AcceptedPublic,
    InvitationAccept,
    RefreshedTokens,
    RefreshRequest,
)
from chalicelib.services import invitations, members, sessions
from chalicelib.services.invitations import ACCEPT_PATH

bp = Blueprint(__name__)
api = Api(bp)

_STATE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def cli_target(cli_port: str | None, state: str | None) -> tuple[int, str]:
    """The CLI's loopback port and state, validated; never another host."""
    errors = []
    port = int(cli_port) if cli_port and cli_port.isdigit() else 0
    if not 1024 <= port <= 65535:
        errors.append({"field": "cli_port", "message": "must be 1024 to 65535"})
    if not state or not _STATE.match(state):
        errors.append({"field": "state", "message": "must be 1-128 URL-safe chars"})
    if errors:
        raise BadRequest("The sign-in link is not valid.", errors=errors)
    assert state is not None
    return port, state


def sign_in_form(port: int, state: str, error: str | None, status: int) -> Response:
    body = (
        "<p>Sign in to let the Mastra CLI act for you.</p>"
        f"{pages.error_line(error)}"
        '<form method="post" action="/v1/auth/login">'
        f"{pages.hidden('cli_port', str(port))}{pages.hidden('state', state)}"
        f"{pages.field('email', 'Email', 'email')}"
        f"{pages.field('password', 'Password', 'password')}"
        "<button type=submit>Sign in</button></form>"
    )
    return pages.page("Sign in", body, status)


@api.route("/v1/auth/login", "GET", auth=False)
def login_page(call: Call) -> Response:
    """The sign-in page `mastra auth login` opens in a browser."""
    product = call.query("product") or "cli"
    if product != "cli":
        return pages.message(
            "Sign-in failed", "Only the Mastra CLI (product=cli) signs in here.", 400
        )
    try:
        port, state = cli_target(call.query("cli_port"), call.query("state"))
    except ProblemError as exc:
        return pages.message("Sign-in failed", exc.detail, exc.status)
    return sign_in_form(port, state, None, 200)


@api.route("/v1/auth/login", "POST", auth=False)
def login_submit(call: Call) -> Response:
    """Check the credentials, then send the browser to the CLI's callback."""
    try:
        fields = pages.form(call.request)
        port, state = cli_target(fields.get("cli_port"), fields.get("state"))
    except ProblemError as exc:
        return pages.message("Sign-in failed", exc.detail, exc.status)
    try:
        user = sessions.sign_in(
            fields.get("email", ""), fields.get("password", ""), client_of(call.request)
        )
    except ProblemError as exc:
        return sign_in_form(port, state, exc.detail, exc.status)
    org_id = sessions.default_org(user)
    if org_id is None:
        return pages.message(
            "Sign-in failed", "Your account is not in any organization yet.", 403
        )
    tokens = sessions.start(user.id, org_id)
    user_json = json.dumps(
        {
            "id": user.id,
            "email": user.email,
            "firstName": user.first_name,
            "lastName": user.last_name,
        }
    )
    query = urlencode(
        {
            "state": state,
            "token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            # The CLI decodes `user` twice, so it is encoded twice.
            "user": quote(user_json, safe=""),
            "org": org_id,
        }
    )
    return Response(
        body="",
        status_code=302,
        headers={
            "Location": f"http://127.0.0.1:{port}/callback?{query}",
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        },
    )


@api.route("/v1/auth/refresh-token", "POST", auth=False)
def refresh_token(call: Call) -> RefreshedTokens:
    """Rotate a sign-in's tokens; the old refresh token stops working."""
    body = call.body(RefreshRequest)
    tokens = sessions.refresh(body.refresh_token)
    return RefreshedTokens(
        access_token=tokens.access_token, refresh_token=tokens.refresh_token
    )


@api.route(ACCEPT_PATH, "GET", auth=False)
def accept_page(call: Call) -> Response:
    """The page an invitation email links to."""
    secret = call.query("token") or ""
    try:
        invitation = invitations.find_by_secret(secret)
        invitations.check_open(invitation)
    except ProblemError as exc:
        return pages.message("Invitation", exc.detail, exc.status)
    return accept_form(secret, invitation.org_id, invitation.email, None, 200)


def accept_form(
    secret: str, org_id: str, email: str, error: str | None, status: int
) -> Response:
    org = Organization.get(org_id)
    body = (
        f"<p>Join <strong>{escape(org.name)}</strong> as "
        f"<strong>{escape(email)}</strong>. Choose a password (at least 10 "
        "characters), or enter yours if you already have an account.</p>"
        f"{pages.error_line(error)}"
        f'<form method="post" action="{ACCEPT_PATH}">'
        f"{pages.hidden('token', secret)}"
        f"{pages.field('firstName', 'First name', required=False)}"
        f"{pages.field('lastName', 'Last name', required=False)}"
        f"{pages.field('password', 'Password', 'password')}"
        "<button type=submit>Accept the invitation</button></form>"
    )
    return pages.page("Invitation", body, status)


@api.route(ACCEPT_PATH, "POST", auth=False, status=201)
def accept(call: Call) -> AcceptedPublic | Response:
    """Accept with the invitation's secret (JSON, or the page's form)."""
    if pages.is_form(call.request):
        return accept_from_form(call.request)
    body = call.body(InvitationAccept)
    done = invitations.accept(
        body.token, body.password, body.first_name, body.last_name
    )
    return accepted_public(done)


def accept_from_form(request: Request) -> Response:
    fields = pages.form(request)
    secret = fields.get("token", "")
    try:
        done = invitations.accept(
            secret,
            fields.get("password", ""),
            fields.get("firstName") or None,
            fields.get("lastName") or None,
        )
    except ProblemError as exc:
        try:
            invitation = invitations.find_by_secret(secret)
            invitations.check_open(invitation)
        except ProblemError:
            return pages.message("Invitation", exc.detail, exc.status)
        return accept_form(
            secret, invitation.org_id, invitation.email, exc.detail, exc.status
        )
    body = (
        f"<p>You joined the organization <code>{escape(done.membership.org_id)}"
        "</code>. This is your first API token; it is shown only once:</p>"
        f"<p><code>{escape(done.token_secret)}</code></p>"
        "<p>Use it with the CLI: <code>export MASTRA_API_TOKEN=…</code> and "
        f"<code>export MASTRA_ORG_ID={escape(done.membership.org_id)}</code>, "
        "or run <code>mastra auth login</code> with your email and password.</p>"
    )
    return pages.page("Welcome", body, 201)


def accepted_public(done: invitations.Accepted) -> AcceptedPublic:
    member = members.Member(done.membership, done.user)
    return AcceptedPublic(
        member=member_public(member),
        organization_id=done.membership.org_id,
        token=token_public(ApiToken.get(done.token_id)).model_dump(by_alias=True),
        secret=done.token_secret,
    )


def client_of(request: Request) -> str:
    context = request.context or {}
    identity = context.get("identity") or {}
    return str(identity.get("sourceIp") or "unknown")
