"""Telegram Business: the connections business accounts make to the bot, and the business chats they bring.

`connections` stores every connection and shows them to admins (`/business`); `chats` takes the business chats'
updates before any other handler: a customer's message goes the way of any customer message (bot/tickets), the
owner's own answers are recorded as staff replies. Whatever is sent into a business chat goes through
`bot.tickets.filing.to_customer`, which knows when a connection may answer there.
"""
