"""Showing one queued group where it belongs: in the staff group (unless the assignee's inbox has the ticket and
the group keeps only the overview) or in an agent's inbox, with the ticket's card placed or kept current first."""

from __future__ import annotations

import json
from dataclasses import replace

from telegram import Bot

from bot.context import Services
from bot.tickets.batching import GROUP, Destination, texts_for_card
from bot.tickets.places import GroupPlaces, inbox_place
from bot.tickets.sending import Sender, edit_card, follow_topic
from bot.tickets.views import CardFacts
from storage import ticket_places
from storage.models import Customer, StaffDelivery, Ticket, TicketMessage

OVERVIEW_KINDS = ("copy", "edit", "notice")  # what the group leaves to an assigned ticket's inbox


class Showing:
    def __init__(self, bot: Bot, services: Services, lang: str, group: GroupPlaces) -> None:
        self.bot = bot
        self.services = services
        self.lang = lang
        self.group = group
        self.sender = Sender(bot, services.sessions, lang, services.settings.zone)

    async def show(
        self,
        destination: Destination,
        group_chat_id: int | None,
        group: list[StaffDelivery],
        ticket: Ticket,
        customer: Customer,
        facts: CardFacts,
        messages: dict[int, TicketMessage],
    ) -> list[tuple[list[int], int | None, int | None]]:
        """Send one group where it belongs; (row ids, chat, message id) to mark sent."""
        head = group[0]
        ids = [row.id for row in group if row.id is not None]
        params = json.loads(head.params)
        bot = self.bot
        if destination is GROUP:
            chat_id = group_chat_id
            assert chat_id is not None
            settings = self.services.settings
            if head.kind in OVERVIEW_KINDS and settings.group_copies == "unassigned" and ticket.inbox_chat_id:
                return [(ids, None, None)]  # the assignee's inbox has it; the group keeps the overview
            texts = texts_for_card(GroupPlaces.placed(ticket, chat_id), group, messages)
            place, new_card = await self.group.place(chat_id, ticket, customer, replace(facts, texts=texts))
            if texts:  # the card carried them
                return [(ids, chat_id, place.card_message_id)]
            if head.kind == "card":
                if not new_card:
                    await self.edit_card(chat_id, place.card_message_id, ticket, customer, facts)
                topic = next((p for row in group if (p := json.loads(row.params).get("topic"))), None)
                await follow_topic(bot, ticket, topic)
                return [(ids, None, None)]
        else:
            if head.kind == "card" and params.get("message_id"):  # a card in an inbox the ticket has left
                await self.edit_card(destination, int(params["message_id"]), ticket, customer, facts)
                return [(ids, None, None)]
            if ticket.inbox_chat_id != destination:
                return [(ids, None, None)]  # handed over meanwhile: the new assignee gets the ticket so far
            has_card = ticket.inbox_card_message_id is not None
            texts = texts_for_card(has_card, group, messages)
            place, new_card = await inbox_place(
                bot, self.services.sessions, self.lang, destination, ticket, customer, replace(facts, texts=texts)
            )
            if texts:  # the card carried them
                return [(ids, destination, place.card_message_id)]
            if head.kind == "card":
                if not new_card:
                    await self.edit_card(destination, place.card_message_id, ticket, customer, facts)
                return [(ids, None, None)]
        sent = await self.sender.send(place, ticket, group, messages)
        return [(row_ids, place.chat_id, message_id) for row_ids, message_id in sent]

    async def edit_card(
        self, chat_id: int, message_id: int, ticket: Ticket, customer: Customer, facts: CardFacts
    ) -> None:
        """A card keeps showing the customer's texts it was sent with."""
        async with self.services.sessions() as session:
            texts = await ticket_places.texts_shown_in(session, chat_id=chat_id, message_id=message_id)
        await edit_card(self.bot, chat_id, message_id, ticket, customer, replace(facts, texts=tuple(texts)), self.lang)
