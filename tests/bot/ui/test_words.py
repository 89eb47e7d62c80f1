"""Texts read as sentences: counts through the catalogs' plural forms, durations as people say them, Chinese without
stray spaces, `/queue` saying a ticket's waiting time once, `/help` naming `/menu` for what it is."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from bot.tickets.views import duration
from bot.ui.i18n import LOCALE_DIR, catalog_keys, plural_parameters, t
from tests.botapi import FakeTelegram
from tests.harness import BotHarness
from tests.ids import ADMIN_ID, STAFF_CHAT_ID


def test_no_text_counts_with_a_bracketed_plural() -> None:
    for language in ("en", "zh_CN"):
        for path in (LOCALE_DIR / language / "LC_MESSAGES").glob("*.po"):
            assert not re.search(r"\w\((s|es)\)", path.read_text(encoding="utf-8")), path


def test_counts_choose_the_plural_form_of_each_language() -> None:
    assert plural_parameters()["staff.card.lifetime"] == "count"
    assert t("en", "staff.card.lifetime", total="$5.00", count=0) == "Lifetime: $5.00 in 0 purchases"
    assert t("en", "staff.card.lifetime", total="$5.00", count=1) == "Lifetime: $5.00 in 1 purchase"
    assert t("en", "staff.find.title", query="Li", count=1) == "<b>1 match for “Li”</b>"
    assert t("en", "staff.find.title", query="Li", count=3) == "<b>3 matches for “Li”</b>"
    assert t("zh_CN", "staff.card.lifetime", total="¥5.00", count=3) == "累计消费：¥5.00，共 3 笔"
    assert t("en", "terms.ask.renew", until="1 May", version=2, years=1).endswith(
        "a new term of 1 year starts on the day you agree."
    )
    # Every plural text has its language's number of forms.
    for language, forms in (("en", 2), ("zh_CN", 1)):
        texts = catalog_keys(language)
        for key in plural_parameters():
            assert len(texts[key].split("\n")) >= forms, (language, key)


@pytest.mark.parametrize(
    ("minutes", "english", "chinese"),
    [
        (15, "15 min", "15 分钟"),
        (60, "an hour", "60 分钟"),
        (90, "90 min", "90 分钟"),
        (120, "2 hours", "2 小时"),
        (24 * 60, "24 hours", "24 小时"),
        (3 * 24 * 60, "3 days", "3 天"),
    ],
)
def test_durations_read_as_people_say_them(minutes: int, english: str, chinese: str) -> None:
    assert duration(timedelta(minutes=minutes), "en") == english
    assert duration(timedelta(minutes=minutes), "zh_CN") == chinese


def test_the_acknowledgement_says_within_an_hour_and_chinese_has_no_stray_spaces() -> None:
    hour = timedelta(minutes=60)
    assert t("en", "tickets.ack.soon", wait=duration(hour, "en")) == "We usually answer within an hour."
    assert t("zh_CN", "tickets.ack.soon", wait=duration(hour, "zh_CN")) == "我们通常会在 60 分钟内回复。"
    stray = re.compile(r"\} (?=[内后前])|(?<=[\u4e00-\u9fff]) (?=[，。：；！？、）])")
    for key, text in catalog_keys("zh_CN").items():
        assert not stray.search(text), (key, text)


async def test_queue_says_the_waiting_time_once_and_help_names_the_topic_menu(
    bot: BotHarness, tg: FakeTelegram
) -> None:
    admin = tg.user(ADMIN_ID, "Ada", language_code="en")
    staff = tg.group(STAFF_CHAT_ID, "Care team", members=[admin])
    anna = tg.user(8401, "Anna", language_code="en")
    tg.customer_sends_text(anna, "Where is my parcel?")
    await bot.deliver()
    tg.sends_command(admin, "/queue", staff)
    await bot.deliver()
    queue = tg.last_sent(staff)
    assert queue is not None and "waiting 0 min ·" in queue.content and "opened" not in queue.content
    tg.sends_command(anna, "/help")
    await bot.deliver()
    assert "/menu — The topic menu" in tg.last_sent(anna).content  # type: ignore[union-attr]
