"""`carebot run` through a conversation full of personal data and Bot API faults: its log holds none of it."""

from __future__ import annotations

from pathlib import Path

from tests.botapi import TOKEN, FakeTelegram
from tests.harness import carebot_against_fake

PHONE_TYPED = "+86 138-1234-5678"
EMAIL = "zhivago.q@example.com"
SECRET_TEXT = "my blue umbrella parcel ZQ-7781 never arrived"
NAMES = ("Zhivago", "Quillfeather")


async def test_the_log_of_a_run_holds_no_token_contact_details_or_texts(
    tg: FakeTelegram, tmp_path: Path, database_url: str
) -> None:
    async with carebot_against_fake(tg, tmp_path, database_url) as carebot:
        user = tg.user(4242, "Zhivago", last_name="Quillfeather", username="zq_secret", language_code="en")

        async def reply(predicate_text: str, timeout: float = 30) -> None:
            await tg.wait_for(
                lambda: predicate_text in getattr(tg.last_sent(user), "content", ""),
                timeout=timeout,
                message=carebot.log(),
            )

        tg.sends_command(user, "/start")
        await reply("Hello, Zhivago", timeout=120)  # starting the process is slow on a busy machine
        tg.fail_next("getUpdates", status=500)
        tg.sends_command(user, "/profile")
        await reply("Your profile")
        for field, value, done in (("phone", PHONE_TYPED, "Phone: +8613812345678"), ("email", EMAIL, EMAIL)):
            tg.presses_button(user, tg.last_sent(user), f"profile:{field}")  # type: ignore[arg-type]
            await reply("/cancel to stop")
            tg.customer_sends_text(user, value)
            await reply(done)

        tg.customer_sends_text(user, SECRET_TEXT)
        await reply("Your request is ticket")
        # A Bot API error whose text carries the token (as a URL in an error would), a server error, flood control.
        base_url = carebot.env["CAREBOT_BOT_API_URL"]
        tg.fail_next("sendMessage", status=400, description=f"Bad Request: wrong URL {base_url}{TOKEN}/sendMessage")
        tg.sends_command(user, "/privacy")
        await reply("Sorry, something went wrong")
        tg.fail_next("sendDocument", status=500)
        tg.sends_command(user, "/mydata")
        await reply("Sorry, something went wrong")
        tg.fail_next("sendDocument", status=429, retry_after=1)
        tg.sends_command(user, "/mydata")
        document = await tg.wait_for(lambda: getattr(tg.last_sent(user), "upload", None), timeout=30)
        assert EMAIL in document.content.decode()  # the customer gets their data; the log does not
    assert carebot.process.returncode == 0, carebot.log()

    log = carebot.log()
    assert "carebot started" in log and "handler failed: BadRequest" in log and "handler failed: NetworkError" in log
    assert "getUpdates failed" in log and "<token>" in log
    forbidden = [TOKEN, "TEST-carebot-token", PHONE_TYPED, "13812345678", "138-1234", EMAIL, SECRET_TEXT, *NAMES]
    assert [secret for secret in forbidden if secret.lower() in log.lower()] == [], log
