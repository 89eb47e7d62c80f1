"""/audit <customer> (admins): who looked at a customer's record, and when, newest first.

A page is as many rows as fit in one message; the "Older" button continues below the last row shown (and checks
the presser is still an admin). Looking at the trail is itself written to the trail.
"""

from __future__ import annotations

from telegram import InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import CallbackQueryHandler, CommandHandler

from bot.auth import staff_only
from bot.caller import language_of
from bot.context import CarebotApp, Context
from bot.ui import callback_data
from bot.ui.i18n import Safe, t, when
from bot.ui.keyboards import button
from bot.ui.numbers import row_id
from storage import customers
from storage.db import transaction
from storage.models import AuditEntry, Customer, Role, StaffMember
from storage.search import lookup_customers
from storage.staff import audit, audit_trail

MAX_TEXT = 4096
PAGE_ROWS = 60  # fetched per page; as many as fit are shown


async def find_customer(context: Context, query: str) -> tuple[Customer | None, list[Customer]]:
    """`id:<n>` is the internal customer id (also of erased customers, whose row is gone); anything else is
    looked up like every staff command does (storage.search.lookup_customers)."""
    async with context.services.sessions() as session:
        if query.lower().startswith("id:") and (customer_id := row_id(query[3:].strip())) is not None:
            found = await customers.get_customer_by_id(session, customer_id=customer_id)
            return (found or Customer(id=customer_id, telegram_id=0)), []
        matches = await lookup_customers(session, query=query, limit=6)
    return (matches[0], []) if len(matches) == 1 else (None, matches)


def actor_text(context: Context, lang: str, entry: AuditEntry, staff: StaffMember | None) -> str:
    actor = entry.actor_telegram_id
    if actor is None:
        return t(lang, "audit.actor_none")
    if staff is not None:
        name = staff.name or staff.username or "—"
        return t(lang, "audit.actor_staff", name=name, role=staff.role, telegram_id=actor)
    if actor in context.services.settings.admin_ids:
        return t(lang, "audit.actor_admin", telegram_id=actor)
    return t(lang, "audit.actor_id", telegram_id=actor)


def entry_line(context: Context, lang: str, entry: AuditEntry, staff: StaffMember | None) -> str:
    moment = when(entry.at.astimezone(context.services.settings.zone), lang)
    return t(
        lang,
        "audit.entry",
        at=moment,
        actor=Safe(actor_text(context, lang, entry, staff)),
        action=entry.action,
        detail=entry.detail or "",
    ).rstrip()


async def render_page(
    context: Context, lang: str, customer: Customer, before_id: int | None
) -> tuple[str, InlineKeyboardMarkup | None]:
    assert customer.id is not None
    async with context.services.sessions() as session:
        rows = await audit_trail(session, customer_id=customer.id, limit=PAGE_ROWS, before_id=before_id)
    name = customer.display_name if customer.telegram_id else t(lang, "audit.erased_name")
    text: str = t(lang, "audit.title", name=name, customer_id=customer.id)
    if not rows:
        return text + "\n\n" + t(lang, "audit.empty"), None
    older = t(lang, "audit.more")
    shown = 0
    text += "\n"
    for entry, staff in rows:
        line = "\n" + entry_line(context, lang, entry, staff)
        if len(text) + len(line) + len(older) + 2 > MAX_TEXT:
            break
        text += line
        shown += 1
    more = shown < len(rows) or len(rows) == PAGE_ROWS
    if not more:
        return text, None
    last = rows[shown - 1][0].id if shown else before_id
    text += "\n\n" + older
    keyboard = InlineKeyboardMarkup([[button(t(lang, "audit.older_button"), f"audit:{customer.id}:{last}")]])
    return text, keyboard


async def record_view(context: Context, actor: int, customer_id: int) -> None:
    async with transaction(context.services.sessions) as session:
        await audit(session, actor_telegram_id=actor, action="audit_viewed", customer_id=customer_id)


@staff_only(Role.ADMIN)
async def show_audit(update: Update, context: Context) -> None:
    lang = await language_of(update, context)
    message, user = update.effective_message, update.effective_user
    assert message is not None and user is not None
    query = " ".join(context.args or []).strip()
    if not query:
        await message.reply_text(t(lang, "audit.usage"), parse_mode=ParseMode.HTML)
        return
    customer, matches = await find_customer(context, query)
    if customer is None:
        if not matches:
            await message.reply_text(t(lang, "audit.not_found"), parse_mode=ParseMode.HTML)
            return
        lines = [t(lang, "audit.several")] + [
            t(lang, "audit.match", name=c.display_name, telegram_id=c.telegram_id, customer_id=c.id) for c in matches
        ]
        await message.reply_text("\n".join(lines), parse_mode=ParseMode.HTML)
        return
    assert customer.id is not None
    await record_view(context, user.id, customer.id)
    text, keyboard = await render_page(context, lang, customer, None)
    await message.reply_text(text, parse_mode=ParseMode.HTML, reply_markup=keyboard)


@staff_only(Role.ADMIN)
async def older_page(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    lang = await language_of(update, context)
    pressed = callback_data.AUDIT_OLDER.read(query.data)
    await query.answer()
    customer, _ = await find_customer(context, f"id:{pressed.number('customer')}")
    assert customer is not None
    text, keyboard = await render_page(context, lang, customer, pressed.number("before"))
    chat = update.effective_chat
    assert chat is not None
    await context.bot.send_message(
        chat.id,
        text,
        parse_mode=ParseMode.HTML,
        reply_markup=keyboard,
        message_thread_id=getattr(query.message, "message_thread_id", None)
        if getattr(query.message, "is_topic_message", False)
        else None,
    )


def register(app: CarebotApp) -> None:
    app.add_handler(CommandHandler("audit", show_audit))
    app.add_handler(CallbackQueryHandler(older_page, pattern=callback_data.AUDIT_OLDER))
