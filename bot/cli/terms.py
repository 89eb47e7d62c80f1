"""`carebot terms`: publish the customer agreement (one language of a version per call) and list the versions."""

from __future__ import annotations

import asyncio
import html
import re
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from bot.settings import Settings, load_settings_or_exit

if TYPE_CHECKING:
    from storage.agreements import PublishResult

terms_app = typer.Typer(help="The customer agreement: publish versions, list them.", no_args_is_help=True)


def _plain(text: str) -> str:
    """A catalog text for the terminal: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", text))


@terms_app.command("publish")
def publish(
    file: Path = typer.Argument(..., help="The agreement text, Markdown, UTF-8.", dir_okay=False),
    lang: str = typer.Option(..., "--lang", help="The language of FILE: zh_CN or en."),
    version: int = typer.Option(..., "--version", help="The version number (higher than the one in force)."),
    supplement_to: int | None = typer.Option(
        None, "--supplement-to", help="Publish a supplement to this version (the agreement in force)."
    ),
    summary: str | None = typer.Option(None, "--summary", help="The short summary shown with I agree."),
) -> None:
    """Publish one language of a version. Once every language (zh_CN and en) of a version is published it comes
    into force, and customers whose agreement is in force are asked to accept it."""
    from storage.languages import normalise_language

    settings = load_settings_or_exit()
    try:
        language = normalise_language(lang)
        text = file.read_bytes().decode("utf-8-sig")
    except ValueError as exc:  # an unknown language, or a file that is not UTF-8
        typer.echo(f"carebot: {exc}", err=True)
        raise typer.Exit(2) from None
    except OSError as exc:
        typer.echo(f"carebot: cannot read {file}: {exc.strerror}", err=True)
        raise typer.Exit(2) from None
    from bot.ui.agreement_view import publish_report
    from bot.ui.i18n import t
    from storage.agreements import AgreementError

    try:
        result = asyncio.run(_publish(settings, version, language, text, summary, supplement_to))
    except AgreementError as error:
        typer.echo("carebot: " + _plain(t("en", f"terms.publish.error.{error.code}", **error.params)), err=True)
        raise typer.Exit(1) from None
    typer.echo(_plain(publish_report("en", result)))


async def _publish(
    settings: Settings, version: int, language: str, text: str, summary: str | None, supplement_to: int | None
) -> PublishResult:
    from bot.cli.database import opened
    from storage import agreements
    from storage.db import transaction
    from storage.staff import audit

    async with opened(settings) as services, transaction(services.sessions) as session:
        result = await agreements.publish(
            session, version=version, language=language, text=text, summary=summary, supplement_to=supplement_to
        )
        await audit(session, actor_telegram_id=None, action="terms.publish", detail=f"v{version} {language} (cli)")
        return result


@terms_app.command("list")
def list_versions() -> None:
    """The versions published: kind, languages, since when in force, and how many acceptances each has."""
    settings = load_settings_or_exit()
    for line in asyncio.run(_list(settings)):
        typer.echo(line)


async def _list(settings: Settings) -> list[str]:
    from bot.cli.database import opened
    from storage.agreements import version_listing

    async with opened(settings) as services, services.sessions() as session:
        listing = await version_listing(session)
    lines = []
    for entry in listing:
        row = entry.version
        kind = f"supplement to {row.supplements_version}" if row.is_supplement else "version"
        since = row.published_at.isoformat(timespec="minutes") if row.published_at else "draft"
        lines.append(f"{row.version}\t{kind}\t{','.join(entry.languages)}\t{since}\t{entry.accepted} accepted")
    return lines or ["no agreement published"]
