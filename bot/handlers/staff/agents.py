"""Agents and routing: `/away` and `/back` (in one's private chat), `/staff skills` and `/staff hours` (admins,
through `/staff`), and `/manager` (a VIP customer's account manager: everyone sees it, admins set it)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CommandHandler

from bot.auth import staff_only
from bot.context import CarebotApp, Context
from bot.handlers.staff.common import actor_id, answer, resolve_customer, role_and_language, usage
from bot.tickets.routing import set_away
from bot.ui.i18n import t
from storage import routing, routing_rules, staff
from storage.db import transaction
from storage.models import Agent, Role
from storage.staff import audit, role_of


async def resolve_staff(context: Context, who: str, me: int) -> tuple[int, str] | None:
    """`me`, a Telegram id of a staff member, or a staff member's @username: (telegram id, name)."""
    settings = context.services.settings
    async with context.services.sessions() as session:
        if who.lower() == "me":
            telegram_id: int | None = me
        elif who.lstrip("@").isdigit() and await role_of(
            session, telegram_id=int(who.lstrip("@")), admin_ids=settings.admin_ids
        ):
            telegram_id = int(who.lstrip("@"))
        else:
            member = await staff.staff_member(session, username=who.lstrip("@"))
            telegram_id = member.telegram_id if member else None
        if telegram_id is None:
            return None
        agent = await routing.get_agent(session, telegram_id=telegram_id)
        member = await staff.staff_member(session, telegram_id=telegram_id)
    name = (agent.name if agent else None) or (member.name if member else None) or who
    return telegram_id, name


def _private(update: Update) -> bool:
    return update.effective_chat is not None and update.effective_chat.type == "private"


@staff_only(Role.AGENT)
async def away_command(update: Update, context: Context) -> None:
    await _availability(update, context, away=True)


@staff_only(Role.AGENT)
async def back_command(update: Update, context: Context) -> None:
    await _availability(update, context, away=False)


async def _availability(update: Update, context: Context, *, away: bool) -> None:
    _, lang = await role_and_language(update, context)
    if not _private(update):
        await answer(update, t(lang, "routing.private_only"))
        return
    user = update.effective_user
    assert user is not None
    moved = await set_away(context.application, user.id, user.first_name, away=away)
    if not away:
        await answer(update, t(lang, "routing.back"))
        return
    handed = sum(1 for _, to in moved if to is not None)
    await answer(update, t(lang, "routing.away", count=len(moved), handed=handed, group=len(moved) - handed))


async def staff_routing(update: Update, context: Context, args: list[str]) -> None:
    """`/staff skills <staff> <category…|all>` and `/staff hours <staff> <HH:MM-HH:MM|default>` (admins)."""
    _, lang = await role_and_language(update, context)
    action = args[0].lower()
    if len(args) < 3:
        await usage(update, context, "staff")
        return
    found = await resolve_staff(context, args[1], actor_id(update))
    if found is None:
        await answer(update, t(lang, "staff.assign.not_staff", who=args[1]))
        return
    telegram_id, name = found
    values: dict[str, object]
    try:
        if action == "skills":
            values = {"categories": routing_rules.parse_categories(args[2:])}
        else:
            hours = args[2].lower()
            values = {"hours": None if hours == "default" else hours}
            if hours != "default":
                routing_rules.parse_hours(hours)
    except ValueError:
        await answer(update, t(lang, f"routing.bad_{action}", value=" ".join(args[2:])))
        return
    async with transaction(context.services.sessions) as session:
        agent = await routing.update_agent(session, telegram_id=telegram_id, values=values)
        await audit(session, actor_telegram_id=actor_id(update), action=f"staff.{action}", detail=str(telegram_id))
    await answer(update, routing_line(agent, name, lang))


def routing_line(agent: Agent, name: str, lang: str) -> str:
    return t(
        lang,
        "routing.agent",
        name=name,
        categories=", ".join(t(lang, f"tickets.category.{c}") for c in agent.categories.split(","))
        if agent.categories
        else t(lang, "routing.all_categories"),
        hours=agent.hours or t(lang, "routing.business_hours"),
        inbox=t(lang, "routing.inbox_yes" if agent.inbox_open else "routing.inbox_no"),
        away=t(lang, "routing.is_away") if agent.away else "",
    )


@staff_only(Role.AGENT)
async def manager_command(update: Update, context: Context) -> None:
    """`/manager <customer>` shows a customer's account manager; `/manager <customer> <staff>` (admins) sets it."""
    args = context.args or []
    if len(args) not in (1, 2):
        await usage(update, context, "manager")
        return
    role, lang = await role_and_language(update, context)
    customer = await resolve_customer(update, context, args[0])
    if customer is None or customer.id is None:
        return
    if len(args) == 1:
        async with context.services.sessions() as session:
            manager = await routing.manager_of(session, customer_id=customer.id)
        if manager is None:
            await answer(update, t(lang, "routing.manager.none", name=customer.display_name))
            return
        found = await resolve_staff(context, str(manager), actor_id(update))
        shown = found[1] if found else str(manager)
        await answer(update, t(lang, "routing.manager.is", name=customer.display_name, manager=shown))
        return
    if role != Role.ADMIN:
        await answer(update, t(lang, "auth.staff_only"))
        return
    chosen = await resolve_staff(context, args[1], actor_id(update))
    if chosen is None:
        await answer(update, t(lang, "staff.assign.not_staff", who=args[1]))
        return
    async with transaction(context.services.sessions) as session:
        await routing.set_manager(session, customer_id=customer.id, manager_id=chosen[0], by=actor_id(update))
        await audit(
            session,
            actor_telegram_id=actor_id(update),
            action="customer.manager",
            customer_id=customer.id,
            detail=str(chosen[0]),
        )
    await answer(update, t(lang, "routing.manager.set", name=customer.display_name, manager=chosen[1]))


def register(app: CarebotApp) -> None:
    app.add_handler(CommandHandler("away", away_command))
    app.add_handler(CommandHandler("back", back_command))
    app.add_handler(CommandHandler("manager", manager_command))
