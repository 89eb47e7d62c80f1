"""Tests proving the fake Bot API (tests/botapi) behaves like Telegram for python-telegram-bot."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    LabeledPrice,
    MenuButtonCommands,
    Message,
    MessageOriginHiddenUser,
    MessageOriginUser,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatAction
from telegram.error import BadRequest, ChatMigrated, Conflict, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import Application, CallbackQueryHandler, ContextTypes, MessageHandler, filters

from tests.botapi import (
    BOT_ID,
    TOKEN,
    BotApiServer,
    FakeChat,
    FakeRequest,
    FakeTelegram,
    FakeUser,
    MarkupError,
    parse_html,
    parse_markdown_v2,
    serve_botapi,
)

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # RetryAfter.retry_after

KEYBOARD = InlineKeyboardMarkup([[InlineKeyboardButton("Close ticket", callback_data="close:1")]])


@pytest.fixture
def tg() -> FakeTelegram:
    return FakeTelegram()


@pytest.fixture
def alice(tg: FakeTelegram) -> FakeUser:
    return tg.user(42, "Alice", last_name="Doe", username="alice")


@pytest.fixture
def bob(tg: FakeTelegram) -> FakeUser:
    return tg.user(7, "Bob", username="bob_staff")


@pytest.fixture
def staff(tg: FakeTelegram, bob: FakeUser) -> FakeChat:
    return tg.group(-1001234567890, "Care staff", forum=True, members=[bob])


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, request=FakeRequest(tg), get_updates_request=FakeRequest(tg)) as bot:
        yield bot


# ---------------------------------------------------------------------- in-process transport
async def test_get_me_and_send_text_with_keyboard(tg: FakeTelegram, bot: Bot, alice: FakeUser) -> None:
    assert (bot.id, bot.username, bot.first_name) == (BOT_ID, "carebot_test_bot", "Carebot")
    sent = await bot.send_message(alice.id, "<b>Hello</b> &amp; welcome 👋", parse_mode="HTML", reply_markup=KEYBOARD)

    assert sent.text == "Hello & welcome 👋"
    assert sent.entities[0].type == "bold" and (sent.entities[0].offset, sent.entities[0].length) == (0, 5)
    assert sent.reply_markup == KEYBOARD
    [message] = tg.sent_to(alice)
    assert message.raw_text == "<b>Hello</b> &amp; welcome 👋"
    assert message.callback_data == ["close:1"]
    assert [c.method for c in tg.calls] == ["getMe", "sendMessage"]
    assert tg.calls_to("sendmessage")[0].params["chat_id"] == alice.id


async def test_photo_upload_get_file_and_download(tg: FakeTelegram, bot: Bot, alice: FakeUser) -> None:
    content = b"\x89PNG\r\n\x1a\n--binary--\r\n"
    sent = await bot.send_photo(alice.id, photo=content, caption="Your receipt", filename="receipt.png")

    assert tg.calls_to("sendPhoto")[0].files["photo"].content == content
    assert tg.sent_to(alice)[0].upload is not None
    file = await bot.get_file(sent.photo[-1].file_id)
    assert file.file_path is not None and file.file_path.startswith("https://api.telegram.org/file/bot")
    assert bytes(await file.download_as_bytearray()) == content
    again = await bot.send_photo(alice.id, photo=sent.photo[-1].file_id)
    assert again.photo[-1].file_unique_id == sent.photo[-1].file_unique_id
    with pytest.raises(BadRequest, match=r"(?i)can't use file of type photo as document"):
        await bot.send_document(alice.id, document=sent.photo[-1].file_id)


async def test_user_media_parse_as_ptb_updates(tg: FakeTelegram, bot: Bot, alice: FakeUser) -> None:
    tg.sends_photo(alice, caption="broken screen")
    tg.sends_document(alice, file_name="invoice.pdf")
    tg.sends_video(alice)
    tg.sends_voice(alice)
    tg.sends_audio(alice, title="Song")
    tg.sends_sticker(alice)
    tg.sends_location(alice, 48.85, 2.35)
    tg.sends_contact(alice, "+33123456789")
    album = tg.sends_album(alice, 3, caption="three photos")
    updates = await bot.get_updates()

    kinds = [u.message.effective_attachment.__class__.__name__ for u in updates if u.message]
    assert kinds[:8] == ["tuple", "Document", "Video", "Voice", "Audio", "Sticker", "Location", "Contact"]
    assert len({m.media_group_id for m in album}) == 1 and album[0].caption == "three photos"
    file = await bot.get_file(updates[1].message.document.file_id)
    assert await file.download_as_bytearray()


async def test_copy_into_forum_topic_and_staff_reply(
    tg: FakeTelegram, bot: Bot, alice: FakeUser, bob: FakeUser, staff: FakeChat
) -> None:
    question = tg.customer_sends_text(alice, "My order is late")
    topic = await bot.create_forum_topic(staff.id, "Alice Doe #1")
    copied = await bot.copy_message(staff.id, alice.id, question.message_id, message_thread_id=topic.message_thread_id)

    [copy] = tg.sent_to(staff)
    assert copy.message_id == copied.message_id and copy.copied_from == question.key
    assert copy.text == "My order is late" and copy.thread_id == topic.message_thread_id
    answer = tg.group_message(bob, staff, "Shipped today!", reply_to=copy)
    assert answer.data["message_thread_id"] == topic.message_thread_id and answer.data["is_topic_message"]
    update = Update.de_json(tg.updates[-1].data, bot)
    assert update.message.reply_to_message.text == "My order is late"
    assert update.message.reply_to_message.from_user.id == BOT_ID
    in_topic = tg.group_message(bob, staff, "note", thread_id=topic.message_thread_id)
    assert in_topic.data["reply_to_message"]["forum_topic_created"]["name"] == "Alice Doe #1"


async def test_copy_works_for_private_forwards_and_forward_hides_sender(
    tg: FakeTelegram, bot: Bot, staff: FakeChat
) -> None:
    shy = tg.user(55, "Shy", has_private_forwards=True)
    question = tg.customer_sends_text(shy, "help")
    await bot.copy_message(staff.id, shy.id, question.message_id)
    forwarded = await bot.forward_message(staff.id, shy.id, question.message_id)
    assert isinstance(forwarded.forward_origin, MessageOriginHiddenUser)
    assert forwarded.forward_origin.sender_user_name == "Shy"
    open_user = tg.user(56, "Open")
    other = await bot.forward_message(staff.id, open_user.id, tg.customer_sends_text(open_user, "hi").message_id)
    assert isinstance(other.forward_origin, MessageOriginUser)
    assert (await bot.get_chat(shy.id)).has_private_forwards


async def test_edit_delete_and_reply(tg: FakeTelegram, bot: Bot, alice: FakeUser) -> None:
    question = tg.customer_sends_text(alice, "hi")
    sent = await bot.send_message(alice.id, "Working on it", reply_parameters=ReplyParameters(question.message_id))
    assert sent.reply_to_message.text == "hi"
    edited = await bot.edit_message_text("Done", alice.id, sent.message_id, reply_markup=KEYBOARD)
    assert edited.text == "Done" and edited.edit_date is not None
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text("Done", alice.id, sent.message_id, reply_markup=KEYBOARD)
    await bot.edit_message_text("Done", alice.id, sent.message_id)  # no markup given: keyboard removed
    assert tg.sent_to(alice)[0].buttons == [] and len(tg.sent_to(alice)[0].history) == 2
    with pytest.raises(BadRequest, match="Message can't be edited"):
        await bot.edit_message_text("x", alice.id, question.message_id)
    assert await bot.delete_message(alice.id, sent.message_id)
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await bot.delete_message(alice.id, sent.message_id)
    with pytest.raises(BadRequest, match="Message to be replied not found"):
        await bot.send_message(alice.id, "x", reply_parameters=ReplyParameters(999))
    assert tg.sent_to(alice, include_deleted=False) == []


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"text": "x" * 4097}, "(?i)Message is too long"),
        ({"text": "   "}, "(?i)Message text is empty"),
        ({"text": "<b>bold", "parse_mode": "HTML"}, "(?i)Can't parse entities: can't find end tag"),
        ({"text": "<div>x</div>", "parse_mode": "HTML"}, '(?i)unsupported start tag "div"'),
        ({"text": "Fish & chips", "parse_mode": "HTML"}, "(?i)Can't parse entities"),
        ({"text": "Price: 5.00", "parse_mode": "MarkdownV2"}, "(?i)Character '.' is reserved"),
        ({"text": "x", "chat_id": 999}, "(?i)Chat not found"),
        (
            {"text": "x", "reply_markup": InlineKeyboardMarkup([[InlineKeyboardButton("b", callback_data="d" * 65)]])},
            "(?i)button_data_invalid",
        ),
    ],
)
async def test_send_message_bad_requests(bot: Bot, alice: FakeUser, kwargs: dict[str, object], error: str) -> None:
    with pytest.raises(BadRequest, match=error):
        await bot.send_message(**{"chat_id": alice.id, **kwargs})  # type: ignore[arg-type]


async def test_caption_and_topic_errors(tg: FakeTelegram, bot: Bot, alice: FakeUser, staff: FakeChat) -> None:
    with pytest.raises(BadRequest, match="Message caption is too long"):
        await bot.send_photo(alice.id, b"img", caption="c" * 1025)
    topic = await bot.create_forum_topic(staff.id, "Ticket")
    tg.delete_topic(staff, topic.message_thread_id)
    with pytest.raises(BadRequest, match="Message thread not found"):
        await bot.send_message(staff.id, "x", message_thread_id=topic.message_thread_id)
    tg.deny_topics(staff)
    with pytest.raises(BadRequest, match="Not enough rights to create a topic"):
        await bot.create_forum_topic(staff.id, "Ticket 2")


async def test_injected_faults_raise_ptb_errors(tg: FakeTelegram, bot: Bot, alice: FakeUser) -> None:
    tg.fail_next("sendMessage", status=429, retry_after=7)
    with pytest.raises(RetryAfter) as retry:
        await bot.send_message(alice.id, "x")
    assert retry.value.retry_after == 7
    tg.fail_next("sendMessage", status=500, times=2)
    for _ in range(2):
        with pytest.raises(NetworkError, match="Internal Server Error"):
            await bot.send_message(alice.id, "x")
    tg.fail_next("getChat", status=502)
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.get_chat(alice.id)
    tg.fail_next("sendMessage", status=403, chat_id=12345)
    await bot.send_message(alice.id, "other chats are unaffected")
    tg.block_bot(alice)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(alice.id, "x")
    assert [c.ok for c in tg.calls_to("sendMessage")] == [False, False, False, True, False]


async def test_flood_limits_delay_and_group_migration(tg: FakeTelegram, bot: Bot, alice: FakeUser) -> None:
    tg.set_flood_limits(per_chat=(2, 60.0), retry_after=3)
    await bot.send_message(alice.id, "1")
    await bot.send_message(alice.id, "2")
    with pytest.raises(RetryAfter):
        await bot.send_message(alice.id, "3")
    assert tg.max_per_window(alice, 1.0) == 3 and tg.max_per_window(alice, 1.0, ok_only=True) == 2
    assert tg.max_global_per_second() == 3
    tg.set_flood_limits()
    tg.delay_next("getChat", 0.5)
    with pytest.raises(TimedOut):
        await bot.get_chat(alice.id, read_timeout=0.05)
    old = tg.group(-555, "Basic group")
    tg.migrate_group(old, -1009999)
    with pytest.raises(ChatMigrated) as migrated:
        await bot.send_message(old.id, "x")
    assert migrated.value.new_chat_id == -1009999


async def test_callback_query_answer_once(tg: FakeTelegram, bot: Bot, alice: FakeUser) -> None:
    await bot.send_message(alice.id, "Rate us", reply_markup=KEYBOARD)
    message = tg.sent_to(alice)[0]
    with pytest.raises(ValueError, match="no button"):
        tg.presses_button(alice, message, "nope")
    press = tg.presses_button(alice, message, "close:1")
    [update] = await bot.get_updates()
    assert update.callback_query.data == "close:1" and update.callback_query.message.message_id == message.message_id
    assert await bot.answer_callback_query(press.callback_query_id or "", text="Closed")
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query(press.callback_query_id or "")


async def test_stars_invoice_checkout_payment_and_refund(tg: FakeTelegram, bot: Bot, alice: FakeUser) -> None:
    with pytest.raises(BadRequest, match="Payment_provider_invalid"):
        await bot.send_invoice(alice.id, "Tea", "Green tea", "p-1", "XTR", [LabeledPrice("Tea", 5)], provider_token="x")
    with pytest.raises(BadRequest, match="Stars_invoice_invalid"):
        await bot.send_invoice(alice.id, "Tea", "Green tea", "p-1", "XTR", [LabeledPrice("A", 5), LabeledPrice("B", 1)])
    with pytest.raises(BadRequest, match="Payment_provider_invalid"):
        await bot.send_invoice(alice.id, "Tea", "Green tea", "p-1", "EUR", [LabeledPrice("Tea", 500)])
    sent = await bot.send_invoice(alice.id, "Tea", "Green tea", "p-1", "XTR", [LabeledPrice("Tea", 5)])
    assert sent.invoice is not None and (sent.invoice.currency, sent.invoice.total_amount) == ("XTR", 5)

    checkout = tg.pays_invoice(alice, tg.sent_to(alice)[0])
    with pytest.raises(ValueError, match="not approved"):
        tg.payment_succeeds(alice, checkout)
    [update] = await bot.get_updates()
    query = update.pre_checkout_query
    assert query is not None and (query.invoice_payload, query.from_user.id) == ("p-1", alice.id)
    with pytest.raises(BadRequest, match="Error_message_empty"):
        await bot.answer_pre_checkout_query(query.id, ok=False)
    assert await bot.answer_pre_checkout_query(query.id, ok=True)
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_pre_checkout_query(query.id, ok=True)

    paid = tg.payment_succeeds(alice, checkout)
    [update] = await bot.get_updates(offset=update.update_id + 1)
    payment = update.message.successful_payment if update.message else None
    assert payment is not None and payment.total_amount == 5
    charge = paid.data["successful_payment"]["telegram_payment_charge_id"]
    assert payment.telegram_payment_charge_id == charge
    with pytest.raises(BadRequest, match="Charge_id_invalid"):
        await bot.refund_star_payment(alice.id + 1, charge)
    assert await bot.refund_star_payment(alice.id, charge)
    with pytest.raises(BadRequest, match="Charge_already_refunded"):
        await bot.refund_star_payment(alice.id, charge)


async def test_group_membership_privacy_and_raw_updates(
    tg: FakeTelegram, bot: Bot, alice: FakeUser, bob: FakeUser
) -> None:
    group = tg.group(-100777, "Support", bot_status="left")
    added = tg.bot_added_to_group(bob, group)
    sent = await bot.send_message(group.id, "Hi all")
    tg.group_message(bob, group, "chatting among us")  # bot is a plain member: privacy mode hides this
    reply = tg.group_message(bob, group, "thanks bot", reply_to=tg.message(group, sent.message_id))
    tg.raw_update({"some_future_update": {"x": 1}})
    updates = await bot.get_updates(allowed_updates=[*Update.ALL_TYPES, "some_future_update"])

    assert updates[0].update_id == added.update_id
    assert updates[0].my_chat_member.new_chat_member.status == "member"
    assert updates[1].message.new_chat_members[0].id == BOT_ID
    assert updates[2].message.message_id == reply.message_id
    assert updates[3].api_kwargs == {"some_future_update": {"x": 1}}
    await bot.leave_chat(group.id)
    with pytest.raises(Forbidden, match="bot is not a member of the supergroup chat"):
        await bot.send_message(group.id, "x")
    edited = tg.edits_message(alice, tg.customer_sends_text(alice, "typo"), "fixed")
    assert edited.kind == "edited_message" and edited.data["edited_message"]["text"] == "fixed"


async def test_remaining_methods_parse_in_ptb(tg: FakeTelegram, bot: Bot, alice: FakeUser, staff: FakeChat) -> None:
    assert await bot.set_my_commands([BotCommand("start", "Start"), BotCommand("help", "Help")])
    assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]
    assert await bot.delete_my_commands() and await bot.get_my_commands() == ()
    assert await bot.set_chat_menu_button(alice.id, MenuButtonCommands())
    assert (await bot.get_chat_menu_button(alice.id)).type == "commands"
    assert await bot.send_chat_action(alice.id, ChatAction.TYPING) and tg.chat_actions == [(alice.id, "typing")]
    location = await bot.send_location(alice.id, 52.5, 13.4)
    contact = await bot.send_contact(alice.id, "+4912345", "Support")
    animation = await bot.send_animation(alice.id, b"GIF89a", caption="gif")
    video = await bot.send_video(alice.id, b"mp4", caption="clip")
    voice = await bot.send_voice(alice.id, b"ogg")
    audio = await bot.send_audio(alice.id, b"mp3", title="Hold music")
    document = await bot.send_document(alice.id, b"%PDF", filename="terms.pdf")
    sticker = await bot.send_sticker(alice.id, b"RIFF")
    assert (location.location.latitude, contact.contact.phone_number) == (52.5, "+4912345")
    assert animation.animation and animation.document and video.video and voice.voice and sticker.sticker
    assert audio.audio.title == "Hold music" and document.document.file_name == "terms.pdf"
    media = await bot.edit_message_media(InputMediaPhoto(b"new", caption="replaced"), alice.id, video.message_id)
    assert isinstance(media, Message) and media.photo and media.caption == "replaced"
    markup = await bot.edit_message_reply_markup(alice.id, document.message_id, reply_markup=KEYBOARD)
    assert isinstance(markup, Message) and markup.reply_markup == KEYBOARD
    copies = await bot.copy_messages(staff.id, alice.id, [location.message_id, contact.message_id])
    assert [tg.message(staff, c.message_id).media_type for c in copies] == ["location", "contact"]  # type: ignore[union-attr]
    assert await bot.pin_chat_message(alice.id, document.message_id)
    assert (await bot.get_chat(alice.id)).pinned_message.message_id == document.message_id  # type: ignore[union-attr]
    assert await bot.unpin_chat_message(alice.id)
    topic = await bot.create_forum_topic(staff.id, "Ticket 7")
    assert await bot.edit_forum_topic(staff.id, topic.message_thread_id, name="Ticket 7 (urgent)")
    assert await bot.close_forum_topic(staff.id, topic.message_thread_id)
    with pytest.raises(BadRequest, match=r"(?i)topic_not_modified"):
        await bot.close_forum_topic(staff.id, topic.message_thread_id)
    assert await bot.reopen_forum_topic(staff.id, topic.message_thread_id)
    assert await bot.delete_forum_topic(staff.id, topic.message_thread_id)
    assert staff.topics[topic.message_thread_id].deleted
    assert (await bot.get_chat(staff.id)).is_forum
    assert (await bot.get_chat_member(staff.id, BOT_ID)).status == "administrator"
    assert (await bot.get_chat_member(staff.id, alice.id)).status == "left"
    assert [a.user.id for a in await bot.get_chat_administrators(staff.id)] == [BOT_ID]
    assert (await bot.get_webhook_info()).url == ""
    assert await bot.log_out() and await bot.close()


# ---------------------------------------------------------------------- getUpdates semantics
async def test_get_updates_offset_limit_and_long_poll(tg: FakeTelegram, bot: Bot, alice: FakeUser) -> None:
    first = tg.customer_sends_text(alice, "one")
    tg.customer_sends_text(alice, "two")
    tg.customer_sends_text(alice, "three")
    assert [u.message.text for u in await bot.get_updates(limit=2)] == ["one", "two"]
    assert len(await bot.get_updates()) == 3  # unconfirmed updates are delivered again
    assert [u.message.text for u in await bot.get_updates(offset=-1)] == ["three"]
    assert await bot.get_updates(offset=(first.update_id or 0) + 3) == ()
    assert tg.pending_updates == []

    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await tg.wait_for(lambda: tg.polls_waiting == 1, timeout=1)
    tg.customer_sends_text(alice, "wake up")
    [update] = await poll
    assert update.message.text == "wake up" and time.monotonic() - started < 1.0

    started = time.monotonic()
    assert await bot.get_updates(offset=update.update_id + 1, timeout=0.2) == ()
    assert 0.15 < time.monotonic() - started < 1.0


async def test_get_updates_conflicts(tg: FakeTelegram, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await tg.wait_for(lambda: tg.polls_waiting == 1, timeout=1)
    assert await bot.get_updates() == ()
    with pytest.raises(Conflict, match="terminated by other getUpdates request"):
        await first
    await bot.set_webhook("https://example.com/hook", secret_token="s3cret")
    assert (await bot.get_webhook_info()).url == "https://example.com/hook"
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates()
    await bot.delete_webhook()
    assert await bot.get_updates() == ()


async def test_application_polling_end_to_end(tg: FakeTelegram, alice: FakeUser) -> None:
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await update.message.reply_text(f"echo: {update.message.text}", reply_markup=KEYBOARD)

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query is not None
        await update.callback_query.answer("ok")
        await update.callback_query.edit_message_text("closed")

    app = Application.builder().token(TOKEN).request(FakeRequest(tg)).get_updates_request(FakeRequest(tg)).build()
    app.add_handler(MessageHandler(filters.TEXT, echo))
    app.add_handler(CallbackQueryHandler(pressed))
    async with app:
        await app.updater.start_polling(poll_interval=0.0, timeout=5)  # type: ignore[union-attr]
        await app.start()
        tg.customer_sends_text(alice, "hello")
        [reply] = await tg.wait_for(lambda: tg.sent_to(alice))
        assert reply.text == "echo: hello" and reply.callback_data == ["close:1"]
        tg.presses_button(alice, reply, "close:1")
        await tg.wait_for(lambda: reply.text == "closed")
        assert tg.calls_to("answerCallbackQuery")[0].params["text"] == "ok"
        await app.updater.stop()  # type: ignore[union-attr]
        await app.stop()


async def test_wait_for_times_out_with_recent_calls(tg: FakeTelegram, bot: Bot, alice: FakeUser) -> None:
    await bot.send_message(alice.id, "only message")
    with pytest.raises(AssertionError, match=r"(?s)timed out after 0\.05s.*sendMessage\(chat_id=42"):
        await tg.wait_for(lambda: len(tg.sent_to(alice)) == 2, timeout=0.05)
    assert await tg.wait_for(lambda: tg.sent_to(alice)[0].text) == "only message"


# ---------------------------------------------------------------------- HTTP transport
async def test_http_server_with_ptb_bot(tg: FakeTelegram, alice: FakeUser) -> None:
    async with serve_botapi(tg) as server:
        assert server.base_url.startswith("http://127.0.0.1:") and server.base_url.endswith("/bot")
        async with Bot(TOKEN, base_url=server.base_url, base_file_url=server.file_url) as bot:
            await bot.send_message(alice.id, "<i>hi</i>", parse_mode="HTML", reply_markup=KEYBOARD)
            content = bytes(range(256)) * 4
            photo = await bot.send_photo(alice.id, photo=content, caption="scan")
            group = await bot.send_media_group(alice.id, [InputMediaPhoto(b"a"), InputMediaPhoto(b"b")])
            file = await bot.get_file(photo.photo[-1].file_id)
            assert file.file_path is not None and file.file_path.startswith(server.file_url)
            assert bytes(await file.download_as_bytearray()) == content
            copied = await bot.copy_message(alice.id, alice.id, photo.message_id, caption="again")
            edited = await bot.edit_message_caption(alice.id, photo.message_id, caption="scan v2")
            tg.fail_next("sendMessage", status=429, retry_after=2)
            with pytest.raises(RetryAfter):
                await bot.send_message(alice.id, "x")
            with pytest.raises(BadRequest, match="Chat not found"):
                await bot.send_message(123, "x")
            tg.customer_sends_text(alice, "via http")
            [update] = await bot.get_updates(timeout=1)
    assert tg.sent_to(alice)[0].text == "hi" and tg.sent_to(alice)[0].callback_data == ["close:1"]
    assert tg.calls_to("sendPhoto")[0].files["photo"].content == content
    assert len({m.media_group_id for m in group}) == 1
    assert tg.message(alice, copied.message_id).caption == "again"  # type: ignore[union-attr]
    assert edited.caption == "scan v2" and update.message.text == "via http"


async def test_http_server_stop_ends_long_polls(tg: FakeTelegram) -> None:
    server = BotApiServer(tg)
    await server.start()
    async with Bot(TOKEN, base_url=server.base_url) as bot:
        poll = asyncio.create_task(bot.get_updates(timeout=30))
        await tg.wait_for(lambda: tg.polls_waiting == 1)
        started = time.monotonic()
        await server.stop()
        assert await poll == () and time.monotonic() - started < 1.0


async def test_http_server_raw_bodies(tg: FakeTelegram, alice: FakeUser) -> None:
    async with serve_botapi(tg) as server, httpx.AsyncClient() as client:
        url = f"{server.base_url}{TOKEN}"
        json_answer = await client.post(f"{url}/sendMessage", json={"chat_id": alice.id, "text": "json"})
        form_answer = await client.post(f"{url}/sendMessage", data={"chat_id": str(alice.id), "text": "form"})
        query_answer = await client.get(f"{url}/getChat", params={"chat_id": alice.id})
        missing = await client.post(f"{url}/noSuchMethod")
        no_file = await client.get(f"{server.file_url}{TOKEN}/photos/nothing.jpg")
    assert json_answer.json()["result"]["text"] == "json" and form_answer.json()["result"]["text"] == "form"
    assert query_answer.json()["result"]["accent_color_id"] == 0
    assert missing.status_code == 404
    assert missing.json() == {"ok": False, "error_code": 404, "description": "Not Found: method not found"}
    assert no_file.status_code == 404


# ---------------------------------------------------------------------- markup parsers
def test_markup_parsers_offsets_and_errors() -> None:
    text, entities = parse_html('😀 <a href="https://x.io">link</a> <pre><code class="language-py">x</code></pre>')
    assert text == "😀 link x"
    assert entities == [
        {"type": "text_link", "offset": 3, "length": 4, "url": "https://x.io"},
        {"type": "pre", "offset": 8, "length": 1, "language": "py"},
    ]
    assert parse_markdown_v2(r"*bold* _it_ \. [a](https://x.io)")[0] == "bold it . a"
    for bad in ("<b><i>x</b></i>", "</b>", "a < b", "<span>x</span>"):
        with pytest.raises(MarkupError):
            parse_html(bad)
    with pytest.raises(MarkupError, match="Can't find end of Bold entity"):
        parse_markdown_v2("*open")
