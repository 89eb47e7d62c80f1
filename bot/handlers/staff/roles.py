"""Who is staff: `/staff add|remove|list` (admins), `/help` by role, and the command menus of every scope."""

from __future__ import annotations

import html
import re

from telegram import BotCommandScopeChat, Update
from telegram.constants import ChatType
from telegram.ext import CommandHandler

from bot.auth import in_staff_place, staff_only, staff_role
from bot.caller import language_of
from bot.context import CarebotApp, Context
from bot.handlers.staff.agents import staff_routing
from bot.handlers.staff.common import actor_id, answer, lines, usage
from bot.handlers.staff.membership import setup_help
from bot.tickets.routing import release
from bot.ui.commands import (
    Audience,
    audience_of,
    clear_menu,
    commands_for,
    publish_menus,
    set_desk_button,
    set_menu,
)
from bot.ui.i18n import t
from storage import customers, staff
from storage.db import transaction
from storage.models import Role
from storage.search import lookup_customers


async def publish_all_menus(app: CarebotApp) -> None:
    """Every scope's command menu, from the table in bot/ui/commands.py (at start-up and when staff change)."""
    services = app.bot_data["services"]
    settings = services.settings
    async with services.sessions() as session:
        members = await staff.list_staff(session)
    people: dict[int, Role] = {member.telegram_id: Role(member.role) for member in members if member.telegram_id}
    people.update(dict.fromkeys(settings.admin_ids, Role.ADMIN))
    await publish_menus(
        app.bot,
        default_language=settings.default_language,
        staff_language=settings.language_of_staff,
        staff_chat_id=settings.staff_chat_id,
        staff=sorted(people.items()),
        desk_url=settings.webapp_url,
    )


async def on_startup(app: CarebotApp) -> None:
    await publish_all_menus(app)


async def show_help(update: Update, context: Context) -> None:
    """Everyone's `/help`: the commands of their role (staff see theirs only where staff commands work); a group
    that is not the staff chat gets the set-up help instead."""
    lang = await language_of(update, context)
    chat = update.effective_chat
    if chat is not None and chat.type != ChatType.PRIVATE and chat.id != context.services.settings.staff_chat_id:
        await answer(update, setup_help(chat.id, lang))
        return
    role = await staff_role(update, context) if in_staff_place(update, context) else None
    audience = audience_of(role)
    title = t(lang, "staff.help.title_customer" if audience == Audience.CUSTOMER else f"staff.help.title_{audience}")
    # Descriptions are plain text (the command menu shows them too): escaped here for HTML.
    entries = [f"/{command.name} — {html.escape(t(lang, command.key))}" for command in commands_for(audience)]
    await answer(update, lines(title, "", *entries))


_WHO = re.compile(r"^(?:@([A-Za-z0-9_]{4,32})|(\d{1,15}))$")


@staff_only(Role.ADMIN)
async def staff_command(update: Update, context: Context) -> None:
    args = context.args or []
    action = args[0].lower() if args else ""
    if action == "list" and len(args) == 1:
        await list_staff(update, context)
    elif action == "add" and len(args) in (2, 3) and _WHO.match(args[1]):
        role = args[2].lower() if len(args) == 3 else Role.AGENT.value
        if role not in (Role.AGENT.value, Role.ADMIN.value):
            await usage(update, context, "staff")
            return
        await add_member(update, context, args[1], Role(role))
    elif action == "remove" and len(args) == 2 and _WHO.match(args[1]):
        await remove_member(update, context, args[1])
    elif action in ("skills", "hours"):
        await staff_routing(update, context, args)
    else:
        await usage(update, context, "staff")


def _who(text: str) -> tuple[int | None, str | None]:
    match = _WHO.match(text)
    assert match is not None
    return (int(match[2]) if match[2] else None), match[1]


async def add_member(update: Update, context: Context, who: str, role: Role) -> None:
    lang = await language_of(update, context)
    telegram_id, username = _who(who)
    if telegram_id is not None and telegram_id in context.services.settings.admin_ids:
        await answer(update, t(lang, "staff.staff.settings_admin", who=who))
        return
    async with transaction(context.services.sessions) as session:
        known = None
        if telegram_id is not None:
            known = await customers.get_customer(session, telegram_id=telegram_id)
        elif username is not None:
            found = await lookup_customers(session, query=f"@{username}", limit=1)
            known = found[0] if found else None
        if known is not None:
            telegram_id, username = known.telegram_id, known.username or username
        member, created = await staff.add_staff(
            session,
            telegram_id=telegram_id,
            username=username,
            name=known.display_name if known else None,
            role=role,
            added_by=actor_id(update),
        )
        await staff.audit(session, actor_telegram_id=actor_id(update), action="staff.add", detail=f"{who} {role}")
    shown = member.name or who
    key = "staff.staff.added" if created else "staff.staff.changed"
    text = t(lang, key, who=shown, role=t(lang, f"staff.role.{role}"))
    if member.telegram_id is None:
        text = lines(text, t(lang, "staff.staff.added_by_username", who=who))
    else:
        await set_menu(
            context.bot,
            BotCommandScopeChat(member.telegram_id),
            audience_of(role),
            context.services.settings.default_language,
        )
        await set_desk_button(
            context.bot,
            member.telegram_id,
            desk_url=context.services.settings.webapp_url,
            language=context.services.settings.language_of_staff,
        )
    await answer(update, text)


async def remove_member(update: Update, context: Context, who: str) -> None:
    lang = await language_of(update, context)
    telegram_id, username = _who(who)
    if telegram_id is not None and telegram_id in context.services.settings.admin_ids:
        await answer(update, t(lang, "staff.staff.settings_admin", who=who))
        return
    async with transaction(context.services.sessions) as session:
        member = await staff.staff_member(session, telegram_id=telegram_id, username=username)
        if member is None:
            await answer(update, t(lang, "staff.staff.not_staff", who=who))
            return
        removed_id = member.telegram_id
        await staff.remove_staff(session, member=member)
        await staff.audit(session, actor_telegram_id=actor_id(update), action="staff.remove", detail=who)
    if removed_id is not None:
        await clear_menu(context.bot, removed_id)
        await release(context.application, removed_id)  # their open tickets go to others
    await answer(update, t(lang, "staff.staff.removed", who=who))


async def list_staff(update: Update, context: Context) -> None:
    lang = await language_of(update, context)
    async with context.services.sessions() as session:
        members = await staff.list_staff(session)
    entries = [
        t(lang, "staff.staff.entry_settings", telegram_id=admin_id)
        for admin_id in sorted(context.services.settings.admin_ids)
    ]
    for member in members:
        name = member.name or (f"@{member.username}" if member.username else "")
        entries.append(
            t(
                lang,
                "staff.staff.entry",
                name=name,
                telegram_id=member.telegram_id if member.telegram_id is not None else "?",
                role=t(lang, f"staff.role.{member.role}"),
            )
        )
    await answer(update, lines(t(lang, "staff.staff.title"), *entries))


def register(app: CarebotApp) -> None:
    app.add_handler(CommandHandler("help", show_help))
    app.add_handler(CommandHandler("staff", staff_command))
