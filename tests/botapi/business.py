"""Telegram Business in the fake: connections, business chats, their updates, and sending as the business.

A business chat is the private chat between a business account and a customer: its id is the customer's user id,
like the customer's chat with the bot, but its messages are another chat's (own message ids). They are kept apart
here (`business_messages`), and a call with ``business_connection_id`` goes into them, within Telegram's rules:
the connection exists and is enabled, the owner let the bot reply, and the customer wrote in the last 24 hours.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any

from tests.botapi.core import api
from tests.botapi.drivers import DriversMixin, _caption, _text_content
from tests.botapi.models import JSON, ApiError, FakeChat, FakeMessage, FakeUpdate, FakeUser, bad_request

Files = dict[str, Any]
REPLY_WINDOW_SECONDS = 24 * 3600


@dataclass
class FakeBusinessConnection:
    id: str
    owner: FakeUser
    enabled: bool = True
    can_reply: bool = True
    date: int = field(default_factory=lambda: int(time.time()))

    def to_json(self) -> JSON:
        rights: JSON = {"can_reply": True} if self.can_reply else {}
        return {
            "id": self.id,
            "user": self.owner.to_json(),
            "user_chat_id": self.owner.id,
            "date": self.date,
            "is_enabled": self.enabled,
            "rights": rights,
        }


@dataclass(eq=False)
class FakeBusinessChat(FakeChat):
    """A customer's chat with a business account, seen through one connection."""

    connection_id: str = ""
    last_customer_message_at: float = 0.0


class BusinessMixin(DriversMixin):
    def __init__(self) -> None:
        super().__init__()
        self.business_connections: dict[str, FakeBusinessConnection] = {}
        self.business_chats: dict[tuple[str, int], FakeBusinessChat] = {}
        self.business_messages: dict[tuple[str, int, int], FakeMessage] = {}

    # ------------------------------------------------------------------ drivers
    def connect_business(self, owner: FakeUser, *, can_reply: bool = True) -> str:
        """The owner connects the bot to their business account: a ``business_connection`` update."""
        connection = FakeBusinessConnection(f"bc-{owner.id}-{self.next_id()}", owner, can_reply=can_reply)
        self.business_connections[connection.id] = connection
        self.queue_update("business_connection", connection.to_json())
        return connection.id

    def change_business(
        self, connection_id: str, *, enabled: bool | None = None, can_reply: bool | None = None
    ) -> None:
        """The owner disables (or re-enables) the connection, or changes the bot's rights."""
        connection = self.business_connections[connection_id]
        if enabled is not None:
            connection.enabled = enabled
        if can_reply is not None:
            connection.can_reply = can_reply
        self.queue_update("business_connection", connection.to_json())

    def business_chat(self, connection_id: str, customer: FakeUser) -> FakeBusinessChat:
        key = (connection_id, customer.id)
        chat = self.business_chats.get(key)
        if chat is None:
            chat = FakeBusinessChat(id=customer.id, type="private", user=customer, connection_id=connection_id)
            self.business_chats[key] = chat
        return chat

    def writes_to_business(
        self, customer: FakeUser, connection_id: str, text: str | None = None, *, photo: bool = False
    ) -> FakeMessage:
        """A customer writes to the business account (``text``, or a photo captioned ``text``)."""
        chat = self.business_chat(connection_id, customer)
        chat.last_customer_message_at = time.time()
        content = self._business_content(text, photo)
        return self._business_message(chat, customer, content)

    def owner_writes(self, connection_id: str, customer: FakeUser, text: str) -> FakeMessage:
        """The business owner answers the customer by hand in the business chat."""
        connection = self.business_connections[connection_id]
        chat = self.business_chat(connection_id, customer)
        return self._business_message(chat, connection.owner, _text_content(text))

    def edits_business_message(self, message: FakeMessage, text: str) -> FakeUpdate:
        key = "text" if "text" in message.data else "caption"
        message.history.append(message.snapshot())
        message.data[key] = text
        message.data["edit_date"] = self.now()
        return self.queue_update("edited_business_message", message.data, message)

    def deletes_business_messages(self, connection_id: str, customer: FakeUser, *messages: FakeMessage) -> FakeUpdate:
        chat = self.business_chat(connection_id, customer)
        for message in messages:
            message.deleted = True
        return self.queue_update(
            "deleted_business_messages",
            {
                "business_connection_id": connection_id,
                "chat": chat.to_json(),
                "message_ids": [message.message_id for message in messages],
            },
        )

    def age_business_chat(self, connection_id: str, customer: FakeUser, *, hours: float) -> None:
        """Move the customer's last message in the business chat ``hours`` into the past."""
        self.business_chat(connection_id, customer).last_customer_message_at -= hours * 3600

    def sent_in_business(self, connection_id: str, customer: FakeUser) -> list[FakeMessage]:
        """What the bot sent as the business in this business chat, oldest first."""
        return [
            message
            for (conn, chat_id, _), message in sorted(self.business_messages.items())
            if conn == connection_id and chat_id == customer.id and message.from_bot
        ]

    # ------------------------------------------------------------------ methods
    @api("getBusinessConnection")
    def get_business_connection(self, p: JSON, f: Files) -> JSON:
        connection = self.business_connections.get(str(p.get("business_connection_id", "")))
        if connection is None:
            raise bad_request("BUSINESS_CONNECTION_INVALID")
        return connection.to_json()

    def _writable_chat(self, p: JSON) -> FakeChat:
        connection_id = p.get("business_connection_id")
        if not connection_id:
            return super()._writable_chat(p)
        connection = self.business_connections.get(str(connection_id))
        if connection is None or not connection.enabled:
            raise bad_request("BUSINESS_CONNECTION_INVALID")
        if not connection.can_reply:
            raise ApiError(403, "Forbidden: BOT_BUSINESS_MISSING")
        user = self.users.get(int(p.get("chat_id") or 0))
        chat = self.business_chats.get((connection.id, user.id)) if user is not None else None
        if chat is None or time.time() - chat.last_customer_message_at >= REPLY_WINDOW_SECONDS:
            raise ApiError(403, "Forbidden: BUSINESS_PEER_USAGE_MISSING")
        return chat

    def new_message(self, chat: FakeChat, sender: JSON | None, content: JSON, **kwargs: Any) -> FakeMessage:
        if not isinstance(chat, FakeBusinessChat):
            return super().new_message(chat, sender, content, **kwargs)
        kwargs.pop("reply_to", None)  # replies in business chats are not modelled
        key = (chat.id, chat.last_message_id + 1)
        shadowed = self.messages.get(key)
        message = super().new_message(chat, sender, content, **kwargs)
        if shadowed is not None:
            self.messages[key] = shadowed
        else:
            del self.messages[key]
        message.data["business_connection_id"] = chat.connection_id
        self.business_messages[(chat.connection_id, chat.id, message.message_id)] = message
        return message

    def _editable(self, p: JSON) -> FakeMessage:
        if not p.get("business_connection_id"):
            return super()._editable(p)
        chat = self._writable_chat(p)
        message = self.business_messages.get((str(p["business_connection_id"]), chat.id, int(p.get("message_id") or 0)))
        if message is None or message.deleted:
            raise bad_request("message to edit not found")
        if not message.from_bot:
            raise bad_request("message can't be edited")
        return message

    # ------------------------------------------------------------------ internals
    def _business_content(self, text: str | None, photo: bool) -> JSON:
        if not photo:
            return _text_content(text or "")
        return {"photo": self.new_photo(self._fake_bytes("photo")), **_caption(text)}

    def _business_message(self, chat: FakeBusinessChat, sender: FakeUser, content: JSON) -> FakeMessage:
        message = self.new_message(chat, sender.to_json(), copy.deepcopy(content))
        self.queue_update("business_message", message.data, message)
        return message
