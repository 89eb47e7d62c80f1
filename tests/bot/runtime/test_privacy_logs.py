"""Log lines never carry the bot token, phone numbers or emails, whatever shape they arrive in."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from sqlalchemy.exc import IntegrityError
from telegram.error import BadRequest, NetworkError

from bot.runtime.logs import LINE_FORMAT, RedactSecrets
from storage.db import SessionFactory, transaction
from storage.models import Customer

TOKEN = "1000000:TEST-carebot-token"  # shorter than a real token: only the exact value can catch it
REAL_SHAPED = "7123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(LINE_FORMAT))
    handler.addFilter(RedactSecrets(TOKEN))
    logger = logging.getLogger("tests.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)


def test_the_token_is_redacted_in_messages_arguments_and_urls(logged: tuple[logging.Logger, io.StringIO]) -> None:
    log, stream = logged
    log.info("POST https://api.telegram.org/bot%s/sendMessage", TOKEN)
    log.warning("encoded: https://example.org/?t=%s", "1000000%3ATEST-carebot-token")
    log.error("someone else's token %s", REAL_SHAPED)
    text = stream.getvalue()
    assert "TEST-carebot-token" not in text and REAL_SHAPED not in text
    assert text.count("<token>") == 3


def test_exceptions_from_ptb_and_httpx_are_redacted(logged: tuple[logging.Logger, io.StringIO]) -> None:
    log, stream = logged
    url = f"https://api.telegram.org/bot{TOKEN}/getUpdates"
    for error in (
        NetworkError(f"httpx.ConnectError: [Errno 111] Connection refused while requesting {url}"),
        BadRequest(f"Bad Request: wrong URL {url}"),  # PTB capitalises it: the token ends up in lower case
    ):
        try:
            try:
                raise ValueError(f"inner cause at {url}")
            except ValueError as cause:
                raise error from cause
        except Exception:
            log.exception("handler failed: %s", type(error).__name__)
    log.info("stack", stack_info=True, extra={"url": url})
    text = stream.getvalue()
    assert TOKEN.lower() not in text.lower() and "Traceback" in text and "<token>" in text


def test_contact_details_are_redacted(logged: tuple[logging.Logger, io.StringIO]) -> None:
    log, stream = logged
    log.info("saved %s and %s", "+86 138-1234-5678", "Zhivago.Q@example.com")
    log.info("also %s", "+8613812345678")
    text = stream.getvalue()
    assert "1234" not in text and "example.com" not in text
    assert text.count("<phone>") == 2 and "<email>" in text


def test_a_bad_format_string_neither_breaks_logging_nor_shows_its_arguments(
    logged: tuple[logging.Logger, io.StringIO],
) -> None:
    log, stream = logged
    log.info("two placeholders %s %s", "only-one-secret")
    assert "only-one-secret" not in stream.getvalue() and "unformattable" in stream.getvalue()


async def test_database_errors_leave_the_values_out(sessions: SessionFactory) -> None:
    """A failed statement's message (which ends up in the log) names no phone or email it tried to store."""
    with pytest.raises(IntegrityError) as failure:
        async with transaction(sessions) as session:
            for _ in range(2):
                session.add(Customer(telegram_id=77, phone="+8613812345678", email="zhivago.q@example.com"))
                await session.flush()
    assert "13812345678" not in str(failure.value) and "example.com" not in str(failure.value)
