"""The log guard sees Powertools lines with their data, and spots secrets."""

from chalicelib.log import logger
from tests.log_guard import Collect, secrets_in


def test_the_guard_captures_keyword_data_of_info_lines(
    no_secret_in_logs: Collect,
) -> None:
    logger.info("Token event", token_id="tok_abcdefghijklmnop")
    assert any("tok_abcdefghijklmnop" in line for line in no_secret_in_logs.lines)


def test_secret_shapes_are_recognized() -> None:
    secret = "mpt_tok_abcdefghijklmnop_" + "A1b2" * 8
    assert secrets_in([f'{{"token": "{secret}"}}'])
    assert secrets_in(["mpt_rt_ses_abcdefghijklmnop_" + "x" * 43])
    assert not secrets_in(['{"token_id": "tok_abcdefghijklmnop"}'])
