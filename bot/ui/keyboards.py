"""Inline keyboards. Callback data is `<concern>:<action>[:<arg>]`, never over Telegram's 64 bytes; the handlers read
it with the patterns in `bot/ui/callback_data.py`."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.ui.i18n import t

LANGUAGE_NAMES = {"zh_CN": "简体中文", "en": "English"}


def button(text: str, data: str) -> InlineKeyboardButton:
    assert len(data.encode()) <= 64, data
    return InlineKeyboardButton(text, callback_data=data)


def language_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[button(name, f"lang:{code}") for code, name in LANGUAGE_NAMES.items()]])


def profile_keyboard(language: str) -> InlineKeyboardMarkup:
    fields = ("birthday", "phone", "email", "timezone")
    rows = [[button(t(language, f"profile.button.{name}"), f"profile:{name}")] for name in fields]
    rows.append([button(t(language, "profile.button.done"), "profile:done")])
    return InlineKeyboardMarkup(rows)


MENU_ITEMS = ("presale", "order", "aftersale", "tickets", "profile", "language")


def main_menu(language: str) -> InlineKeyboardMarkup:
    """The customer's menu: three ways to ask for help, then their tickets, profile and language."""
    buttons = [button(t(language, f"menu.{item}"), f"menu:{item}") for item in MENU_ITEMS]
    return InlineKeyboardMarkup([buttons[0:1], buttons[1:2], buttons[2:3], buttons[3:5], buttons[5:6]])
