"""Scheduled handlers: EventBridge rules on AWS, a timer thread locally."""

from typing import Any

from chalice import Blueprint, Rate

from chalicelib.services import cleanup, domains

bp = Blueprint(__name__)


@bp.schedule(Rate(5, unit=Rate.MINUTES))
def sweep(event: Any) -> None:
    """Fail overdue deploys, expire unused uploads, remove orphans."""
    cleanup.run()


@bp.schedule(Rate(5, unit=Rate.MINUTES))
def check_domains(event: Any) -> None:
    """Verify custom domains whose next DNS check is due."""
    domains.check_due()
