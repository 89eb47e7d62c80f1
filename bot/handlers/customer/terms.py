"""The customer agreement in chat: the I agree / Read the full text / Not now prompt, /terms, and the admins'
/terms_publish (with the agreement file attached, or in reply to it).

Until a customer agrees (once an agreement is published) they still get every answer and can open tickets; only
proactive messages and optional profile details wait for their agreement.
"""

from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass
from datetime import datetime

from telegram import Document, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.auth import staff_only
from bot.caller import language_of, touch
from bot.context import CarebotApp, Context
from bot.handlers.customer import CUSTOMER_CHAT
from bot.ui import callback_data
from bot.ui.agreement_view import agreement_messages, local_day, publish_report
from bot.ui.i18n import t
from bot.ui.keyboards import button
from bot.ui.numbers import row_id
from storage import agreements
from storage.agreements import AgreementError, AgreementState, CustomerAgreement
from storage.db import transaction
from storage.languages import normalise_language
from storage.models import Customer, Role
from storage.staff import audit
from storage.types import utcnow

log = logging.getLogger(__name__)

LATER = "terms:later"
MAX_FILE_KB = 256
TEXT_SUFFIXES = (".md", ".markdown", ".txt")
CJK = re.compile(r"[\u3400-\u9fff]")
LATIN = re.compile(r"[A-Za-z]")
LANGUAGE_IN_NAME = re.compile(r"(?:^|[._\-\s])(en|zh[_-]?cn|zh[_-]?hans|zh)(?:$|[._\-\s])", re.IGNORECASE)
PUBLISH_CAPTION = re.compile(r"^/terms_publish(?:@\w+)?(?:\s|$)")


# --- the customer's side -------------------------------------------------------------------------------------------


async def agreement_of(context: Context, customer: Customer) -> CustomerAgreement:
    assert customer.id is not None
    async with context.services.sessions() as session:
        return await agreements.customer_agreement(session, customer_id=customer.id, now=utcnow())


def _day(context: Context, moment: datetime, lang: str) -> str:
    return local_day(moment, lang, context.services.settings.zone)


def answer_keyboard(lang: str, version: int, *, with_read: bool) -> InlineKeyboardMarkup:
    rows = [[button(t(lang, "terms.button.agree"), agreements.agree_data(version))]]
    if with_read:
        rows.append([button(t(lang, "terms.button.read"), agreements.read_data(version))])
    rows.append([button(t(lang, "terms.button.later"), LATER)])
    return InlineKeyboardMarkup(rows)


async def offer_agreement(context: Context, customer: Customer, state: CustomerAgreement | None = None) -> bool:
    """Show the short summary with I agree / Read the full text / Not now when the customer has an agreement to
    answer (none accepted, the term ended, or a newer version waiting); returns whether it was shown."""
    state = state or await agreement_of(context, customer)
    if not state.needs_answer or state.in_force is None:
        return False
    lang = customer.language
    async with context.services.sessions() as session:
        parts = await agreements.agreement_texts(session, version=state.in_force, language=lang)
    summary = parts[-1][1].summary if parts else None
    lines: list[str] = [t(lang, "terms.offer.title", version=state.in_force)]
    if state.state == AgreementState.EXPIRED and state.acceptance is not None:
        lines.append(t(lang, "terms.offer.expired", until=_day(context, state.acceptance.valid_until, lang)))
    elif state.state == AgreementState.OUTDATED and state.acceptance is not None:
        lines.append(t(lang, "terms.offer.outdated", accepted=state.acceptance.version))
    lines.append(html.escape(summary, quote=False) if summary else t(lang, "terms.offer.summary_default"))
    lines.append(t(lang, "terms.offer.note"))
    await context.bot.send_message(
        customer.telegram_id,
        "\n\n".join(lines),
        parse_mode=ParseMode.HTML,
        reply_markup=answer_keyboard(lang, state.in_force, with_read=True),
    )
    return True


async def details_refused(context: Context, customer: Customer) -> bool:
    """True (after saying why and offering the agreement) when optional details may not be stored for this
    customer: an agreement is published and they hold none in force."""
    state = await agreement_of(context, customer)
    if state.valid:
        return False
    await context.bot.send_message(
        customer.telegram_id, t(customer.language, "terms.profile_refused"), parse_mode=ParseMode.HTML
    )
    await offer_agreement(context, customer, state)
    return True


def status_line(context: Context, lang: str, state: CustomerAgreement) -> str:
    acceptance = state.acceptance
    if state.state in (AgreementState.ACCEPTED, AgreementState.OUTDATED) and acceptance is not None:
        return t(
            lang,
            f"terms.status.{state.state.value}",
            version=state.in_force,
            accepted=acceptance.version,
            date=_day(context, acceptance.accepted_at, lang),
            until=_day(context, acceptance.valid_until, lang),
        )
    if state.state == AgreementState.EXPIRED and acceptance is not None:
        return t(lang, "terms.status.expired", until=_day(context, acceptance.valid_until, lang))
    return t(lang, "terms.status.pending")


async def send_full_text(context: Context, customer: Customer) -> None:
    """The version in force in full (split into messages), then where the customer stands, with the buttons when
    there is something to answer."""
    lang = customer.language
    state = await agreement_of(context, customer)
    if state.in_force is None:
        await context.bot.send_message(customer.telegram_id, t(lang, "terms.none"), parse_mode=ParseMode.HTML)
        return
    async with context.services.sessions() as session:
        parts = await agreements.agreement_texts(session, version=state.in_force, language=lang)
    for text in agreement_messages(lang, parts, zone=context.services.settings.zone):
        await context.bot.send_message(customer.telegram_id, text, parse_mode=ParseMode.HTML)
    markup = answer_keyboard(lang, state.in_force, with_read=False) if state.needs_answer else None
    await context.bot.send_message(
        customer.telegram_id, status_line(context, lang, state), parse_mode=ParseMode.HTML, reply_markup=markup
    )


async def show_terms(update: Update, context: Context) -> None:
    customer, _ = await touch(update, context)
    await send_full_text(context, customer)


async def _drop_our_buttons(update: Update) -> None:
    """Remove the answered prompt's buttons; messages from the outbox keep theirs (they carry Stop these messages)."""
    query = update.callback_query
    assert query is not None
    message = query.message
    if not isinstance(getattr(message, "reply_markup", None), InlineKeyboardMarkup):
        return
    keyboard = message.reply_markup  # type: ignore[union-attr]
    if not any(b.callback_data == LATER for row in keyboard.inline_keyboard for b in row):
        return
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except TelegramError:  # too old to edit, or already edited: the answer below is what matters
        log.info("could not remove the agreement buttons")


async def agree(update: Update, context: Context, version: int) -> None:
    query = update.callback_query
    assert query is not None
    customer, _ = await touch(update, context)
    assert customer.id is not None
    lang = customer.language
    try:
        async with transaction(context.services.sessions) as session:
            acceptance, recorded = await agreements.accept(
                session,
                customer_id=customer.id,
                version=version,
                telegram_user_id=query.from_user.id,
                years=context.services.settings.agreement_years,
                now=utcnow(),
            )
    except AgreementError:
        await query.answer()
        if (await agreement_of(context, customer)).in_force is None:
            await context.bot.send_message(customer.telegram_id, t(lang, "terms.none"), parse_mode=ParseMode.HTML)
            return
        await context.bot.send_message(customer.telegram_id, t(lang, "terms.changed"), parse_mode=ParseMode.HTML)
        await offer_agreement(context, customer)
        return
    await query.answer()
    await _drop_our_buttons(update)
    until = _day(context, acceptance.valid_until, lang)
    text = (
        t(lang, "terms.accepted", version=version, date=_day(context, acceptance.accepted_at, lang), until=until)
        if recorded
        else t(lang, "terms.already", version=acceptance.version, until=until)
    )
    await context.bot.send_message(customer.telegram_id, text, parse_mode=ParseMode.HTML)


async def on_button(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    pressed = callback_data.TERMS.read(query.data)
    action = pressed.word("action")
    if action == "agree":
        await agree(update, context, pressed.number("version"))
        return
    await query.answer()
    customer, _ = await touch(update, context)
    if action == "read":
        await send_full_text(context, customer)
    elif action == "later":
        await _drop_our_buttons(update)
        await context.bot.send_message(
            customer.telegram_id, t(customer.language, "terms.later"), parse_mode=ParseMode.HTML
        )


# --- the admins' side ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublishRequest:
    version: int
    supplement: bool
    target: int | None
    language: str | None


def parse_publish_args(words: list[str]) -> PublishRequest | None:
    """`N [supplement [M]] [en|zh_CN]` in any order after N; None when it is not that."""
    version = row_id(words[0]) if words else None
    if version is None:
        return None
    supplement, target, language = False, None, None
    rest = words[1:]
    while rest:
        word = rest.pop(0)
        if word.lower() == "supplement":
            supplement = True
            if rest and (number := row_id(rest[0])) is not None:
                target = number
                rest.pop(0)
            continue
        try:
            language = normalise_language(word)
        except ValueError:
            return None
    return PublishRequest(version, supplement, target, language)


def language_of_file(file_name: str | None, text: str) -> str:
    """The language a file names (`terms.en.md`, `agreement_zh_CN.md`), else the one its text is mostly in."""
    found = LANGUAGE_IN_NAME.search(file_name or "")
    if found:
        return normalise_language(found.group(1))
    return "zh_CN" if len(CJK.findall(text)) * 4 > len(LATIN.findall(text)) else "en"


def _is_text_file(document: Document) -> bool:
    name = (document.file_name or "").lower()
    return name.endswith(TEXT_SUFFIXES) or (document.mime_type or "").startswith("text/")


async def _download_text(document: Document, context: Context) -> str | None:
    if not _is_text_file(document) or (document.file_size or 0) > MAX_FILE_KB * 1024:
        return None
    data = bytes(await (await context.bot.get_file(document.file_id)).download_as_bytearray())
    if len(data) > MAX_FILE_KB * 1024:
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


@staff_only(Role.ADMIN)
async def publish_from_chat(update: Update, context: Context) -> None:
    message, user = update.effective_message, update.effective_user
    assert message is not None and user is not None
    lang = await language_of(update, context)
    command = message.text or message.caption or ""
    first_line, _, summary = command.partition("\n")
    request = parse_publish_args(first_line.split()[1:])
    document = message.document or (message.reply_to_message.document if message.reply_to_message else None)
    if request is None or document is None:
        await message.reply_text(t(lang, "terms.publish.usage"), parse_mode=ParseMode.HTML)
        return
    text = await _download_text(document, context)
    if text is None:
        await message.reply_text(t(lang, "terms.publish.bad_file", limit=MAX_FILE_KB), parse_mode=ParseMode.HTML)
        return
    language = request.language or language_of_file(document.file_name, text)
    now = utcnow()
    try:
        async with transaction(context.services.sessions) as session:
            target = request.target
            if request.supplement and target is None:
                current = await agreements.version_in_force(session, at=now)
                if current is None:
                    raise AgreementError("nothing_to_supplement")
                target = current.version
            result = await agreements.publish(
                session,
                version=request.version,
                language=language,
                text=text,
                summary=summary.strip() or None,
                supplement_to=target,
                published_by=user.id,
                now=now,
            )
            await audit(
                session, actor_telegram_id=user.id, action="terms.publish", detail=f"v{request.version} {language}"
            )
    except AgreementError as error:
        await message.reply_text(
            t(lang, f"terms.publish.error.{error.code}", **error.params), parse_mode=ParseMode.HTML
        )
        return
    await message.reply_text(publish_report(lang, result), parse_mode=ParseMode.HTML)


def register(app: CarebotApp) -> None:
    app.add_handler(CommandHandler("terms", show_terms, filters=CUSTOMER_CHAT))
    app.add_handler(CommandHandler("terms_publish", publish_from_chat))
    app.add_handler(MessageHandler(filters.Document.ALL & filters.CaptionRegex(PUBLISH_CAPTION), publish_from_chat))
    app.add_handler(CallbackQueryHandler(on_button, pattern=callback_data.TERMS))
