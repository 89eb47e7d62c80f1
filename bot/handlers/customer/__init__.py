"""The customer's side: handlers for a customer's private chat with the bot.

Every command here is registered with `CUSTOMER_CHAT`, the one filter that says where customers talk to Carebot.
Their chats with a business account that connected the bot are private chats too, but are left to bot/business.
"""

from telegram.ext import filters

CUSTOMER_CHAT = filters.ChatType.PRIVATE & ~filters.UpdateType.BUSINESS_MESSAGES
