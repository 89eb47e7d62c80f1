"""What every handler can reach: the settings and the database, through `context.services`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from telegram.ext import Application, CallbackContext, ExtBot

from bot.settings import Settings
from storage.db import SessionFactory
from storage.segments import VipThresholds


@dataclass(frozen=True)
class Services:
    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory

    @property
    def vip(self) -> VipThresholds:
        return VipThresholds(min_total=self.settings.vip_min_total, min_purchases=self.settings.vip_min_purchases)


class Context(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    @property
    def services(self) -> Services:
        services: Services = self.application.bot_data["services"]
        return services


CarebotApp = Application[ExtBot[None], Context, dict[Any, Any], dict[Any, Any], dict[Any, Any], Any]
