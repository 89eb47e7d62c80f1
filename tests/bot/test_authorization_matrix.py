"""Who may use what: every command and every button of the built Application × customer, agent, admin and an
unknown group. Customers and strangers never see staff data, forged staff buttons are refused, and a staff
member who is removed loses access at once.

`COMMANDS` and `BUTTONS` classify everything registered; a command or button merged later fails
`test_every_command_and_button_is_classified` until it is added here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import pytest
from sqlalchemy import delete
from telegram.ext import CallbackQueryHandler, CommandHandler

from storage.db import transaction
from storage.models import StaffMember
from tests.botapi import SENDING_METHODS, Call, FakeTelegram
from tests.harness import BotHarness
from tests.ids import ADMIN_ID
from tests.privacy_support import AGENT_ID, Seeded, seed_customer

pytestmark = pytest.mark.usefixtures("no_handler_errors")

REFUSAL = "This command is for staff."


class Access(StrEnum):
    ANYONE = "anyone"  # any chat, any person: must not show anyone else's data
    CUSTOMER = "customer"  # a person's own business, in their private chat
    AGENT = "agent"  # staff, in the staff chat or a private chat
    ADMIN = "admin"


# command -> (who may use it, the arguments tried; `{customer}` is the seeded customer's Telegram id)
COMMANDS: dict[str, tuple[Access, str]] = {
    "start": (Access.CUSTOMER, ""),
    "away": (Access.AGENT, ""),  # before /assign: nobody's tickets move to the group here
    "back": (Access.AGENT, ""),
    "menu": (Access.CUSTOMER, ""),
    "language": (Access.CUSTOMER, ""),
    "profile": (Access.CUSTOMER, ""),
    "privacy": (Access.CUSTOMER, ""),
    "mydata": (Access.CUSTOMER, ""),
    "forget": (Access.CUSTOMER, ""),
    "whoami": (Access.ANYONE, ""),
    "cancel": (Access.ANYONE, ""),
    "audit": (Access.ADMIN, "{customer}"),
    "business": (Access.ADMIN, ""),
    "terms": (Access.CUSTOMER, ""),
    "terms_publish": (Access.ADMIN, "1"),
    "help": (Access.ANYONE, ""),
    "tickets": (Access.CUSTOMER, ""),
    "faq": (Access.AGENT, "list"),
    "take": (Access.AGENT, "999"),
    "resolve": (Access.AGENT, "999"),
    "close": (Access.AGENT, "999"),
    "reopen": (Access.AGENT, "999"),
    "queue": (Access.AGENT, ""),
    "stop_greetings": (Access.CUSTOMER, ""),
    "start_greetings": (Access.CUSTOMER, ""),
    "customer": (Access.AGENT, "{customer}"),
    "find": (Access.AGENT, "Li"),
    "purchase": (Access.AGENT, "{customer} 10.00"),
    "invoice": (Access.AGENT, "{customer} 10"),  # usage: a whole invoice goes to the customer's chat
    "refund": (Access.AGENT, "{customer} R1"),
    "purchases": (Access.AGENT, "{customer}"),
    "note": (Access.AGENT, "{customer} prefers mornings"),
    "redeem": (Access.AGENT, "ACDE3467"),
    "ticket": (Access.AGENT, "1"),
    "assign": (Access.AGENT, "1 me"),
    "manager": (Access.AGENT, "{customer}"),
    "stats": (Access.AGENT, "7d"),
    "staff": (Access.ADMIN, "list"),
    "export": (Access.ADMIN, "customers"),
    "import": (Access.ADMIN, ""),
    "broadcast": (Access.ADMIN, "all"),
}
# callback pattern (None: the catch-all) -> (who may press it, forged or real data tried; `{customer_id}` is the
# seeded customer's record number)
# Malformed data, and numbers too large for the database, match no handler's pattern: the catch-all answers them.
BUTTONS: dict[str | None, tuple[Access, tuple[str, ...]]] = {
    "lang:{code:word}": (Access.CUSTOMER, ("lang:en", "lang:xx")),
    "menu:language": (Access.CUSTOMER, ("menu:language",)),
    "menu:profile": (Access.CUSTOMER, ("menu:profile",)),
    "profile:{field:word}": (Access.CUSTOMER, ("profile:phone", "profile:done", "profile:x")),
    "privacy:{action:forget}:{shown_at:bigint} | privacy:{action:keep}": (
        Access.CUSTOMER,
        ("privacy:keep", "privacy:forget:0"),
    ),
    "audit:{customer:int}:{before:int}": (Access.ADMIN, ("audit:{customer_id}:999999",)),
    "terms:{action:agree|read}:{version:int} | terms:{action:later}": (
        Access.CUSTOMER,
        ("terms:agree:1", "terms:read:99", "terms:later"),
    ),
    "staff:card:{customer:int}": (Access.AGENT, ("staff:card:{customer_id}",)),
    "staff:purchases:{customer:int}": (Access.AGENT, ("staff:purchases:{customer_id}",)),
    "staff:import:{action:commit|discard}:{import:int}": (
        Access.ADMIN,
        ("staff:import:commit:1", "staff:import:discard:1"),
    ),
    "staff:bcast:{action:go|no}:{broadcast:int}": (Access.ADMIN, ("staff:bcast:go:1", "staff:bcast:no:1")),
    "care:stop": (Access.CUSTOMER, ("care:stop",)),
    "care:csat:{ticket:int}:{score:int}": (Access.CUSTOMER, ("care:csat:1:5", "care:csat:999999:9")),
    "care:nps:{score:int}": (Access.CUSTOMER, ("care:nps:10", "care:nps:99")),
    "care:fresh:{answer:yes|update}": (Access.CUSTOMER, ("care:fresh:yes", "care:fresh:update")),
    "faq:helped:{faq:int}": (Access.CUSTOMER, ("faq:helped:1",)),
    "faq:person:{faq:int}": (Access.CUSTOMER, ("faq:person:1", "faq:person:999999")),
    "tk:{action:take|resolve|close|reopen}:{ticket:int}": (
        Access.AGENT,
        ("tk:take:1", "tk:resolve:1", "tk:close:1", "tk:reopen:1"),
    ),
    "tk:assign:{ticket:int}": (Access.AGENT, ("tk:assign:1",)),
    "tk:to:{ticket:int}:{staff:bigint}": (Access.AGENT, ("tk:to:1:900001", "tk:to:1:123")),
    "menu:tickets": (Access.CUSTOMER, ("menu:tickets",)),
    "menu:{topic:presale|order|aftersale}": (Access.CUSTOMER, ("menu:presale", "menu:aftersale")),
    "tickets:close:{ticket:int}": (Access.CUSTOMER, ("tickets:close:1", "tickets:close:999999")),
    None: (
        Access.ANYONE,
        (
            "zzz:forged",
            "ticket:take:1",
            "\u202e:" + "😀" * 30,
            "lang:" + "x" * 80,
            "profile:../",
            "privacy:forget:../../",
            "audit:{customer_id}:x",
            "care:csat:x",
            "care:nps:",
            "faq:helped:x",
            "tickets:close:" + "9" * 50,
            "tk:close:" + "9" * 55,
            "staff:card:" + "9" * 53,
        ),
    ),
    "without_data": (Access.ANYONE, ("",)),
}
OUTPUT_METHODS = SENDING_METHODS | {"editmessagetext", "editmessagecaption", "answercallbackquery"}


@dataclass(frozen=True)
class Actor:
    name: str
    user_id: int
    role: Access
    group_id: int | None = None  # None: their private chat


ACTORS = (
    Actor("customer", 7101, Access.CUSTOMER),
    Actor("agent", AGENT_ID, Access.AGENT),
    Actor("admin", ADMIN_ID, Access.ADMIN),
    Actor("admin in an unknown group", ADMIN_ID, Access.ADMIN, group_id=-100777),
)


def registered(bot: BotHarness) -> tuple[set[str], set[str | None]]:
    commands: set[str] = set()
    patterns: set[str | None] = set()
    for handlers in bot.app.handlers.values():
        for handler in handlers:
            if isinstance(handler, CommandHandler):
                commands |= set(handler.commands)
            elif isinstance(handler, CallbackQueryHandler):
                pattern = handler.pattern
                key = getattr(pattern, "pattern", None) or getattr(pattern, "__name__", None)
                patterns.add(None if pattern is None else key)
    return commands, patterns


def may(actor: Actor, access: Access) -> bool:
    """Whether the actor may use a staff command or button (staff commands need a staff place)."""
    if actor.group_id is not None:
        return False
    ranks = {Access.CUSTOMER: 0, Access.AGENT: 1, Access.ADMIN: 2}
    return ranks[actor.role] >= ranks[access]


def output_since(tg: FakeTelegram, mark: int) -> list[Call]:
    return [call for call in tg.calls[mark:] if call.method.lower() in OUTPUT_METHODS]


def visible_text(call: Call) -> str:
    parts = [str(call.params.get(key, "")) for key in ("text", "caption")]
    parts += [upload.content.decode("utf-8", "replace") for upload in call.files.values()]
    return "\n".join(parts)


def check_refused(calls: list[Call], what: str) -> None:
    """A refusal: exactly "This command is for staff." (a message or a button alert) and nothing else at all."""
    assert len(calls) == 1, (what, [c.method for c in calls])
    assert visible_text(calls[0]).strip() == REFUSAL, (what, visible_text(calls[0]))


def check_no_leak(calls: list[Call], seeded: Seeded, what: str) -> None:
    text = "\n".join(visible_text(call) for call in calls).lower()
    leaked = [secret for secret in seeded.secrets if secret.lower() in text]
    assert not leaked, (what, leaked)


@pytest.fixture
async def world(bot: BotHarness, tg: FakeTelegram) -> Seeded:
    seeded = await seed_customer(bot, tg)
    tg.user(7101, "Carl", language_code="en")
    tg.user(ADMIN_ID, "Ada", language_code="en")
    tg.user(AGENT_ID, "Smith", language_code="en")
    tg.group(-100777, "Random group")
    return seeded


async def anchor(bot: BotHarness, tg: FakeTelegram, chat_id: int):  # type: ignore[no-untyped-def]
    """A bot message to press forged buttons on."""
    sent = await bot.app.bot.send_message(chat_id, "anchor")
    return tg.message(chat_id, sent.message_id)


def test_every_command_and_button_is_classified(bot: BotHarness) -> None:
    commands, patterns = registered(bot)
    assert commands - set(COMMANDS) == set(), "classify these commands in COMMANDS"
    assert patterns - set(BUTTONS) == set(), "classify these buttons in BUTTONS"
    assert set(COMMANDS) - commands == set() and set(BUTTONS) - patterns == set(), "the tables name gone handlers"


@pytest.mark.parametrize("actor", ACTORS, ids=lambda actor: actor.name)
async def test_commands_answer_only_whom_they_are_for(
    bot: BotHarness, tg: FakeTelegram, world: Seeded, actor: Actor
) -> None:
    user = tg.users[actor.user_id]
    chat = actor.group_id or actor.user_id
    for command, (access, args) in COMMANDS.items():
        mark = len(tg.calls)
        text = f"/{command} {args.format(customer=world.user.id)}".strip()
        tg.sends_command(user, text, None if actor.group_id is None else actor.group_id)
        await bot.deliver()
        calls = output_since(tg, mark)
        what = f"{actor.name}: {text}"
        # A staff command may also show its effect in the staff group (e.g. /assign: the ticket's card there).
        staff_effect = access in (Access.AGENT, Access.ADMIN) and may(actor, access)
        places = {str(chat)} | ({str(bot.services.settings.staff_chat_id)} if staff_effect else set())
        assert all(str(call.params.get("chat_id")) in places for call in calls), what
        if access in (Access.AGENT, Access.ADMIN):
            if may(actor, access):
                assert calls and visible_text(calls[0]).strip() != REFUSAL, what
            else:
                check_refused(calls, what)
            continue
        check_no_leak(calls, world, what)
        if access is Access.ANYONE or actor.group_id is None:
            assert calls and visible_text(calls[0]).strip() != REFUSAL, what


@pytest.mark.parametrize("actor", ACTORS, ids=lambda actor: actor.name)
async def test_buttons_act_only_for_whom_they_are_for(
    bot: BotHarness, tg: FakeTelegram, world: Seeded, actor: Actor
) -> None:
    user = tg.users[actor.user_id]
    message = await anchor(bot, tg, actor.group_id or actor.user_id)
    for access, samples in BUTTONS.values():
        for sample in samples:
            data = sample.format(customer_id=world.customer_id)
            mark = len(tg.calls)
            press = tg.presses_button(user, message, data, strict=False)
            await bot.deliver()
            calls = output_since(tg, mark)
            what = f"{actor.name}: button {data!r}"
            record = tg.callback_queries[press.data["callback_query"]["id"]]
            assert record.answered, what  # no spinning button, whatever was pressed
            if access in (Access.AGENT, Access.ADMIN) and not may(actor, access):
                check_refused(calls, what)
                assert record.answer.get("show_alert") is True, what
            elif access not in (Access.AGENT, Access.ADMIN):
                check_no_leak(calls, world, what)


async def test_a_removed_staff_member_loses_access_at_once(bot: BotHarness, tg: FakeTelegram, world: Seeded) -> None:
    staff = tg.user(700050, "Eve", language_code="en")
    staff_commands = [(c, a, args) for c, (a, args) in COMMANDS.items() if a in (Access.AGENT, Access.ADMIN)]
    staff_buttons = [(d, a) for a, samples in BUTTONS.values() if a in (Access.AGENT, Access.ADMIN) for d in samples]
    assert staff_commands and staff_buttons
    async with transaction(bot.services.sessions) as session:
        session.add(StaffMember(telegram_id=staff.id, name="Eve", role="admin"))
    message = await anchor(bot, tg, staff.id)

    async def run_all() -> list[tuple[str, list[Call]]]:
        outcomes = []
        for command, _access, args in staff_commands:
            mark = len(tg.calls)
            tg.sends_command(staff, f"/{command} {args.format(customer=world.user.id)}".strip())
            await bot.deliver()
            outcomes.append((command, output_since(tg, mark)))
        for sample, _access in staff_buttons:
            mark = len(tg.calls)
            tg.presses_button(staff, message, sample.format(customer_id=world.customer_id), strict=False)
            await bot.deliver()
            outcomes.append((sample, output_since(tg, mark)))
        return outcomes

    for what, calls in await run_all():
        assert calls and all(visible_text(call).strip() != REFUSAL for call in calls), what
    async with transaction(bot.services.sessions) as session:
        await session.execute(delete(StaffMember).where(StaffMember.telegram_id == staff.id))  # type: ignore[arg-type]
    for what, calls in await run_all():
        check_refused(calls, f"removed staff: {what}")
