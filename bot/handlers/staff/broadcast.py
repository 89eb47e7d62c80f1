"""`/broadcast <segment|all>` (admins): the message to send, a preview with the recipient count, Confirm or Cancel,
then one progress message edited as the sender works through the outbox rows, ending with a final report.

Recipients are counted and planned with the one proactive-message rule (opted-out and unreachable customers are left
out). The rows carry `copy_from`: the sender copies the admin's message (any media) and adds the Stop button.
"""

from __future__ import annotations

from typing import Any

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import CallbackQueryHandler, CommandHandler, Job

from bot.auth import allowed, staff_only, staff_role
from bot.caller import language_of
from bot.context import CarebotApp, Context, Services
from bot.handlers import pending
from bot.handlers.staff.common import actor_id, answer, usage
from bot.ui import callback_data
from bot.ui.i18n import t
from bot.ui.keyboards import button
from storage import broadcasts
from storage.db import transaction
from storage.models import Broadcast, Role
from storage.staff import audit

PROGRESS_EVERY_SECONDS = 5.0


def audience_name(lang: str, segment: str) -> str:
    return t(lang, "staff.broadcast.all") if segment == broadcasts.ALL else t(lang, f"staff.segment.{segment}")


@staff_only(Role.ADMIN)
async def broadcast_command(update: Update, context: Context) -> None:
    args = context.args or []
    segment = args[0].lower() if len(args) == 1 else ""
    if segment not in broadcasts.AUDIENCES:
        await usage(update, context, "broadcast")
        return
    lang = await language_of(update, context)
    async with context.services.sessions() as session:
        count = await broadcasts.count_recipients(
            session, segment=segment, admin_ids=context.services.settings.admin_ids
        )
    if count == 0:
        await answer(update, t(lang, "staff.broadcast.nobody", audience=audience_name(lang, segment)))
        return
    await pending.expect(update, context, "broadcast", segment=segment)
    await answer(update, t(lang, "staff.broadcast.ask", audience=audience_name(lang, segment), count=count))


@pending.on_input("broadcast")
async def receive_broadcast_message(update: Update, context: Context, _kind: str, data: dict[str, Any]) -> None:
    """The admin's next message is what customers will get: copy it back as a preview and ask to confirm."""
    await pending.done(update, context)
    if not allowed(await staff_role(update, context), Role.ADMIN):
        return
    lang = await language_of(update, context)
    message = update.effective_message
    assert message is not None
    async with transaction(context.services.sessions) as session:
        draft = await broadcasts.create_draft(
            session,
            segment=data["segment"],
            created_by=actor_id(update),
            source_chat_id=message.chat_id,
            source_message_id=message.message_id,
            language=lang,
            admin_ids=context.services.settings.admin_ids,
        )
    await context.bot.copy_message(
        message.chat_id, message.chat_id, message.message_id, message_thread_id=message.message_thread_id
    )
    markup = InlineKeyboardMarkup(
        [
            [
                button(t(lang, "staff.broadcast.confirm_button"), f"staff:bcast:go:{draft.id}"),
                button(t(lang, "staff.broadcast.cancel_button"), f"staff:bcast:no:{draft.id}"),
            ]
        ]
    )
    await answer(
        update,
        t(
            lang,
            "staff.broadcast.preview",
            number=draft.id,
            audience=audience_name(lang, draft.segment),
            count=draft.recipients,
        ),
        markup,
    )


@staff_only(Role.ADMIN)
async def broadcast_button(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    pressed = callback_data.BROADCAST.read(query.data)
    action, broadcast_id = pressed.word("action"), pressed.number("broadcast")
    lang = await language_of(update, context)
    message = query.message
    assert isinstance(message, Message)
    async with transaction(context.services.sessions) as session:
        if action == "no":
            handled = await broadcasts.cancel_draft(session, broadcast_id=broadcast_id)
            planned = None
        else:
            planned = await broadcasts.queue_broadcast(
                session,
                broadcast_id=broadcast_id,
                report_chat_id=message.chat_id,
                report_message_id=message.message_id,
                admin_ids=context.services.settings.admin_ids,
            )
            handled = planned is not None
            if handled:
                await audit(
                    session,
                    actor_telegram_id=actor_id(update),
                    action="broadcast.confirm",
                    detail=f"#{broadcast_id} {planned}",
                )
    await query.answer()
    if not handled:
        await message.edit_reply_markup(None)
        return
    if action == "no":
        await message.edit_text(t(lang, "staff.broadcast.cancelled", number=broadcast_id), parse_mode=ParseMode.HTML)
        return
    follow(context.application, broadcast_id)
    await report_progress(context.application, broadcast_id)


def follow(app: Any, broadcast_id: int) -> None:
    """Edit the broadcast's progress message every few seconds until every row is done."""
    assert app.job_queue is not None
    name = f"broadcast-progress:{broadcast_id}"
    if not app.job_queue.get_jobs_by_name(name):
        app.job_queue.run_repeating(
            _progress_job, interval=PROGRESS_EVERY_SECONDS, first=PROGRESS_EVERY_SECONDS, data=broadcast_id, name=name
        )


async def _progress_job(context: Context) -> None:
    job = context.job
    assert isinstance(job, Job) and isinstance(job.data, int)
    if await report_progress(context.application, job.data):
        job.schedule_removal()


def progress_text(lang: str, broadcast: Broadcast, progress: broadcasts.Progress) -> str:
    counts = {
        "number": broadcast.id,
        "audience": audience_name(lang, broadcast.segment),
        "total": progress.total,
        "sent": progress.sent,
        "failed": progress.failed,
        "skipped": progress.skipped,
    }
    if progress.done:
        return t(lang, "staff.broadcast.finished", **counts)
    return t(lang, "staff.broadcast.progress", waiting=progress.waiting, **counts)


async def report_progress(app: Any, broadcast_id: int) -> bool:
    """Edit the progress message to the current counts; on the last row, the final report. True when finished."""
    services: Services = app.bot_data["services"]
    async with transaction(services.sessions) as session:
        broadcast = await session.get(Broadcast, broadcast_id)
        if broadcast is None or broadcast.report_chat_id is None or broadcast.report_message_id is None:
            return True
        progress = await broadcasts.progress(session, broadcast_id=broadcast_id)
        if progress.done:
            await broadcasts.finish(session, broadcast_id=broadcast_id)
    lang = broadcast.language
    try:
        await app.bot.edit_message_text(
            progress_text(lang, broadcast, progress),
            chat_id=broadcast.report_chat_id,
            message_id=broadcast.report_message_id,
            parse_mode=ParseMode.HTML,
        )
    except BadRequest as error:
        if "not modified" not in error.message.lower():
            raise
    except TelegramError:
        pass  # the next round tries again
    return progress.done


async def on_startup(app: CarebotApp) -> None:
    """Follow the broadcasts that were still being sent when the bot stopped."""
    services: Services = app.bot_data["services"]
    async with services.sessions() as session:
        unfinished = await broadcasts.in_progress(session)
    for broadcast in unfinished:
        assert broadcast.id is not None
        follow(app, broadcast.id)


def register(app: CarebotApp) -> None:
    app.add_handler(CommandHandler("broadcast", broadcast_command))
    app.add_handler(CallbackQueryHandler(broadcast_button, pattern=callback_data.BROADCAST))
