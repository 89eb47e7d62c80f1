"""Bot API methods of the fake server, answering with Telegram-shaped JSON and Telegram's errors."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from tests.botapi import markup
from tests.botapi.core import TelegramCore, api
from tests.botapi.models import (
    BOT_FIRST_NAME,
    BOT_ID,
    BOT_USERNAME,
    JSON,
    MEDIA_KINDS,
    ApiError,
    FakeChat,
    FakeMessage,
    FakeUpdate,
    StoredFile,
    Topic,
    UploadedFile,
    bad_request,
    bot_user_json,
)

Files = dict[str, UploadedFile]

MAX_TEXT = 4096
MAX_CAPTION = 1024
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same "
    "as a current content and reply markup of the message"
)
CHAT_ACTIONS = frozenset(
    [
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    ]
)
DEFAULT_ALLOWED_UPDATES = frozenset(
    [
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    ]
)
_BUTTON_ACTIONS = frozenset(
    [
        "url",
        "callback_data",
        "web_app",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "copy_text",
        "callback_game",
        "pay",
    ]
)
_UPLOAD_DEFAULTS: dict[str, tuple[str, str]] = {
    "document": ("application/octet-stream", "document"),
    "video": ("video/mp4", "video.mp4"),
    "animation": ("video/mp4", "animation.mp4"),
    "audio": ("audio/mpeg", "audio.mp3"),
    "voice": ("audio/ogg", "voice.ogg"),
    "sticker": ("image/webp", "sticker.webp"),
    "video_note": ("video/mp4", "video_note.mp4"),
    "photo": ("image/jpeg", "photo.jpg"),
}
_COMPATIBLE = {("animation", "document"), ("document", "animation")}
_CONTENT_KEYS = frozenset((*MEDIA_KINDS, "text", "entities", "caption", "caption_entities", "location", "contact"))
_TOPIC_COLORS = (7322096, 16766590, 13338331, 9367192, 16749490, 16478047)


class MethodsMixin(TelegramCore):
    """Implementations of the Bot API methods a bot calls."""

    # ------------------------------------------------------------------ bot & session
    @api("getMe")
    def get_me(self, p: JSON, f: Files) -> JSON:
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": BOT_FIRST_NAME,
            "username": BOT_USERNAME,
            "can_join_groups": True,
            "can_read_all_group_messages": not self.privacy_mode,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    @api("logOut")
    def log_out(self, p: JSON, f: Files) -> bool:
        return True

    @api("close")
    def close(self, p: JSON, f: Files) -> bool:
        return True

    # ------------------------------------------------------------------ updates & webhooks
    @api("getUpdates")
    async def get_updates(self, p: JSON, f: Files) -> list[JSON]:
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete "
                "the webhook first",
            )
        if "allowed_updates" in p:
            self.allowed_updates = list(p["allowed_updates"]) or None
        self._confirm(p.get("offset"))
        limit = min(max(int(p.get("limit", 100)), 1), 100)
        timeout = max(float(p.get("timeout", 0)), 0.0)
        self._poll_generation += 1
        generation, interrupts = self._poll_generation, self._poll_interrupts
        if timeout > 0 and not self._deliverable():
            self.polls_waiting += 1
            self.notify()
            try:
                await self._wait_until(
                    lambda: (
                        bool(self._deliverable())
                        or self._poll_generation != generation
                        or self._poll_interrupts != interrupts
                    ),
                    timeout,
                )
            finally:
                self.polls_waiting -= 1
        if self._poll_generation != generation:
            raise ApiError(
                409, "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
            )
        return [copy.deepcopy(u.data) for u in self._deliverable()[:limit]]

    def _confirm(self, offset: int | None) -> None:
        if offset is None:
            return
        if offset < 0:
            self._pending = self._pending[offset:]
        else:
            self._pending = [u for u in self._pending if u.update_id >= offset]

    def _deliverable(self) -> list[FakeUpdate]:
        allowed = set(self.allowed_updates or DEFAULT_ALLOWED_UPDATES)
        self._pending = [u for u in self._pending if u.kind in allowed]
        return self._pending

    @api("setWebhook")
    def set_webhook(self, p: JSON, f: Files) -> bool:
        url = p.get("url", "")
        if not url:
            self.webhook = None
            return True
        if not str(url).startswith("https://") and not str(url).startswith("http://"):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        if p.get("drop_pending_updates"):
            self._pending.clear()
        if "allowed_updates" in p:
            self.allowed_updates = list(p["allowed_updates"]) or None
        self.webhook = {k: v for k, v in p.items() if k != "certificate"}
        return True

    @api("deleteWebhook")
    def delete_webhook(self, p: JSON, f: Files) -> bool:
        self.webhook = None
        if p.get("drop_pending_updates"):
            self._pending.clear()
        return True

    @api("getWebhookInfo")
    def get_webhook_info(self, p: JSON, f: Files) -> JSON:
        info: JSON = {
            "url": (self.webhook or {}).get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if self.webhook and self.webhook.get("max_connections"):
            info["max_connections"] = self.webhook["max_connections"]
        if self.webhook and self.allowed_updates:
            info["allowed_updates"] = self.allowed_updates
        return info

    # ------------------------------------------------------------------ commands, menu, profile
    @api("setMyCommands")
    def set_my_commands(self, p: JSON, f: Files) -> bool:
        commands = p.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("can't parse commands JSON object")
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise bad_request("command description must be non-empty")
        self.commands[self._commands_key(p)] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    @api("getMyCommands")
    def get_my_commands(self, p: JSON, f: Files) -> list[JSON]:
        return copy.deepcopy(self.commands.get(self._commands_key(p), []))

    @api("deleteMyCommands")
    def delete_my_commands(self, p: JSON, f: Files) -> bool:
        self.commands.pop(self._commands_key(p), None)
        return True

    @staticmethod
    def _commands_key(p: JSON) -> tuple[str, str]:
        scope = p.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(p.get("language_code") or "")

    @api("setChatMenuButton")
    def set_chat_menu_button(self, p: JSON, f: Files) -> bool:
        self.menu_buttons[str(p.get("chat_id", ""))] = p.get("menu_button") or {"type": "default"}
        return True

    @api("getChatMenuButton")
    def get_chat_menu_button(self, p: JSON, f: Files) -> JSON:
        found = self.menu_buttons.get(str(p.get("chat_id", ""))) or self.menu_buttons.get("")
        return copy.deepcopy(found or {"type": "commands"})

    def _profile_setter(self, key: str, p: JSON) -> bool:
        self.profile[(key, str(p.get("language_code") or ""))] = str(p.get(key, ""))
        return True

    def _profile_getter(self, key: str, p: JSON) -> JSON:
        value = self.profile.get((key, str(p.get("language_code") or "")))
        return {key: value if value is not None else (BOT_FIRST_NAME if key == "name" else "")}

    @api("setMyName")
    def set_my_name(self, p: JSON, f: Files) -> bool:
        return self._profile_setter("name", p)

    @api("getMyName")
    def get_my_name(self, p: JSON, f: Files) -> JSON:
        return self._profile_getter("name", p)

    @api("setMyDescription")
    def set_my_description(self, p: JSON, f: Files) -> bool:
        return self._profile_setter("description", p)

    @api("getMyDescription")
    def get_my_description(self, p: JSON, f: Files) -> JSON:
        return self._profile_getter("description", p)

    @api("setMyShortDescription")
    def set_my_short_description(self, p: JSON, f: Files) -> bool:
        return self._profile_setter("short_description", p)

    @api("getMyShortDescription")
    def get_my_short_description(self, p: JSON, f: Files) -> JSON:
        return self._profile_getter("short_description", p)

    # ------------------------------------------------------------------ chats & members
    @api("getChat")
    def get_chat(self, p: JSON, f: Files) -> JSON:
        chat = self.resolve_chat(p.get("chat_id"))
        info = chat.to_json()
        info.update(
            accent_color_id=0,
            max_reaction_count=11,
            accepted_gift_types={
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        )
        if chat.user is not None and chat.user.has_private_forwards:
            info["has_private_forwards"] = True
        if chat.pinned:
            pinned = self.find_message(chat.id, chat.pinned[-1])
            if pinned is not None:
                info["pinned_message"] = pinned.snapshot()
        return info

    @api("getChatMember")
    def get_chat_member(self, p: JSON, f: Files) -> JSON:
        chat = self.resolve_chat(p.get("chat_id"))
        user_id = int(p.get("user_id", 0))
        if user_id == BOT_ID:
            return self._member_json(chat, BOT_ID, chat.bot_status if chat.is_group else "member")
        if user_id not in self.users:
            raise bad_request("user not found")
        if chat.is_private:
            return self._member_json(chat, user_id, "member")
        return self._member_json(chat, user_id, chat.members.get(user_id, "left"))

    @api("getChatAdministrators")
    def get_chat_administrators(self, p: JSON, f: Files) -> list[JSON]:
        chat = self.resolve_chat(p.get("chat_id"))
        if chat.is_private:
            raise bad_request("there are no administrators in the private chat")
        admins = [
            self._member_json(chat, uid, s) for uid, s in chat.members.items() if s in ("creator", "administrator")
        ]
        if chat.bot_status == "administrator":
            admins.append(self._member_json(chat, BOT_ID, "administrator"))
        return admins

    @api("getChatMemberCount")
    def get_chat_member_count(self, p: JSON, f: Files) -> int:
        chat = self.resolve_chat(p.get("chat_id"))
        if chat.is_private:
            return 2
        present = sum(1 for s in chat.members.values() if s not in ("left", "kicked"))
        return present + (chat.bot_status not in ("left", "kicked"))

    def _member_json(self, chat: FakeChat, user_id: int, status: str) -> JSON:
        user = bot_user_json() if user_id == BOT_ID else self.users[user_id].to_json()
        data: JSON = {"status": status, "user": user}
        if status == "creator":
            data["is_anonymous"] = False
        elif status == "administrator":
            rights = dict.fromkeys(
                [
                    "can_manage_chat",
                    "can_delete_messages",
                    "can_manage_video_chats",
                    "can_restrict_members",
                    "can_change_info",
                    "can_invite_users",
                    "can_post_stories",
                    "can_edit_stories",
                    "can_delete_stories",
                    "can_pin_messages",
                ],
                True,
            )
            manage_topics = chat.can_manage_topics if user_id == BOT_ID else True
            data.update(rights, can_be_edited=False, is_anonymous=False, can_promote_members=False)
            if chat.is_forum:
                data["can_manage_topics"] = manage_topics
        elif status == "kicked":
            data["until_date"] = 0
        return data

    @api("leaveChat")
    def leave_chat(self, p: JSON, f: Files) -> bool:
        chat = self.resolve_chat(p.get("chat_id"))
        if chat.is_private:
            raise bad_request("chat member status can't be changed in private chats")
        self.check_can_write(chat)
        old = self._member_json(chat, BOT_ID, chat.bot_status)
        chat.bot_status = "left"
        self.queue_update(
            "my_chat_member",
            {
                "chat": chat.to_json(),
                "from": bot_user_json(),
                "date": self.now(),
                "old_chat_member": old,
                "new_chat_member": self._member_json(chat, BOT_ID, "left"),
            },
        )
        return True

    @api("sendChatAction")
    def send_chat_action(self, p: JSON, f: Files) -> bool:
        chat = self._writable_chat(p)
        if p.get("action") not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        self._thread_of(chat, p)
        self.chat_actions.append((chat.id, str(p["action"])))
        return True

    @api("pinChatMessage")
    def pin_chat_message(self, p: JSON, f: Files) -> bool:
        chat = self._writable_chat(p)
        if self.find_message(chat.id, p.get("message_id")) is None:
            raise bad_request("message to pin not found")
        chat.pinned.append(int(p["message_id"]))
        return True

    @api("unpinChatMessage")
    def unpin_chat_message(self, p: JSON, f: Files) -> bool:
        chat = self._writable_chat(p)
        if "message_id" in p:
            if int(p["message_id"]) not in chat.pinned:
                raise bad_request("message to unpin not found")
            chat.pinned.remove(int(p["message_id"]))
        elif chat.pinned:
            chat.pinned.pop()
        return True

    @api("unpinAllChatMessages")
    def unpin_all_chat_messages(self, p: JSON, f: Files) -> bool:
        self._writable_chat(p).pinned.clear()
        return True

    # ------------------------------------------------------------------ sending
    @api("sendMessage")
    def send_message(self, p: JSON, f: Files) -> JSON:
        chat = self._writable_chat(p)
        content = self._text(p, "text", "entities", MAX_TEXT)
        return self._deliver(chat, p, content).snapshot()

    @api("sendPhoto")
    def send_photo(self, p: JSON, f: Files) -> JSON:
        return self._send_media("photo", p, f)

    @api("sendDocument")
    def send_document(self, p: JSON, f: Files) -> JSON:
        return self._send_media("document", p, f)

    @api("sendVideo")
    def send_video(self, p: JSON, f: Files) -> JSON:
        return self._send_media("video", p, f)

    @api("sendVoice")
    def send_voice(self, p: JSON, f: Files) -> JSON:
        return self._send_media("voice", p, f)

    @api("sendAudio")
    def send_audio(self, p: JSON, f: Files) -> JSON:
        return self._send_media("audio", p, f)

    @api("sendSticker")
    def send_sticker(self, p: JSON, f: Files) -> JSON:
        return self._send_media("sticker", p, f)

    @api("sendAnimation")
    def send_animation(self, p: JSON, f: Files) -> JSON:
        return self._send_media("animation", p, f)

    @api("sendVideoNote")
    def send_video_note(self, p: JSON, f: Files) -> JSON:
        return self._send_media("video_note", p, f)

    @api("sendLocation")
    def send_location(self, p: JSON, f: Files) -> JSON:
        chat = self._writable_chat(p)
        try:
            latitude, longitude = float(p["latitude"]), float(p["longitude"])
        except (KeyError, TypeError, ValueError):
            raise bad_request("wrong latitude or longitude specified") from None
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise bad_request("wrong latitude or longitude specified")
        return self._deliver(chat, p, {"location": {"latitude": latitude, "longitude": longitude}}).snapshot()

    @api("sendContact")
    def send_contact(self, p: JSON, f: Files) -> JSON:
        chat = self._writable_chat(p)
        if not p.get("phone_number"):
            raise bad_request("phone_number is empty")
        if not p.get("first_name"):
            raise bad_request("first_name is empty")
        contact = {k: p[k] for k in ("phone_number", "first_name", "last_name", "vcard") if p.get(k)}
        return self._deliver(chat, p, {"contact": contact}).snapshot()

    @api("sendMediaGroup")
    def send_media_group(self, p: JSON, f: Files) -> list[JSON]:
        chat = self._writable_chat(p)
        media = p.get("media")
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise bad_request("wrong number of media specified: must be 2-10")
        kinds = {item.get("type") for item in media}
        if len(kinds) > 1 and not kinds <= {"photo", "video"}:
            raise bad_request("documents and audio files can't be mixed with other media types in an album")
        contents = [self._input_media(item, f) for item in media]
        group_id = str(10**17 + self.next_id())
        sent = [
            self._deliver(chat, p, content, extra={"media_group_id": group_id}, upload=upload)
            for content, upload in contents
        ]
        return [m.snapshot() for m in sent]

    @api("copyMessage")
    def copy_message(self, p: JSON, f: Files) -> JSON:
        source_chat = self.resolve_chat(p.get("from_chat_id"))
        chat = self._writable_chat(p)
        copied = self._copy_one(source_chat, p.get("message_id"), chat, p)
        return {"message_id": copied.message_id}

    @api("copyMessages")
    def copy_messages(self, p: JSON, f: Files) -> list[JSON]:
        source_chat = self.resolve_chat(p.get("from_chat_id"))
        chat = self._writable_chat(p)
        ids = [int(i) for i in p.get("message_ids") or []]
        if not ids or ids != sorted(ids):
            raise bad_request("message identifiers must be specified in strictly increasing order")
        found = [i for i in ids if self.find_message(source_chat.id, i) is not None]
        if not found:
            raise bad_request("message to copy not found")
        plain = {k: v for k, v in p.items() if k not in ("caption", "parse_mode", "caption_entities", "reply_markup")}
        return [{"message_id": self._copy_one(source_chat, i, chat, plain).message_id} for i in found]

    def _copy_one(self, source_chat: FakeChat, message_id: Any, chat: FakeChat, p: JSON) -> FakeMessage:
        source = self.find_message(source_chat.id, message_id)
        if source is None:
            raise bad_request("message to copy not found")
        content = {k: copy.deepcopy(v) for k, v in source.data.items() if k in _CONTENT_KEYS}
        if not content:
            raise bad_request("message can't be copied")
        if "caption" in p and "text" not in content:
            content.pop("caption", None)
            content.pop("caption_entities", None)
            content.update(self._caption(p))
        message = self._deliver(chat, p, content)
        message.copied_from = source.key
        return message

    @api("forwardMessage")
    def forward_message(self, p: JSON, f: Files) -> JSON:
        source_chat = self.resolve_chat(p.get("from_chat_id"))
        chat = self._writable_chat(p)
        source = self.find_message(source_chat.id, p.get("message_id"))
        if source is None:
            raise bad_request("message to forward not found")
        content = {k: copy.deepcopy(v) for k, v in source.data.items() if k in _CONTENT_KEYS}
        if not content:
            raise bad_request("message can't be forwarded")
        plain = {k: v for k, v in p.items() if k not in ("reply_markup", "reply_parameters", "reply_to_message_id")}
        extra = {"forward_origin": source.data.get("forward_origin") or self.origin_of(source)}
        message = self._deliver(chat, plain, content, extra=extra)
        message.copied_from = source.key
        return message.snapshot()

    # ------------------------------------------------------------------ editing & deleting
    @api("editMessageText")
    def edit_message_text(self, p: JSON, f: Files) -> JSON | bool:
        if p.get("inline_message_id"):
            return True
        message = self._editable(p)
        if "text" not in message.data:
            raise bad_request("there is no text in the message to edit")
        content = self._text(p, "text", "entities", MAX_TEXT)
        return self._apply_edit(message, content, ("text", "entities"), p)

    @api("editMessageCaption")
    def edit_message_caption(self, p: JSON, f: Files) -> JSON | bool:
        if p.get("inline_message_id"):
            return True
        message = self._editable(p)
        if "text" in message.data:
            raise bad_request("there is no caption in the message to edit")
        return self._apply_edit(message, self._caption(p), ("caption", "caption_entities"), p)

    @api("editMessageReplyMarkup")
    def edit_message_reply_markup(self, p: JSON, f: Files) -> JSON | bool:
        if p.get("inline_message_id"):
            return True
        return self._apply_edit(self._editable(p), {}, (), p)

    @api("editMessageMedia")
    def edit_message_media(self, p: JSON, f: Files) -> JSON | bool:
        if p.get("inline_message_id"):
            return True
        message = self._editable(p)
        if message.media_type not in MEDIA_KINDS:
            raise bad_request("there is no media in the message to edit")
        if not isinstance(p.get("media"), dict):
            raise bad_request("can't parse InputMedia: media is not specified")
        content, upload = self._input_media(p["media"], f)
        message.upload = upload or message.upload
        keys = (*MEDIA_KINDS, "caption", "caption_entities")
        return self._apply_edit(message, content, keys, p)

    def _editable(self, p: JSON) -> FakeMessage:
        chat = self._writable_chat(p)
        message = self.find_message(chat.id, p.get("message_id"))
        if message is None:
            raise bad_request("message to edit not found")
        if not message.from_bot:
            raise bad_request("message can't be edited")
        return message

    def _apply_edit(self, message: FakeMessage, content: JSON, replaced: tuple[str, ...], p: JSON) -> JSON:
        new = {k: v for k, v in message.data.items() if k not in replaced and k not in ("reply_markup", "edit_date")}
        new.update(copy.deepcopy(content))
        markup_json = self._markup(p.get("reply_markup"))
        if markup_json and markup_json.get("inline_keyboard"):
            new["reply_markup"] = markup_json
        old = {k: v for k, v in message.data.items() if k != "edit_date"}
        if new == old:
            raise bad_request(NOT_MODIFIED)
        message.history.append(copy.deepcopy(message.data))
        new["edit_date"] = self.now()
        message.data = new
        if "text" in replaced or "caption" in replaced:
            message.params = {k: v for k, v in message.params.items() if k not in ("text", "caption", "parse_mode")}
            message.params.update({k: v for k, v in p.items() if k in ("text", "caption", "parse_mode")})
        self.notify()
        return message.snapshot()

    @api("deleteMessage")
    def delete_message(self, p: JSON, f: Files) -> bool:
        chat = self.resolve_chat(p.get("chat_id"))
        self._delete(chat, p.get("message_id"))
        return True

    @api("deleteMessages")
    def delete_messages(self, p: JSON, f: Files) -> bool:
        chat = self.resolve_chat(p.get("chat_id"))
        for message_id in p.get("message_ids") or []:
            if self.find_message(chat.id, message_id) is not None:
                self._delete(chat, message_id)
        return True

    def _delete(self, chat: FakeChat, message_id: Any) -> None:
        message = self.find_message(chat.id, message_id)
        if message is None:
            raise bad_request("message to delete not found")
        if not message.from_bot and chat.is_group and chat.bot_status not in ("administrator", "creator"):
            raise bad_request("message can't be deleted")
        message.deleted = True
        self.notify()

    @api("setMessageReaction")
    def set_message_reaction(self, p: JSON, f: Files) -> bool:
        chat = self._writable_chat(p)
        message = self.find_message(chat.id, p.get("message_id"))
        if message is None:
            raise bad_request("message to react not found")
        message.params = {**message.params, "bot_reaction": p.get("reaction") or []}
        return True

    # ------------------------------------------------------------------ callback queries
    @api("answerCallbackQuery")
    def answer_callback_query(self, p: JSON, f: Files) -> bool:
        record = self.callback_queries.get(str(p.get("callback_query_id", "")))
        if record is None or record.answered:
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        if len(str(p.get("text", ""))) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        record.answered = True
        record.answer = dict(p)
        return True

    # ------------------------------------------------------------------ payments
    @api("sendInvoice")
    def send_invoice(self, p: JSON, f: Files) -> JSON:
        chat = self._writable_chat(p)
        title, description = str(p.get("title", "")), str(p.get("description", ""))
        payload, currency = str(p.get("payload", "")), str(p.get("currency", ""))
        prices = p.get("prices")
        if not 1 <= len(title) <= 32:
            raise bad_request("INVOICE_TITLE_INVALID" if title else "INVOICE_TITLE_EMPTY")
        if not 1 <= len(description) <= 255:
            raise bad_request("INVOICE_DESCRIPTION_INVALID" if description else "INVOICE_DESCRIPTION_EMPTY")
        if not 1 <= len(payload.encode()) <= 128:
            raise bad_request("INVOICE_PAYLOAD_INVALID")
        if not re.fullmatch(r"[A-Z]{3}", currency):
            raise bad_request("CURRENCY_INVALID")
        if not isinstance(prices, list) or not prices:
            raise bad_request("can't parse prices JSON object")
        amounts = [price.get("amount") if isinstance(price, dict) else None for price in prices]
        if not all(isinstance(amount, int) for amount in amounts) or sum(amounts) <= 0:  # type: ignore[arg-type]
            raise bad_request("CURRENCY_TOTAL_AMOUNT_INVALID")
        if currency == "XTR":
            if p.get("provider_token"):
                raise bad_request("PAYMENT_PROVIDER_INVALID")  # Stars invoices have no provider
            if len(prices) != 1:
                raise bad_request("STARS_INVOICE_INVALID")
        elif not p.get("provider_token"):
            raise bad_request("PAYMENT_PROVIDER_INVALID")
        invoice = {
            "title": title,
            "description": description,
            "start_parameter": str(p.get("start_parameter", "")),
            "currency": currency,
            "total_amount": sum(amounts),  # type: ignore[arg-type]
        }
        return self._deliver(chat, p, {"invoice": invoice}).snapshot()

    @api("answerPreCheckoutQuery")
    def answer_pre_checkout_query(self, p: JSON, f: Files) -> bool:
        record = self.pre_checkout_queries.get(str(p.get("pre_checkout_query_id", "")))
        if record is None or record.answered:
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        if "ok" not in p:
            raise bad_request('parameter "ok" is required')
        if not p["ok"] and not str(p.get("error_message", "")):
            raise bad_request("ERROR_MESSAGE_EMPTY")
        record.answered = True
        record.answer = dict(p)
        return True

    @api("refundStarPayment")
    def refund_star_payment(self, p: JSON, f: Files) -> bool:
        payment = self.star_payments.get(str(p.get("telegram_payment_charge_id", "")))
        if payment is None or payment.user_id != p.get("user_id"):
            raise bad_request("CHARGE_ID_INVALID")
        if payment.refunded:
            raise bad_request("CHARGE_ALREADY_REFUNDED")
        payment.refunded = True
        return True

    # ------------------------------------------------------------------ forum topics
    @api("createForumTopic")
    def create_forum_topic(self, p: JSON, f: Files) -> JSON:
        chat = self._writable_chat(p)
        if not chat.is_forum:
            raise bad_request("the chat is not a forum")
        if chat.bot_status not in ("administrator", "creator") or not chat.can_manage_topics:
            raise bad_request("not enough rights to create a topic")
        name = str(p.get("name", ""))
        if not 1 <= len(name) <= 128:
            raise bad_request("TOPIC_NAME_INVALID")
        color = int(p.get("icon_color", _TOPIC_COLORS[0]))
        if color not in _TOPIC_COLORS:
            raise bad_request("TOPIC_ICON_COLOR_INVALID")
        topic = self.open_topic(chat, name, bot_user_json(), icon_color=color, emoji=p.get("icon_custom_emoji_id"))
        data: JSON = {"message_thread_id": topic.thread_id, "name": topic.name, "icon_color": topic.icon_color}
        if topic.icon_custom_emoji_id:
            data["icon_custom_emoji_id"] = topic.icon_custom_emoji_id
        return data

    def open_topic(
        self, chat: FakeChat, name: str, sender: JSON, *, icon_color: int = _TOPIC_COLORS[0], emoji: str | None = None
    ) -> Topic:
        """Create a topic and its ``forum_topic_created`` service message (thread id = its message id)."""
        created: JSON = {"name": name, "icon_color": icon_color}
        if emoji:
            created["icon_custom_emoji_id"] = emoji
        root = self.new_message(
            chat,
            sender,
            {"forum_topic_created": created},
            from_bot=sender.get("id") == BOT_ID,
            extra={"is_topic_message": True},
        )
        root.data["message_thread_id"] = root.message_id
        topic = Topic(root.message_id, name, icon_color, emoji)
        chat.topics[topic.thread_id] = topic
        return topic

    @api("editForumTopic")
    def edit_forum_topic(self, p: JSON, f: Files) -> bool:
        chat, topic = self._topic(p)
        name = p.get("name", topic.name)
        emoji = p.get("icon_custom_emoji_id", topic.icon_custom_emoji_id)
        if (name, emoji) == (topic.name, topic.icon_custom_emoji_id):
            raise bad_request("TOPIC_NOT_MODIFIED")
        topic.name, topic.icon_custom_emoji_id = name, emoji
        self._topic_event(chat, topic, {"forum_topic_edited": {"name": name}})
        return True

    @api("closeForumTopic")
    def close_forum_topic(self, p: JSON, f: Files) -> bool:
        chat, topic = self._topic(p)
        if topic.closed:
            raise bad_request("TOPIC_NOT_MODIFIED")
        topic.closed = True
        self._topic_event(chat, topic, {"forum_topic_closed": {}})
        return True

    @api("reopenForumTopic")
    def reopen_forum_topic(self, p: JSON, f: Files) -> bool:
        chat, topic = self._topic(p)
        if not topic.closed:
            raise bad_request("TOPIC_NOT_MODIFIED")
        topic.closed = False
        self._topic_event(chat, topic, {"forum_topic_reopened": {}})
        return True

    @api("deleteForumTopic")
    def delete_forum_topic(self, p: JSON, f: Files) -> bool:
        chat, topic = self._topic(p)
        self.remove_topic(chat, topic.thread_id)
        return True

    def remove_topic(self, chat: FakeChat, thread_id: int) -> None:
        """Delete a topic and every message in it."""
        chat.topics[thread_id].deleted = True
        for message in self.messages.values():
            if message.chat_id == chat.id and message.thread_id == thread_id:
                message.deleted = True
        self.notify()

    def _topic(self, p: JSON) -> tuple[FakeChat, Topic]:
        chat = self._writable_chat(p)
        if not chat.is_forum:
            raise bad_request("the chat is not a forum")
        if chat.bot_status not in ("administrator", "creator") or not chat.can_manage_topics:
            raise bad_request("not enough rights to manage topics")
        topic = chat.topics.get(int(p.get("message_thread_id", 0)))
        if topic is None or topic.deleted:
            raise bad_request("message thread not found")
        return chat, topic

    def _topic_event(self, chat: FakeChat, topic: Topic, content: JSON) -> None:
        self.new_message(chat, bot_user_json(), content, from_bot=True, thread_id=topic.thread_id)

    # ------------------------------------------------------------------ files
    @api("getFile")
    def get_file(self, p: JSON, f: Files) -> JSON:
        stored = self.files.get(str(p.get("file_id", "")))
        if stored is None:
            raise bad_request("invalid file_id")
        if stored.size > 20 * 1024 * 1024:
            raise bad_request("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "file_path": self.file_path_of(stored),
        }

    # ------------------------------------------------------------------ helpers
    def _writable_chat(self, p: JSON) -> FakeChat:
        chat = self.resolve_chat(p.get("chat_id"))
        self.check_can_write(chat)
        return chat

    def _thread_of(self, chat: FakeChat, p: JSON) -> int | None:
        thread_id = p.get("message_thread_id")
        if thread_id is None or not chat.is_forum or int(thread_id) == 1:
            return None
        topic = chat.topics.get(int(thread_id))
        if topic is None or topic.deleted:
            raise bad_request("message thread not found")
        if topic.closed and not chat.can_manage_topics:
            raise bad_request("TOPIC_CLOSED")
        return int(thread_id)

    def _reply_target(self, chat: FakeChat, p: JSON) -> FakeMessage | None:
        reply = p.get("reply_parameters")
        if reply is None and p.get("reply_to_message_id") is not None:
            reply = {"message_id": p["reply_to_message_id"]}
            reply["allow_sending_without_reply"] = p.get("allow_sending_without_reply", False)
        if not reply:
            return None
        target_chat = self.resolve_chat(reply["chat_id"]) if reply.get("chat_id") is not None else chat
        target = self.find_message(target_chat.id, reply.get("message_id"))
        if target is None and not reply.get("allow_sending_without_reply"):
            raise bad_request("message to be replied not found")
        return target

    def _markup(self, reply_markup: Any) -> JSON | None:
        if reply_markup is None:
            return None
        if not isinstance(reply_markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        rows = reply_markup.get("inline_keyboard")
        if rows is None:
            return None
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad_request('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays')
        for button in (b for row in rows for b in row):
            _check_button(button)
        return {"inline_keyboard": copy.deepcopy(rows)}

    def _text(self, p: JSON, key: str, entities_key: str, limit: int) -> JSON:
        raw = p.get(key)
        if raw is None or str(raw) == "":
            raise bad_request("message text is empty")
        text, entities = self._parse(str(raw), p, entities_key)
        if not text:
            raise bad_request("message text is empty")
        if len(text) > limit:
            raise bad_request("message is too long")
        return {key: text, entities_key: entities} if entities else {key: text}

    def _caption(self, p: JSON) -> JSON:
        raw = p.get("caption")
        if not raw:
            return {}
        text, entities = self._parse(str(raw), p, "caption_entities")
        if len(text) > MAX_CAPTION:
            raise bad_request("message caption is too long")
        content: JSON = {"caption": text} if text else {}
        if text and entities:
            content["caption_entities"] = entities
        return content

    def _parse(self, raw: str, p: JSON, entities_key: str) -> tuple[str, list[JSON]]:
        if p.get(entities_key):
            return markup.strip_text(raw, list(p[entities_key]))
        mode = p.get("parse_mode")
        if mode and str(mode).lower() not in ("html", "markdown", "markdownv2"):
            raise bad_request("unsupported parse_mode")
        try:
            text, entities = markup.parse(raw, mode)
        except markup.MarkupError as error:
            raise bad_request(f"can't parse entities: {error}") from None
        return markup.strip_text(text, entities)

    def _input_file(self, kind: str, value: Any, field: str, files: Files) -> tuple[StoredFile, UploadedFile | None]:
        """Resolve an InputFile parameter: an upload, ``attach://name``, a file_id or an HTTP URL."""
        upload: UploadedFile | None = None
        if isinstance(value, str) and value.startswith("attach://"):
            upload = files.get(value.removeprefix("attach://"))
            if upload is None:
                raise bad_request(f"file for {value} not found in the request")
        elif value is None or value == "":
            upload = files.get(field)
            if upload is None:
                raise bad_request(f"there is no {field} in the request")
        if upload is not None:
            return self._store_upload(kind, upload), upload
        value = str(value)
        if value.startswith(("http://", "https://")):
            return self._store_upload(kind, UploadedFile(field, value.rsplit("/", 1)[-1] or field, b"")), None
        stored = self.files.get(value)
        if stored is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        if stored.kind != kind and (stored.kind, kind) not in _COMPATIBLE:
            raise bad_request(f"can't use file of type {stored.kind.title()} as {kind.title()}")
        return stored, None

    def _store_upload(self, kind: str, upload: UploadedFile) -> StoredFile:
        mime, default_name = _UPLOAD_DEFAULTS[kind]
        if kind == "photo":
            sizes = self.new_photo(upload.content)
            return self.files[sizes[-1]["file_id"]]
        mime_type = upload.mime_type if upload.mime_type != "application/octet-stream" else mime
        return self.new_file(kind, upload.content, file_name=upload.filename or default_name, mime_type=mime_type)

    def _send_media(self, kind: str, p: JSON, f: Files) -> JSON:
        chat = self._writable_chat(p)
        stored, upload = self._input_file(kind, p.get(kind), kind, f)
        content = self._media_content(kind, stored, p)
        return self._deliver(chat, p, content, upload=upload).snapshot()

    def _media_content(self, kind: str, stored: StoredFile, p: JSON) -> JSON:
        content: JSON = {kind: self.media_json(stored, kind)}
        if kind == "animation":
            content["document"] = self.media_json(stored, "document")
        if kind == "sticker" and p.get("emoji"):
            content[kind]["emoji"] = p["emoji"]
        if kind == "audio":
            content[kind].update({k: p[k] for k in ("performer", "title") if p.get(k)})
        if kind not in ("sticker", "video_note"):
            content.update(self._caption(p))
        if p.get("has_spoiler") and kind in ("photo", "video", "animation"):
            content["has_media_spoiler"] = True
        return content

    def _input_media(self, item: JSON, f: Files) -> tuple[JSON, UploadedFile | None]:
        kind = str(item.get("type", ""))
        if kind not in ("photo", "video", "animation", "audio", "document"):
            raise bad_request(f"unsupported media type {kind!r}")
        stored, upload = self._input_file(kind, item.get("media"), kind, f)
        return self._media_content(kind, stored, item), upload

    def _deliver(
        self,
        chat: FakeChat,
        p: JSON,
        content: JSON,
        *,
        extra: JSON | None = None,
        upload: UploadedFile | None = None,
    ) -> FakeMessage:
        """Common tail of every sending method: thread, reply, keyboard, then store the message."""
        thread_id = self._thread_of(chat, p)
        reply_to = self._reply_target(chat, p)
        markup_json = self._markup(p.get("reply_markup"))
        extra = dict(extra or {})
        if markup_json and markup_json["inline_keyboard"]:
            extra["reply_markup"] = markup_json
        if p.get("protect_content"):
            extra["has_protected_content"] = True
        message = self.new_message(
            chat, bot_user_json(), content, from_bot=True, thread_id=thread_id, reply_to=reply_to, extra=extra, params=p
        )
        message.upload = upload
        return message


def _check_button(button: Any) -> None:
    if not isinstance(button, dict) or not str(button.get("text", "")):
        raise bad_request("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
    actions = _BUTTON_ACTIONS & set(button)
    if not actions:
        raise bad_request("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
    if "callback_data" in button:
        size = len(str(button["callback_data"]).encode("utf-8"))
        if not 1 <= size <= 64:
            raise bad_request("BUTTON_DATA_INVALID")
    if "url" in button and not re.match(r"(https?|tg)://\S+$", str(button["url"])):
        raise bad_request(f"inline keyboard button URL '{button['url']}' is invalid: Wrong HTTP URL")
