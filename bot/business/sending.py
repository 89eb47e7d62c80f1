"""Re-sending a message's content as it is: what a staff reply becomes in a business chat.

`copyMessage` takes no `business_connection_id`, so a reply to a customer in a business chat is sent again: text
with its formatting, media by `file_id` with its caption. Also used to show staff a customer's business-chat
message, which the bot cannot copy out of the business chat.
"""

from __future__ import annotations

from typing import Any

from telegram import Bot, Message, MessageEntity
from telegram.error import BadRequest

from storage.models import TicketMessage

SENDERS = {
    "photo": "send_photo",
    "animation": "send_animation",
    "video": "send_video",
    "video_note": "send_video_note",
    "voice": "send_voice",
    "audio": "send_audio",
    "document": "send_document",
    "sticker": "send_sticker",
}
WITHOUT_CAPTION = ("sticker", "video_note")


async def resend(bot: Bot, message: Message, **chat: Any) -> Message:
    """`message` sent again to `chat` (keyword arguments: `chat_id`, and `business_connection_id`)."""
    if message.text is not None:
        return await bot.send_message(text=message.text, entities=message.entities, **chat)
    for kind in SENDERS:
        media = getattr(message, kind)
        if media:
            file_id = media[-1].file_id if isinstance(media, tuple) else media.file_id
            return await _send_file(bot, kind, file_id, message.caption, message.caption_entities, **chat)
    if message.location is not None:
        return await bot.send_location(latitude=message.location.latitude, longitude=message.location.longitude, **chat)
    if message.contact is not None:
        contact = message.contact
        return await bot.send_contact(
            phone_number=contact.phone_number, first_name=contact.first_name, last_name=contact.last_name, **chat
        )
    raise BadRequest("this kind of message cannot be sent in a business chat")


async def resend_stored(bot: Bot, message: TicketMessage, caption: str | None = None, **chat: Any) -> Message:
    """A stored ticket message sent again (its text, or its file with `caption` or its own)."""
    if message.kind == "text" or message.file_id is None or message.kind not in SENDERS:
        text = message.text if message.kind == "text" else caption or message.text
        return await bot.send_message(text=text or f"[{message.kind}]", **chat)
    return await _send_file(bot, message.kind, message.file_id, caption or message.text, None, **chat)


async def _send_file(
    bot: Bot,
    kind: str,
    file_id: str,
    caption: str | None,
    caption_entities: tuple[MessageEntity, ...] | None,
    **chat: Any,
) -> Message:
    method = getattr(bot, SENDERS[kind])
    if kind in WITHOUT_CAPTION:
        result: Message = await method(**{kind: file_id}, **chat)
        return result
    result = await method(**{kind: file_id}, caption=caption, caption_entities=caption_entities or None, **chat)
    return result
