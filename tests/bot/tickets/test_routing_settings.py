"""Routing settings and agents' hours: `CAREBOT_SHOW_AGENT_NAME`, `CAREBOT_GROUP_COPIES=all`,
`CAREBOT_AUTO_ASSIGN=off`, `/staff hours` and the rules behind them."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.settings import Settings
from storage.business_hours import parse_business_hours
from storage.db import transaction
from storage.models import Agent, StaffMember
from storage.routing_rules import parse_categories, parse_hours, within_hours
from tests.botapi import FakeChat, FakeTelegram, FakeUser
from tests.harness import BotHarness

STAFF_CHAT = -100500
SHANGHAI = ZoneInfo("Asia/Shanghai")

pytestmark = pytest.mark.usefixtures("no_handler_errors")


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    extra = getattr(request, "param", {})
    return settings.model_copy(update={"default_language": "en", **extra})


async def setup(bot: BotHarness, tg: FakeTelegram) -> tuple[FakeChat, FakeUser, FakeUser]:
    staff = tg.group(STAFF_CHAT, "Care team", members=[tg.user(900001, "Ada")])
    mia, leo = tg.user(800001, "Mia"), tg.user(800002, "Leo")
    async with transaction(bot.services.sessions) as session:
        for user in (mia, leo):
            session.add(StaffMember(telegram_id=user.id, name=user.first_name, role="agent"))
    for user in (mia, leo):
        tg.sends_command(user, "/start")
    await bot.deliver()
    return staff, mia, leo


@pytest.mark.parametrize("settings", [{"show_agent_name": "on"}], indirect=True)
async def test_with_show_agent_name_on_the_customer_sees_who_answered(bot: BotHarness, tg: FakeTelegram) -> None:
    _, mia, _ = await setup(bot, tg)
    anna = tg.user(7001, "Anna")
    tg.customer_sends_text(anna, "hi")
    await bot.deliver()
    card = next(m for m in tg.sent_to(mia) if m.content.startswith("🎫"))
    tg.customer_sends_text(mia, "Hello Anna", reply_to=card)
    tg.sends_photo(mia, caption="your parcel", reply_to=card)
    await bot.deliver()
    text, photo = tg.sent_to(anna)[-2:]
    assert text.content == "Hello Anna\n\n— Mia" and photo.caption == "your parcel\n\n— Mia"


@pytest.mark.parametrize("settings", [{"group_copies": "all"}], indirect=True)
async def test_with_group_copies_all_the_group_also_gets_every_message(bot: BotHarness, tg: FakeTelegram) -> None:
    staff, mia, _ = await setup(bot, tg)
    anna = tg.user(7002, "Anna")
    tg.customer_sends_text(anna, "first")
    await bot.deliver()
    tg.customer_sends_text(anna, "second")
    await bot.deliver()
    assert [m.content for m in tg.sent_to(staff)][1:] == ["first", "second"]
    assert tg.sent_to(mia)[-1].content == "second"


@pytest.mark.parametrize("settings", [{"auto_assign": "off"}], indirect=True)
async def test_with_auto_assign_off_tickets_wait_in_the_group(bot: BotHarness, tg: FakeTelegram) -> None:
    staff, mia, leo = await setup(bot, tg)
    tg.customer_sends_text(tg.user(7003, "Anna"), "hello")
    await bot.deliver()
    (card,) = [m for m in tg.sent_to(staff) if m.content.startswith("🎫")]
    assert card.content.endswith("\n\nhello")  # in the group, on the ticket's card
    assert not [m for m in tg.sent_to(mia) + tg.sent_to(leo) if m.content.startswith("🎫")]


async def test_an_agent_outside_their_hours_gets_no_new_ticket(bot: BotHarness, tg: FakeTelegram) -> None:
    staff, mia, leo = await setup(bot, tg)
    later = datetime.now(SHANGHAI) + timedelta(hours=3)
    window = f"{later:%H}:00-{(later + timedelta(hours=1)):%H}:00"
    tg.sends_command(tg.users[900001], f"/staff hours {mia.id} {window}", staff)
    await bot.deliver()
    assert window in tg.last_sent(staff).content  # type: ignore[union-attr]
    for n in range(2):
        tg.customer_sends_text(tg.user(7010 + n, f"C{n}"), "hello")
        await bot.deliver()
    assert len([m for m in tg.sent_to(leo) if m.content.startswith("🎫")]) == 2
    assert not [m for m in tg.sent_to(mia) if m.content.startswith("🎫")]
    tg.sends_command(tg.users[900001], f"/staff hours {mia.id} 9am", staff)
    await bot.deliver()
    assert "is not like 09:00-18:00" in tg.last_sent(staff).content  # type: ignore[union-attr]


def test_hours_and_categories_are_read_strictly() -> None:
    always = parse_business_hours("", timezone="Asia/Shanghai")
    office = parse_business_hours("Mon-Fri 09:00-18:00", timezone="Asia/Shanghai")
    night = Agent(telegram_id=1, hours="22:00-06:00")
    monday_23h = datetime(2026, 6, 8, 23, 0, tzinfo=SHANGHAI)
    assert within_hours(night, always, monday_23h) and not within_hours(night, always, monday_23h - timedelta(hours=2))
    assert not within_hours(Agent(telegram_id=2), office, monday_23h)  # no hours of their own: the business's
    assert parse_hours("09:00-24:00")[1].hour == 0
    for bad in ("9-18", "25:00-26:00", "09:00"):
        with pytest.raises(ValueError):
            parse_hours(bad)
    assert parse_categories(["ALL"]) is None and parse_categories(["other", "presale"]) == "presale,other"
    with pytest.raises(ValueError):
        parse_categories(["vip"])
