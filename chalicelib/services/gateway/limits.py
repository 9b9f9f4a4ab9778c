"""Per-key limits: requests per minute, and spend with reservations.

Both are single conditional DynamoDB writes, so they hold across any
number of concurrent proxy instances.
"""

import time
from dataclasses import dataclass

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action

from chalicelib.models import GatewayKey, GatewayRateWindow

WINDOW_SECONDS = 60


class RateLimited(Exception):
    def __init__(self, limit: int, retry_after: int) -> None:
        super().__init__(f"rate limit of {limit} requests per minute reached")
        self.limit = limit
        self.retry_after = retry_after


class SpendLimited(Exception):
    def __init__(self, limit_nanos: int) -> None:
        super().__init__("spend limit reached")
        self.limit_nanos = limit_nanos


def take_request(key: GatewayKey, clock: float | None = None) -> None:
    """Count one request in the key's current minute, or raise RateLimited."""
    limit = key.rate_limit_rpm
    if not limit:
        return
    stamp = time.time() if clock is None else clock
    minute = int(stamp // WINDOW_SECONDS)
    window = GatewayRateWindow(f"{key.id}#{minute}")
    try:
        window.update(
            actions=[
                GatewayRateWindow.requests.add(1),
                GatewayRateWindow.expires_at.set((minute + 2) * WINDOW_SECONDS),
            ],
            condition=(
                GatewayRateWindow.requests.does_not_exist()
                | (GatewayRateWindow.requests < int(limit))
            ),
        )
    except UpdateError as exc:
        if not _condition_failed(exc):
            raise
        retry_after = max(1, int((minute + 1) * WINDOW_SECONDS - stamp + 0.999))
        raise RateLimited(int(limit), retry_after) from None


@dataclass
class Reservation:
    """An amount (nano-USD) held against a key's spend limit until `settle`."""

    key_id: str
    amount: int
    settled: bool = False


def reserve(key: GatewayKey, estimate: int) -> Reservation | None:
    """Hold `estimate` nano-USD against the key's limit, or raise SpendLimited."""
    limit = key.spend_limit_nanos
    if limit is None:
        return None
    ceiling = int(limit) - estimate
    try:
        GatewayKey(key.id).update(
            actions=[GatewayKey.committed_nanos.add(estimate)],
            condition=(
                GatewayKey.id.exists()
                & (
                    GatewayKey.committed_nanos.does_not_exist()
                    | (GatewayKey.committed_nanos <= ceiling)
                )
            ),
        )
    except UpdateError as exc:
        if not _condition_failed(exc):
            raise
        raise SpendLimited(int(limit)) from None
    return Reservation(key.id, estimate)


def settle(key: GatewayKey, reservation: Reservation | None, cost: int) -> None:
    """Replace the reservation by the real cost and add it to settled spend."""
    settle_many(key, [(reservation, cost)])


def settle_many(key: GatewayKey, costs: list[tuple[Reservation | None, int]]) -> None:
    """`settle` for several requests of one key, in one conditional write."""
    spent = committed = 0
    for reservation, cost in costs:
        spent += cost
        if reservation is not None and not reservation.settled:
            reservation.settled = True
            committed += cost - reservation.amount
        elif key.spend_limit_nanos is None:
            committed += cost
    actions: list[Action] = [GatewayKey.spent_nanos.add(spent)]
    if committed or key.spend_limit_nanos is None:
        actions.append(GatewayKey.committed_nanos.add(committed))
    try:
        GatewayKey(key.id).update(actions=actions, condition=GatewayKey.id.exists())
    except UpdateError as exc:
        # A key revoked mid-request has nothing left to settle against.
        if not _condition_failed(exc):
            raise


def _condition_failed(exc: UpdateError) -> bool:
    return exc.cause_response_code == "ConditionalCheckFailedException"
