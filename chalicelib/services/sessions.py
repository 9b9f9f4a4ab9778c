"""Browser sign-in for `mastra auth login`: passwords, sessions, throttling.

A session holds one short-lived access token (`mpt_at_<session>_<random>`)
and one refresh token (`mpt_rt_<session>_<random>`), both stored as hashes.
Refreshing rotates both in one conditional write: the presented refresh
token must still be the current one, so a rotated token is refused, and of
two concurrent refreshes with the same token only one succeeds.
"""

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from pynamodb.exceptions import DoesNotExist, UpdateError

from chalicelib.errors import TooManyRequests, Unauthorized
from chalicelib.log import logger
from chalicelib.models import LoginThrottle, Membership, Session, User
from chalicelib.services import passwords
from chalicelib.services.accounts import normalize_email, user_by_email
from chalicelib.services.auth import ACCESS_TOKEN_PREFIX, hash_secret
from chalicelib.services.clock import new_id, now
from chalicelib.settings import get_settings

REFRESH_TOKEN_PREFIX = "mpt_rt_"  # noqa: S105 - a public prefix, not a secret
_ACCESS_SHAPE = re.compile(r"^mpt_at_(ses_[a-z2-7]{16})_[A-Za-z0-9_-]{32,128}$")
_REFRESH_SHAPE = re.compile(r"^mpt_rt_(ses_[a-z2-7]{16})_[A-Za-z0-9_-]{32,128}$")
SIGN_IN_REFUSED = "The email or password is not correct."


@dataclass(frozen=True)
class Tokens:
    session: Session
    access_token: str
    refresh_token: str


def sign_in(email: str, password: str, client: str) -> User:
    """The user for these credentials; one answer for every kind of failure."""
    email = normalize_email(email)
    throttle = _throttle_key(email, client)
    settings = get_settings()
    if _failures(throttle) >= settings.login_max_failures:
        raise TooManyRequests(
            "Too many failed sign-ins; wait a few minutes and try again.",
            headers={"Retry-After": str(settings.login_window_seconds)},
        )
    user = user_by_email(email) if email else None
    if not passwords.verify_password(user.password_hash if user else None, password):
        _record_failure(throttle)
        logger.info("Sign-in refused")
        raise Unauthorized(SIGN_IN_REFUSED)
    assert user is not None
    return user


def default_org(user: User) -> str | None:
    """The organization a fresh sign-in starts in: the oldest membership."""
    memberships = sorted(
        Membership.user_index.query(user.id), key=lambda m: m.created_at
    )
    return memberships[0].org_id if memberships else None


def start(user_id: str, org_id: str) -> Tokens:
    settings = get_settings()
    stamp = now()
    session_id = new_id("ses")
    access, refresh = _pair(session_id)
    refresh_expires = stamp + timedelta(seconds=settings.refresh_token_ttl_seconds)
    session = Session(
        session_id,
        user_id=user_id,
        org_id=org_id,
        access_hash=hash_secret(access),
        access_expires_at=stamp + timedelta(seconds=settings.access_token_ttl_seconds),
        refresh_hash=hash_secret(refresh),
        refresh_expires_at=refresh_expires,
        generation=0,
        state="active",
        created_at=stamp,
        expires_at=int(refresh_expires.timestamp()),
    )
    session.save(condition=Session.id.does_not_exist())
    logger.info("Session started", session_id=session_id)
    return Tokens(session, access, refresh)


def refresh(refresh_token: str) -> Tokens:
    """Rotate both tokens; the presented refresh token stops working."""
    refused = Unauthorized("The refresh token is not valid; sign in again.")
    match = _REFRESH_SHAPE.match(refresh_token.strip())
    if match is None:
        raise refused
    try:
        session = Session.get(match.group(1), consistent_read=True)
    except DoesNotExist:
        raise refused from None
    presented = hash_secret(refresh_token.strip())
    stamp = now()
    if (
        session.state != "active"
        or session.refresh_expires_at <= stamp
        or not hmac.compare_digest(session.refresh_hash, presented)
    ):
        raise refused
    settings = get_settings()
    access, new_refresh = _pair(session.id)
    try:
        session.update(
            actions=[
                Session.access_hash.set(hash_secret(access)),
                Session.access_expires_at.set(
                    stamp + timedelta(seconds=settings.access_token_ttl_seconds)
                ),
                Session.refresh_hash.set(hash_secret(new_refresh)),
                Session.generation.add(1),
            ],
            condition=(Session.refresh_hash == presented) & (Session.state == "active"),
        )
    except UpdateError:
        raise refused from None
    logger.info("Session refreshed", session_id=session.id)
    return Tokens(session, access, new_refresh)


def load_access(access_token: str) -> Session:
    """The live session behind an access token, or 401."""
    match = _ACCESS_SHAPE.match(access_token)
    if match is None:
        raise Unauthorized("The access token is malformed.")
    try:
        session = Session.get(match.group(1), consistent_read=True)
    except DoesNotExist:
        raise Unauthorized("The access token is not valid.") from None
    if session.state != "active" or not hmac.compare_digest(
        session.access_hash, hash_secret(access_token)
    ):
        raise Unauthorized("The access token is not valid.")
    if session.access_expires_at <= now():
        raise Unauthorized("The access token has expired.")
    return session


def end(session_id: str) -> None:
    """Sign out: both of the session's tokens stop working at once."""
    try:
        Session(session_id).update(
            actions=[Session.state.set("ended")], condition=Session.id.exists()
        )
    except UpdateError:
        return
    logger.info("Session ended", session_id=session_id)


def session_id_of(token: str) -> str | None:
    """The session id inside an access or refresh token, or None."""
    match = _ACCESS_SHAPE.match(token) or _REFRESH_SHAPE.match(token)
    return match.group(1) if match else None


def _pair(session_id: str) -> tuple[str, str]:
    return (
        f"{ACCESS_TOKEN_PREFIX}{session_id}_{secrets.token_urlsafe(32)}",
        f"{REFRESH_TOKEN_PREFIX}{session_id}_{secrets.token_urlsafe(32)}",
    )


def _throttle_key(email: str, client: str) -> str:
    window = int(now().timestamp()) // get_settings().login_window_seconds
    raw = f"{email}\n{client}\n{window}".encode()
    return hashlib.sha256(raw).hexdigest()


def _failures(key: str) -> int:
    try:
        return int(LoginThrottle.get(key, consistent_read=True).failures)
    except DoesNotExist:
        return 0


def _record_failure(key: str) -> None:
    # ADD is atomic: concurrent failures all count.
    expires = int(now().timestamp()) + 2 * get_settings().login_window_seconds
    LoginThrottle(key).update(
        actions=[
            LoginThrottle.failures.add(1),
            LoginThrottle.expires_at.set(expires),
        ]
    )
