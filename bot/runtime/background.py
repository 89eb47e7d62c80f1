"""Tasks that run beside update handling (the staff-chat relay, …): registered by their modules, started after the
Application and stopped before it."""

from __future__ import annotations

from typing import Protocol

from bot.context import CarebotApp

BACKGROUND_KEY = "background"


class Background(Protocol):
    """A task that runs beside update handling (e.g. the staff-chat relay), started after the Application."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def settled(self) -> None:
        """Return once everything that can be done now is done (tests wait on it)."""


def add_background(app: CarebotApp, service: Background) -> None:
    app.bot_data.setdefault(BACKGROUND_KEY, []).append(service)


def background_of(app: CarebotApp) -> list[Background]:
    return list(app.bot_data.get(BACKGROUND_KEY, []))


async def start_background(app: CarebotApp) -> None:
    for service in background_of(app):
        await service.start()


async def stop_background(app: CarebotApp) -> None:
    for service in reversed(background_of(app)):
        await service.stop()
