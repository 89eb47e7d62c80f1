"""CSV files in the chat (admins): `/export customers|purchases|tickets|surveys` and `/import` with Commit.

Exports hold personal data: they go to the admin's private chat with the bot, never into the group. An import is
checked first (accepted and rejected rows with line numbers); nothing is written until Commit is pressed. Between the
two only a row of `staff_imports` is kept: the file stays with Telegram and must hash the same when fetched again.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from functools import partial
from typing import Any

from telegram import Document, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import TelegramError
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.auth import allowed, staff_only, staff_role
from bot.caller import language_of
from bot.context import CarebotApp, Context
from bot.handlers import pending
from bot.handlers.staff.common import EditedProgress, actor_id, answer, clip, lines, usage
from bot.settings import Settings
from bot.ui import callback_data
from bot.ui.i18n import Safe, t
from bot.ui.keyboards import button
from storage import csv_import, imports
from storage.csv_export import EXPORTS, export_customers
from storage.csv_import import CsvFileError, ImportSummary, ParseResult, Rejection
from storage.db import transaction
from storage.models import Role
from storage.staff import audit
from storage.types import utcnow

BOT_DOWNLOAD_LIMIT = 20 * 1024 * 1024  # the Bot API serves files up to 20 MB to bots
SHOWN_REJECTIONS = 15


# --- export --------------------------------------------------------------------------------------------------------


@staff_only(Role.ADMIN)
async def export_command(update: Update, context: Context) -> None:
    args = context.args or []
    kind = args[0].lower() if len(args) == 1 else ""
    if kind not in EXPORTS:
        await usage(update, context, "export")
        return
    lang = await language_of(update, context)
    admin = actor_id(update)
    async with transaction(context.services.sessions) as session:
        settings = context.services.settings
        if kind == "customers":  # staff are not customers
            data = await export_customers(session, zone=settings.zone, admin_ids=settings.admin_ids)
        else:
            data = await EXPORTS[kind](session)
        await audit(session, actor_telegram_id=admin, action=f"export.{kind}", detail=f"{len(data)} bytes")
    filename = f"{kind}-{utcnow().astimezone(context.services.settings.zone):%Y-%m-%d}.csv"
    try:
        await context.bot.send_document(
            admin,
            data,
            filename=filename,
            caption=t(lang, "staff.export.caption", kind=t(lang, f"staff.export.kind_{kind}")),
            parse_mode=ParseMode.HTML,
        )
    except TelegramError:
        await answer(update, t(lang, "staff.export.no_private_chat"))
        return
    chat = update.effective_chat
    if chat is not None and chat.type != ChatType.PRIVATE:
        await answer(update, t(lang, "staff.export.sent_privately", kind=t(lang, f"staff.export.kind_{kind}")))


# --- import: check ---------------------------------------------------------------------------------------------------


def _kind_of(data: bytes, wanted: str | None) -> str:
    if wanted:
        return wanted
    header = data[:4096].decode("utf-8-sig", errors="replace").splitlines()[:1]
    return "purchases" if header and "amount" in header[0].lower() else "customers"


def _parse(kind: str, data: bytes, settings: Settings, progress: csv_import.Progress | None) -> ParseResult[Any]:
    if kind == "purchases":
        return csv_import.parse_purchases_csv(
            data, default_currency=settings.currency, default_timezone=settings.timezone, progress=progress
        )
    return csv_import.parse_customers_csv(data, default_timezone=settings.timezone, progress=progress)


def _rejection_lines(lang: str, rejections: list[Rejection]) -> list[str]:
    shown: list[str] = [
        t(lang, "staff.import.rejection", line=r.line, reason=r.reason[:200]) for r in rejections[:SHOWN_REJECTIONS]
    ]
    if len(rejections) > SHOWN_REJECTIONS:
        shown.append(t(lang, "staff.import.more_rejections", count=len(rejections) - SHOWN_REJECTIONS))
    return shown


async def _download(context: Context, file_id: str) -> bytes:
    telegram_file = await context.bot.get_file(file_id)
    return bytes(await telegram_file.download_as_bytearray())


async def check_import(update: Update, context: Context, document: Document, wanted: str | None) -> None:
    """Download, check every row, report, and stage the import behind a Commit button."""
    lang = await language_of(update, context)
    settings = context.services.settings
    size = document.file_size or 0
    try:
        csv_import.check_size(size)
    except CsvFileError as error:
        await answer(update, t(lang, "staff.import.file_error", reason=str(error)))
        return
    if size > BOT_DOWNLOAD_LIMIT:
        await answer(update, t(lang, "staff.import.too_big_for_bots"))
        return
    status = await answer(update, t(lang, "staff.import.checking", name=document.file_name or "file.csv"))
    try:
        data = await _download(context, document.file_id)
    except TelegramError:
        await status.edit_text(t(lang, "staff.import.download_failed"), parse_mode=ParseMode.HTML)
        return
    kind = _kind_of(data, wanted)
    progress = EditedProgress(status, lambda count: t(lang, "staff.import.checked_so_far", count=count))
    try:
        async with progress:
            result = await asyncio.to_thread(_parse, kind, data, settings, progress.update)
    except CsvFileError as error:
        await status.edit_text(t(lang, "staff.import.file_error", reason=str(error)), parse_mode=ParseMode.HTML)
        return
    accepted, rejected = len(result.rows), len(result.rejections)
    markup = None
    if accepted:
        async with transaction(context.services.sessions) as session:
            staged = await imports.stage_import(
                session,
                kind=kind,
                file_id=document.file_id,
                sha256=hashlib.sha256(data).hexdigest(),
                actor_telegram_id=actor_id(update),
                chat_id=status.chat_id,
                accepted=accepted,
                rejected=rejected,
            )
        markup = InlineKeyboardMarkup(
            [
                [
                    button(t(lang, "staff.import.commit_button", count=accepted), f"staff:import:commit:{staged.id}"),
                    button(t(lang, "staff.import.discard_button"), f"staff:import:discard:{staged.id}"),
                ]
            ]
        )
    text = lines(
        t(
            lang,
            "staff.import.checked",
            kind=t(lang, f"staff.export.kind_{kind}"),
            accepted=accepted,
            rejected=rejected,
        ),
        *_rejection_lines(lang, result.rejections),
        "",
        t(lang, "staff.import.commit_hint") if accepted else t(lang, "staff.import.nothing_to_commit"),
    )
    await status.edit_text(clip(text), parse_mode=ParseMode.HTML, reply_markup=markup)


def _wanted(args: list[str]) -> str | bool | None:
    """The kind named after /import (None: detect it from the header); False when the arguments are wrong."""
    if not args:
        return None
    if len(args) == 1 and args[0].lower() in imports.KINDS:
        return args[0].lower()
    return False


@staff_only(Role.ADMIN)
async def import_command(update: Update, context: Context) -> None:
    """`/import [customers|purchases]` as the caption of a CSV file, as a reply to one, or before sending one."""
    message = update.effective_message
    assert message is not None
    words = (message.text or message.caption or "").split()[1:]
    wanted = _wanted(words)
    if wanted is False:
        await usage(update, context, "import")
        return
    kind = wanted if isinstance(wanted, str) else None
    document = message.document or (message.reply_to_message.document if message.reply_to_message else None)
    if document is not None:
        await check_import(update, context, document, kind)
        return
    lang = await language_of(update, context)
    await pending.expect(update, context, "import", wanted=kind)
    await answer(update, t(lang, "staff.import.send_file"))


@pending.on_input("import")
async def receive_import_file(update: Update, context: Context, _kind: str, data: dict[str, Any]) -> None:
    lang = await language_of(update, context)
    if not allowed(await staff_role(update, context), Role.ADMIN):
        await pending.done(update, context)
        return
    message = update.effective_message
    assert message is not None
    if message.document is None:
        await answer(update, t(lang, "staff.import.send_file"))
        return
    await pending.done(update, context)
    await check_import(update, context, message.document, data.get("wanted"))


# --- import: commit --------------------------------------------------------------------------------------------------


class _Conflicts(Exception):
    def __init__(self, summary: ImportSummary) -> None:
        super().__init__("rows conflict with stored data")
        self.summary = summary


@dataclass(frozen=True)
class _Outcome:
    summary: ImportSummary | None = None
    problem: Safe | None = None


async def _commit(context: Context, import_id: int, actor: int, lang: str, progress: EditedProgress) -> _Outcome:
    settings = context.services.settings
    try:
        async with transaction(context.services.sessions) as session:
            staged = await imports.claim_import(session, import_id=import_id)
            if staged is None:
                return _Outcome(problem=t(lang, "staff.import.already_done"))
            data = await _download(context, staged.file_id)
            if hashlib.sha256(data).hexdigest() != staged.sha256:
                raise CsvFileError("the file changed since it was checked")
            result = await asyncio.to_thread(_parse, staged.kind, data, settings, None)
            if staged.kind == "purchases":
                summary = await csv_import.apply_purchases(
                    session,
                    result.rows,
                    vip=context.services.vip,
                    default_language=settings.default_language,
                    progress=progress.update,
                )
            else:
                summary = await csv_import.apply_customers(
                    session, result.rows, default_language=settings.default_language, progress=progress.update
                )
            if summary.rejections:
                raise _Conflicts(summary)
            await audit(
                session,
                actor_telegram_id=actor,
                action=f"import.{staged.kind}",
                detail=f"{len(result.rows)} rows, {len(result.rejections)} rejected",
            )
            return _Outcome(summary=summary)
    except _Conflicts as conflicts:
        return _Outcome(
            problem=lines(
                t(lang, "staff.import.conflicts", count=len(conflicts.summary.rejections)),
                *_rejection_lines(lang, conflicts.summary.rejections),
            )
        )
    except (CsvFileError, TelegramError) as error:
        return _Outcome(problem=t(lang, "staff.import.file_error", reason=str(error)))


def _summary_text(lang: str, summary: ImportSummary) -> Safe:
    return lines(
        t(lang, "staff.import.committed"),
        t(
            lang,
            "staff.import.customers_summary",
            created=summary.customers_created,
            updated=summary.customers_updated,
            unchanged=summary.customers_unchanged,
        ),
        t(
            lang,
            "staff.import.purchases_summary",
            imported=summary.purchases_imported,
            skipped=summary.purchases_skipped,
            moves=summary.segment_changes,
        )
        if summary.purchases_imported or summary.purchases_skipped
        else None,
        t(lang, "staff.import.refunds_summary", count=summary.refunds_imported) if summary.refunds_imported else None,
    )


@staff_only(Role.ADMIN)
async def import_button(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    pressed = callback_data.IMPORT.read(query.data)
    action, import_id = pressed.word("action"), pressed.number("import")
    lang = await language_of(update, context)
    message = query.message
    assert isinstance(message, Message)
    await query.answer()
    if action == "discard":
        async with transaction(context.services.sessions) as session:
            await imports.claim_import(session, import_id=import_id)
        await message.edit_text(t(lang, "staff.import.discarded"), parse_mode=ParseMode.HTML)
        return
    await message.edit_text(t(lang, "staff.import.committing"), parse_mode=ParseMode.HTML)
    progress = EditedProgress(message, partial(_committing_text, lang))
    async with progress:
        outcome = await _commit(context, import_id, actor_id(update), lang, progress)
    text = outcome.problem if outcome.summary is None else _summary_text(lang, outcome.summary)
    await message.edit_text(clip(text or ""), parse_mode=ParseMode.HTML)


def _committing_text(lang: str, count: int) -> str:
    return t(lang, "staff.import.committed_so_far", count=count)


IMPORT_CAPTION = filters.CaptionRegex(r"^/import(@\w+)?(\s|$)")


def register(app: CarebotApp) -> None:
    app.add_handler(CommandHandler("export", export_command))
    app.add_handler(CommandHandler("import", import_command))
    app.add_handler(MessageHandler(filters.Document.ALL & IMPORT_CAPTION, import_command))
    app.add_handler(CallbackQueryHandler(import_button, pattern=callback_data.IMPORT))
