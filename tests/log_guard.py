"""Every log line of every test is checked for token secrets.

The guard lowers the platform logger to DEBUG for the test, formats each
record with Powertools' own formatter (so keyword data is included), and
fails the test if any line holds something shaped like one of our secrets.
"""

import logging
import re
from collections.abc import Iterator

import pytest

from chalicelib.log import logger

SECRET = re.compile(r"mpt_(?:tok|inv|at_ses|rt_ses)_[a-z2-7]{16}_[A-Za-z0-9_-]{20,}")


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def secrets_in(lines: list[str]) -> list[str]:
    return [line for line in lines if SECRET.search(line)]


@pytest.fixture(autouse=True)
def no_secret_in_logs() -> Iterator[Collect]:
    target = logger._logger
    handler = Collect()
    handler.setFormatter(logger.registered_formatter)
    root = logging.getLogger()
    level = target.level
    target.setLevel(logging.DEBUG)
    target.addHandler(handler)
    root.addHandler(handler)
    try:
        yield handler
    finally:
        target.removeHandler(handler)
        root.removeHandler(handler)
        target.setLevel(level)
    leaked = secrets_in(handler.lines)
    assert not leaked, f"a secret was logged: {leaked[:3]}"
