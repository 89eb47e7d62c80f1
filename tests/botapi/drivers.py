"""User-side drivers: create users, chats and the updates real people would cause."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any

from tests.botapi.core import CallbackRecord, StarPayment
from tests.botapi.markup import auto_entities
from tests.botapi.methods import MethodsMixin
from tests.botapi.models import (
    BOT_ID,
    BOT_USERNAME,
    JSON,
    FakeChat,
    FakeMessage,
    FakeUpdate,
    FakeUser,
    Topic,
    bot_user_json,
)

ChatRef = FakeChat | FakeUser | int


class DriversMixin(MethodsMixin):
    """Helpers that act like Telegram users (customers, staff) and queue realistic updates."""

    # ------------------------------------------------------------------ world setup
    def user(
        self,
        id: int,
        first_name: str,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        has_private_forwards: bool = False,
        started: bool = True,
    ) -> FakeUser:
        """Create (or replace) a user and its private chat (chat id == user id).

        ``started=False`` models a user who never opened the bot: messaging them gives 403.
        """
        user = FakeUser(id, first_name, last_name, username, language_code, has_private_forwards, started)
        self.users[id] = user
        old = self.chats.get(id)
        chat = FakeChat(id=id, type="private", user=user)
        if old is not None:
            chat.last_message_id = old.last_message_id
        self.chats[id] = chat
        return user

    def group(
        self,
        id: int,
        title: str,
        *,
        forum: bool = False,
        members: Iterable[FakeUser] = (),
        admins: Iterable[FakeUser] = (),
        owner: FakeUser | None = None,
        username: str | None = None,
        supergroup: bool | None = None,
        bot_status: str = "administrator",
    ) -> FakeChat:
        """Create a group. Ids starting with -100 (or ``forum=True``) make a supergroup.

        By default the bot is an administrator allowed to manage topics; pass
        ``bot_status="left"`` for a group the bot has not joined yet (see :meth:`bot_added_to_group`).
        """
        if supergroup is None:
            supergroup = forum or str(id).startswith("-100")
        chat = FakeChat(
            id=id,
            type="supergroup" if supergroup else "group",
            title=title,
            username=username,
            is_forum=forum,
            bot_status=bot_status,
            last_message_id=1 if forum else 0,  # message/thread 1 is the General topic
        )
        for member in members:
            chat.members[member.id] = "member"
        for admin in admins:
            chat.members[admin.id] = "administrator"
        if owner is not None:
            chat.members[owner.id] = "creator"
        self.chats[id] = chat
        return chat

    def topic(self, group: FakeChat, name: str, *, by: FakeUser | None = None) -> int:
        """Create a forum topic as a staff member (``by``) or the bot would; returns its thread id."""
        sender = by.to_json() if by is not None else bot_user_json()
        topic: Topic = self.open_topic(group, name, sender)
        return topic.thread_id

    def delete_topic(self, group: FakeChat, thread_id: int) -> None:
        """A staff member deletes a forum topic: later sends into it fail with 'message thread not found'."""
        self.remove_topic(group, thread_id)

    def deny_topics(self, group: FakeChat) -> None:
        """Take the bot's right to manage topics (createForumTopic → 'not enough rights')."""
        group.can_manage_topics = False
        self.notify()

    def allow_topics(self, group: FakeChat) -> None:
        group.can_manage_topics = True
        self.notify()

    def block_bot(self, user: FakeUser, *, notify_bot: bool = True) -> None:
        """The user blocks the bot: sends answer 403; Telegram also sends a ``my_chat_member`` update."""
        user.blocked_bot = True
        if notify_bot:
            self._bot_membership(self.chats[user.id], user, "member", "kicked")
        self.notify()

    def unblock_bot(self, user: FakeUser, *, notify_bot: bool = True) -> None:
        user.blocked_bot = False
        if notify_bot:
            self._bot_membership(self.chats[user.id], user, "kicked", "member")
        self.notify()

    def deactivate(self, user: FakeUser) -> None:
        """The user deletes their account: sends answer 403 'user is deactivated'."""
        user.deactivated = True
        self.notify()

    def kick_bot(self, group: FakeChat, *, by: FakeUser | None = None) -> FakeUpdate:
        """An admin removes the bot from ``group``: 403 afterwards and a ``my_chat_member`` update."""
        old = group.bot_status
        group.bot_status = "kicked"
        return self._bot_membership(group, by, old, "kicked")

    def migrate_group(self, group: FakeChat, new_id: int) -> FakeChat:
        """Upgrade a basic group to a supergroup: the old id answers 400 with ``migrate_to_chat_id``."""
        supergroup = FakeChat(
            id=new_id,
            type="supergroup",
            title=group.title,
            members=dict(group.members),
            bot_status=group.bot_status,
        )
        self.chats[new_id] = supergroup
        self._visible_message(self.new_message(group, None, {"migrate_to_chat_id": new_id}))
        group.migrated_to = new_id
        self._visible_message(self.new_message(supergroup, None, {"migrate_from_chat_id": group.id}))
        return supergroup

    # ------------------------------------------------------------------ customers (private chat)
    def customer_sends_text(self, user: FakeUser, text: str, *, reply_to: FakeMessage | None = None) -> FakeMessage:
        """The user writes ``text`` to the bot in private."""
        return self._user_message(user, None, _text_content(text), reply_to=reply_to)

    def sends_command(
        self, user: FakeUser, command: str, chat: ChatRef | None = None, *, mention: bool = False
    ) -> FakeMessage:
        """The user sends ``/command [args]``; ``mention=True`` writes ``/command@carebot_test_bot``."""
        if not command.startswith("/"):
            command = "/" + command
        if mention:
            head, _, rest = command.partition(" ")
            command = f"{head}@{BOT_USERNAME}" + (f" {rest}" if rest else "")
        return self._user_message(user, chat, _text_content(command))

    def sends_photo(
        self,
        user: FakeUser,
        *,
        caption: str | None = None,
        content: bytes | None = None,
        chat: ChatRef | None = None,
        reply_to: FakeMessage | None = None,
        thread_id: int | None = None,
    ) -> FakeMessage:
        sizes = self.new_photo(content if content is not None else self._fake_bytes("photo"))
        return self._user_message(
            user, chat, {"photo": sizes, **_caption(caption)}, reply_to=reply_to, thread_id=thread_id
        )

    def sends_document(
        self,
        user: FakeUser,
        *,
        file_name: str = "document.pdf",
        mime_type: str = "application/pdf",
        content: bytes | None = None,
        caption: str | None = None,
        chat: ChatRef | None = None,
        reply_to: FakeMessage | None = None,
        thread_id: int | None = None,
    ) -> FakeMessage:
        return self._user_media(
            user, "document", chat, caption, content, reply_to, thread_id, file_name=file_name, mime_type=mime_type
        )

    def sends_video(
        self,
        user: FakeUser,
        *,
        duration: int = 5,
        caption: str | None = None,
        content: bytes | None = None,
        chat: ChatRef | None = None,
        reply_to: FakeMessage | None = None,
        thread_id: int | None = None,
    ) -> FakeMessage:
        return self._user_media(
            user,
            "video",
            chat,
            caption,
            content,
            reply_to,
            thread_id,
            duration=duration,
            width=1280,
            height=720,
            mime_type="video/mp4",
        )

    def sends_voice(
        self,
        user: FakeUser,
        *,
        duration: int = 3,
        content: bytes | None = None,
        chat: ChatRef | None = None,
        reply_to: FakeMessage | None = None,
        thread_id: int | None = None,
    ) -> FakeMessage:
        return self._user_media(
            user, "voice", chat, None, content, reply_to, thread_id, duration=duration, mime_type="audio/ogg"
        )

    def sends_audio(
        self,
        user: FakeUser,
        *,
        duration: int = 180,
        title: str | None = None,
        performer: str | None = None,
        file_name: str = "track.mp3",
        caption: str | None = None,
        content: bytes | None = None,
        chat: ChatRef | None = None,
        reply_to: FakeMessage | None = None,
        thread_id: int | None = None,
    ) -> FakeMessage:
        message = self._user_media(
            user,
            "audio",
            chat,
            caption,
            content,
            reply_to,
            thread_id,
            duration=duration,
            file_name=file_name,
            mime_type="audio/mpeg",
            queue=False,
        )
        message.data["audio"].update({k: v for k, v in (("title", title), ("performer", performer)) if v})
        return self._visible_message(message)

    def sends_sticker(
        self,
        user: FakeUser,
        *,
        emoji: str = "👍",
        chat: ChatRef | None = None,
        reply_to: FakeMessage | None = None,
        thread_id: int | None = None,
    ) -> FakeMessage:
        message = self._user_media(
            user, "sticker", chat, None, None, reply_to, thread_id, width=512, height=512, queue=False
        )
        message.data["sticker"]["emoji"] = emoji
        return self._visible_message(message)

    def sends_location(
        self, user: FakeUser, latitude: float = 52.52, longitude: float = 13.405, *, chat: ChatRef | None = None
    ) -> FakeMessage:
        return self._user_message(user, chat, {"location": {"latitude": latitude, "longitude": longitude}})

    def sends_contact(
        self,
        user: FakeUser,
        phone_number: str = "+15550100",
        *,
        first_name: str | None = None,
        own: bool = True,
        chat: ChatRef | None = None,
    ) -> FakeMessage:
        """Share a contact; ``own=True`` shares the user's own card (with ``user_id``) like the phone button."""
        contact: JSON = {"phone_number": phone_number, "first_name": first_name or user.first_name}
        if own:
            contact["user_id"] = user.id
            if user.last_name:
                contact["last_name"] = user.last_name
        return self._user_message(user, chat, {"contact": contact})

    def sends_album(
        self,
        user: FakeUser,
        n_photos: int,
        caption: str | None = None,
        *,
        chat: ChatRef | None = None,
        captions: Sequence[str | None] | None = None,
        reply_to: FakeMessage | None = None,
        thread_id: int | None = None,
    ) -> list[FakeMessage]:
        """A media group: ``n_photos`` photo messages sharing one ``media_group_id`` (``caption`` on the first, or
        one of ``captions`` each), every part replying to ``reply_to`` or written in topic ``thread_id``."""
        group_id = str(10**17 + self.next_id())
        album = []
        for index in range(n_photos):
            sizes = self.new_photo(self._fake_bytes("photo"))
            text = captions[index] if captions is not None else caption if index == 0 else None
            content = {"photo": sizes, "media_group_id": group_id, **_caption(text)}
            album.append(self._user_message(user, chat, content, reply_to=reply_to, thread_id=thread_id))
        return album

    def edits_message(self, user: FakeUser, message: FakeMessage, new_text: str) -> FakeUpdate:
        """The user edits one of their messages; queues an ``edited_message`` update."""
        if message.from_id != user.id:
            raise ValueError(f"{message!r} was not sent by user {user.id}")
        key = "text" if "text" in message.data else "caption"
        message.history.append(message.snapshot())
        message.data[key] = new_text
        entities = auto_entities(new_text)
        entities_key = "entities" if key == "text" else "caption_entities"
        message.data.pop(entities_key, None)
        if entities and key == "text":
            message.data[entities_key] = entities
        message.data["edit_date"] = self.now()
        chat = self.chats[message.chat_id]
        if not self._bot_sees(chat, message.data):
            self.notify()
            return FakeUpdate(0, {"update_id": 0, "edited_message": message.snapshot()}, message)
        return self.queue_update("edited_message", message.data, message)

    def presses_button(
        self, user: FakeUser, message: FakeMessage, callback_data: str, *, strict: bool = True
    ) -> FakeUpdate:
        """The user taps an inline button; queues a ``callback_query`` update.

        ``strict`` (default) checks the message still exists and shows a button with that data.
        """
        if strict and (message.deleted or callback_data not in message.callback_data):
            raise ValueError(f"{message!r} shows no button with callback_data {callback_data!r}: {message.buttons}")
        if message.deleted:
            shown: JSON = {"chat": message.data["chat"], "message_id": message.message_id, "date": 0}
        else:
            shown = message.snapshot()
        query: JSON = {
            "id": str(4_000_000_000_000_000_000 + self.next_id()),
            "from": user.to_json(),
            "message": shown,
            "chat_instance": str(-(abs(message.chat_id) * 31 + 7)),
            "data": callback_data,
        }
        self.callback_queries[query["id"]] = CallbackRecord(query)
        return self.queue_update("callback_query", query, message)

    # ------------------------------------------------------------------ payments
    def pays_invoice(self, user: FakeUser, invoice: FakeMessage) -> FakeUpdate:
        """The user presses Pay under an invoice the bot sent: queues the ``pre_checkout_query`` update."""
        shown = invoice.data.get("invoice")
        if shown is None or invoice.chat_id != user.id:
            raise ValueError(f"{invoice!r} is not an invoice in {user.id}'s chat")
        query: JSON = {
            "id": str(5_000_000_000_000_000_000 + self.next_id()),
            "from": user.to_json(),
            "currency": shown["currency"],
            "total_amount": shown["total_amount"],
            "invoice_payload": invoice.params["payload"],
        }
        self.pre_checkout_queries[query["id"]] = CallbackRecord(query)
        return self.queue_update("pre_checkout_query", query)

    def payment_succeeds(self, user: FakeUser, checkout: FakeUpdate) -> FakeMessage:
        """Telegram charged the user after the bot approved ``checkout``: queues the ``successful_payment`` message.

        Raises when the bot did not answer the pre-checkout query with ``ok`` (Telegram would not charge).
        """
        query = checkout.data["pre_checkout_query"]
        record = self.pre_checkout_queries[query["id"]]
        if not (record.answered and record.answer.get("ok")):
            raise ValueError(f"pre-checkout query {query['id']} was not approved: {record.answer}")
        charge_id = f"stxCHARGE{self.next_id():08d}" if query["currency"] == "XTR" else f"tg-charge-{self.next_id()}"
        if query["currency"] == "XTR":
            self.star_payments[charge_id] = StarPayment(user.id, query["total_amount"])
        payment = {
            "currency": query["currency"],
            "total_amount": query["total_amount"],
            "invoice_payload": query["invoice_payload"],
            "telegram_payment_charge_id": charge_id,
            "provider_payment_charge_id": "" if query["currency"] == "XTR" else f"provider-{charge_id}",
        }
        return self._user_message(user, None, {"successful_payment": payment})

    def redelivers(self, message: FakeMessage) -> FakeUpdate:
        """Telegram delivers a message's update again under a new update id (as after a lost confirmation)."""
        return self.queue_update("message", message.data)

    # ------------------------------------------------------------------ groups (staff)
    def group_message(
        self,
        user: FakeUser,
        group: FakeChat,
        text: str,
        reply_to: FakeMessage | None = None,
        thread_id: int | None = None,
    ) -> FakeMessage:
        """A group member writes ``text`` (optionally replying to any message, e.g. the bot's).

        In forum groups a message in a topic carries ``message_thread_id``/``is_topic_message`` and,
        like in Telegram, replies to the topic's creation message when ``reply_to`` is not given.
        Under privacy mode a non-admin bot only receives commands, mentions and replies to itself.
        """
        return self._user_message(user, group, _text_content(text), reply_to=reply_to, thread_id=thread_id)

    def bot_added_to_group(self, by_user: FakeUser, group: FakeChat, *, as_admin: bool = False) -> FakeUpdate:
        """``by_user`` adds the bot: queues ``my_chat_member`` plus a ``new_chat_members`` message.

        Returns the ``my_chat_member`` update (the service message follows it in :attr:`updates`).
        """
        old = group.bot_status
        group.bot_status = "administrator" if as_admin else "member"
        group.members.setdefault(by_user.id, "member")
        update = self._bot_membership(group, by_user, old, group.bot_status)
        service = self.new_message(group, by_user.to_json(), {"new_chat_members": [bot_user_json()]})
        self._visible_message(service)
        return update

    def raw_update(self, data: JSON) -> FakeUpdate:
        """Queue any update as given (an ``update_id`` is assigned), e.g. unknown update kinds."""
        payload = {k: v for k, v in data.items() if k != "update_id"}
        if len(payload) != 1:
            raise ValueError("an update has exactly one field besides update_id")
        ((kind, body),) = payload.items()
        return self.queue_update(kind, body)

    # ------------------------------------------------------------------ internals
    def _fake_bytes(self, kind: str) -> bytes:
        return f"fake-{kind}-bytes-{self.next_id()}".encode()

    def _target_chat(self, user: FakeUser, chat: ChatRef | None) -> FakeChat:
        target = self.chats[user.id] if chat is None else self.chat(chat)
        if target.is_private:
            user.started = True
        elif user.id not in target.members:
            target.members[user.id] = "member"
        return target

    def _user_message(
        self,
        user: FakeUser,
        chat: ChatRef | None,
        content: JSON,
        *,
        reply_to: FakeMessage | None = None,
        thread_id: int | None = None,
        queue: bool = True,
    ) -> FakeMessage:
        target = self._target_chat(user, chat)
        if reply_to is not None and reply_to.chat_id != target.id:
            raise ValueError(f"{reply_to!r} is not in chat {target.id}")
        if thread_id is not None and target.is_forum:
            topic = target.topics.get(thread_id)
            if topic is None or topic.deleted:
                raise ValueError(f"topic {thread_id} does not exist in chat {target.id}")
        message = self.new_message(target, user.to_json(), content, thread_id=thread_id, reply_to=reply_to)
        return self._visible_message(message) if queue else message

    def _user_media(
        self,
        user: FakeUser,
        kind: str,
        chat: ChatRef | None,
        caption: str | None,
        content: bytes | None,
        reply_to: FakeMessage | None,
        thread_id: int | None,
        *,
        queue: bool = True,
        **meta: Any,
    ) -> FakeMessage:
        stored = self.new_file(kind, content if content is not None else self._fake_bytes(kind), **meta)
        body = {kind: self.media_json(stored), **_caption(caption)}
        return self._user_message(user, chat, body, reply_to=reply_to, thread_id=thread_id, queue=queue)

    def _visible_message(self, message: FakeMessage) -> FakeMessage:
        """Queue the ``message`` update if the bot would receive it."""
        chat = self.chats[message.chat_id]
        if self._bot_sees(chat, message.data):
            self.queue_update("message", message.data, message)
        return message

    def _bot_sees(self, chat: FakeChat, data: JSON) -> bool:
        if chat.is_private:
            return True
        if chat.bot_status in ("left", "kicked"):
            return "new_chat_members" in data
        if chat.bot_status in ("administrator", "creator") or not self.privacy_mode:
            return True
        text = data.get("text") or data.get("caption") or ""
        reply = data.get("reply_to_message") or {}
        return (
            text.startswith("/")
            or f"@{BOT_USERNAME}".lower() in text.lower()
            or (reply.get("from") or {}).get("id") == BOT_ID
            or not any(k in data for k in ("text", "caption", "photo", "document", "sticker", "voice", "video"))
        )

    def _bot_membership(self, chat: FakeChat, by: FakeUser | None, old: str, new: str) -> FakeUpdate:
        sender = by.to_json() if by is not None else (chat.user.to_json() if chat.user else bot_user_json())
        return self.queue_update(
            "my_chat_member",
            {
                "chat": chat.to_json(),
                "from": sender,
                "date": self.now(),
                "old_chat_member": self._member_json(chat, BOT_ID, old),
                "new_chat_member": self._member_json(chat, BOT_ID, new),
            },
        )


def _text_content(text: str) -> JSON:
    content: JSON = {"text": text}
    entities = auto_entities(text)
    if entities:
        content["entities"] = entities
    return copy.deepcopy(content)


def _caption(caption: str | None) -> JSON:
    return {"caption": caption} if caption else {}
