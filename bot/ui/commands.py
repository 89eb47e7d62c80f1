"""Every command of the bot in one table: who may use it and the catalog key of its description.

The table drives the command menus Telegram shows (one per scope: customers by default, the staff chat, and each
staff member's private chat) and `/help`, which lists the commands of the asker's role.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from telegram import (
    Bot,
    BotCommand,
    BotCommandScope,
    BotCommandScopeChat,
    BotCommandScopeChatMember,
    BotCommandScopeDefault,
    MenuButtonDefault,
    MenuButtonWebApp,
    WebAppInfo,
)
from telegram.error import TelegramError

from storage.languages import LANGUAGES
from storage.models import Role

log = logging.getLogger(__name__)


class Audience(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    ADMIN = "admin"


@dataclass(frozen=True)
class Command:
    name: str
    audience: Audience

    @property
    def key(self) -> str:
        """The catalog key of its one-line description."""
        return f"staff.cmd.{self.name}"


def _commands(audience: Audience, names: str) -> list[Command]:
    return [Command(name, audience) for name in names.split()]


COMMANDS: tuple[Command, ...] = (
    *_commands(
        Audience.CUSTOMER,
        "start menu profile language tickets privacy mydata forget terms stop_greetings start_greetings"
        " whoami cancel help",
    ),
    *_commands(
        Audience.AGENT,
        "customer find purchase invoice refund purchases note ticket assign take resolve close reopen queue faq stats redeem"
        " away back manager",
    ),
    *_commands(Audience.ADMIN, "staff export import broadcast audit business"),
)
# Customer commands staff have as well (`/language` sets the language of their private chat with the bot): the
# rest of the customer menu is of no use to staff.
STAFF_ALSO = ("language", "whoami", "cancel", "help")


def audience_of(role: Role | None) -> Audience:
    if role is None:
        return Audience.CUSTOMER
    return Audience.ADMIN if role == Role.ADMIN else Audience.AGENT


def commands_for(audience: Audience) -> list[Command]:
    """The commands shown to `audience`: customers see theirs; staff see the staff commands of their role."""
    if audience == Audience.CUSTOMER:
        return [command for command in COMMANDS if command.audience == Audience.CUSTOMER]
    wanted = {Audience.AGENT} | ({Audience.ADMIN} if audience == Audience.ADMIN else set())
    staff = [command for command in COMMANDS if command.audience in wanted]
    return staff + [command for command in COMMANDS if command.name in STAFF_ALSO]


def bot_commands(audience: Audience, language: str) -> list[BotCommand]:
    from bot.ui.i18n import t

    return [BotCommand(command.name, t(language, command.key)[:256]) for command in commands_for(audience)]


# Telegram picks a menu by the user's language code; none means "everyone else".
MENU_LANGUAGES = {"en": "en", "zh": "zh_CN"}


async def set_menu(
    bot: Bot, scope: BotCommandScope, audience: Audience, default_language: str, *, one_language: bool = False
) -> bool:
    """Set the menu of one scope in every language (`one_language`: in `default_language` whatever the reader's
    Telegram language, as in the staff group); False when Telegram refused (e.g. a chat the bot can't see)."""
    try:
        await bot.set_my_commands(bot_commands(audience, default_language), scope=scope)
        for code, language in MENU_LANGUAGES.items():
            shown = default_language if one_language else language
            await bot.set_my_commands(bot_commands(audience, shown), scope=scope, language_code=code)
    except TelegramError as error:
        log.warning("could not set the command menu of a %s scope: %s", scope.type, error.message)
        return False
    return True


async def clear_menu(bot: Bot, chat_id: int) -> None:
    """A former staff member's private chat goes back to the customers' menu (and loses the desk button)."""
    scope = BotCommandScopeChat(chat_id)
    try:
        await bot.delete_my_commands(scope=scope)
        for code in MENU_LANGUAGES:
            await bot.delete_my_commands(scope=scope, language_code=code)
        await bot.set_chat_menu_button(chat_id=chat_id, menu_button=MenuButtonDefault())
    except TelegramError as error:
        log.warning("could not clear a private chat's command menu: %s", error.message)


async def set_desk_button(bot: Bot, chat_id: int, *, desk_url: str, language: str) -> None:
    """A staff member's private chat gets the **Open desk** menu button (when the desk is served)."""
    if not desk_url:
        return
    from bot.ui.i18n import t

    button = MenuButtonWebApp(text=t(language, "webapp.menu.open"), web_app=WebAppInfo(url=desk_url))
    try:
        await bot.set_chat_menu_button(chat_id=chat_id, menu_button=button)
    except TelegramError as error:
        log.warning("could not set the desk button of a private chat: %s", error.message)


async def publish_menus(
    bot: Bot,
    *,
    default_language: str,
    staff_language: str,
    staff_chat_id: int | None,
    staff: Iterable[tuple[int, Role]],
    desk_url: str = "",
) -> None:
    """Customers get the default menu, the staff chat the agents' menu (in the staff language), each staff member's
    private chat their role's (and the desk button, when the desk is served)."""
    assert set(MENU_LANGUAGES.values()) <= set(LANGUAGES)
    await set_menu(bot, BotCommandScopeDefault(), Audience.CUSTOMER, default_language)
    if staff_chat_id is not None:
        await set_menu(bot, BotCommandScopeChat(staff_chat_id), Audience.AGENT, staff_language, one_language=True)
    for telegram_id, role in staff:
        await set_menu(bot, BotCommandScopeChat(telegram_id), audience_of(role), default_language)
        await set_desk_button(bot, telegram_id, desk_url=desk_url, language=staff_language)
        if staff_chat_id is not None and role == Role.ADMIN:
            # Admins see their own commands in the staff chat too.
            scope = BotCommandScopeChatMember(staff_chat_id, telegram_id)
            await set_menu(bot, scope, Audience.ADMIN, staff_language, one_language=True)
